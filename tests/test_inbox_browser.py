"""The web inbox in headless Chromium (Playwright) against a real `signoff serve`: sign-in, approve, a quorum of
two people, edit then approve, reject, another tenant's draft invisible, a forged form refused, script and
markup in arguments inert. Set SIGNOFF_BROWSER_TESTS=1 to make a missing browser a failure (CI does)."""
from __future__ import annotations


import pytest

from server_helpers import BIG_REFUND, POLICY, SMALL_REFUND, TEAM, Server, call, identities

@pytest.fixture(scope="module")
def dep(tmp_path_factory):
    d = tmp_path_factory.mktemp("inbox")
    keys = identities(d / "s.db", TEAM)
    srv = Server(POLICY, d / "s.db")
    yield {"url": srv.url, "keys": keys, "srv": srv}
    srv.stop()


def propose(dep, action):
    r = call("POST", dep["url"] + "/v1/proposals", dep["keys"]["bot"], action)
    assert r.status == 201, r
    return r.json


def state(dep, draft):
    return call("GET", f"{dep['url']}/v1/drafts/{draft}", dep["keys"]["audrey"]).json["state"]


def sign_in(browser, dep, who):
    ctx = browser.new_context()
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(dep["url"] + "/inbox/")
    page.fill("#token", dep["keys"][who])
    page.click("#sign-in")
    assert page.locator("header .me strong").inner_text() == who
    page.errors = errors
    return ctx, page


def test_sign_in_sets_a_strict_session_and_a_csp(browser, dep):
    ctx = browser.new_context()
    page = ctx.new_page()
    resp = page.goto(dep["url"] + "/inbox/")
    csp = resp.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "unsafe-inline" not in csp
    page.fill("#token", "sk_not_a_key")
    page.click("#sign-in")
    assert "not valid" in page.locator(".problem").inner_text()
    page.fill("#token", dep["keys"]["bot"])            # agents have no inbox
    page.click("#sign-in")
    assert "agents cannot sign in" in page.locator(".problem").inner_text()
    page.fill("#token", dep["keys"]["fiona"])
    page.click("#sign-in")
    cookie = next(c for c in ctx.cookies() if c["name"] == "signoff_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/inbox"
    assert dep["keys"]["fiona"] not in cookie["value"]
    assert page.locator("header .me strong").inner_text() == "fiona"
    page.click("text=sign out")
    assert page.locator("#token").count() == 1
    ctx.close()


def test_approve(browser, dep):
    p = propose(dep, SMALL_REFUND)                       # team_review, quorum 1
    ctx, page = sign_in(browser, dep, "tara")
    page.click(f"a.draft-link:text('{p['id']}')")
    assert page.locator("#state").inner_text() == "drafted"
    assert page.locator("#confidence").inner_text() == "0.5"
    assert "team_review" in page.locator("#reasons").inner_text() and "support.policy:" in page.locator(
        "#reasons").inner_text()
    assert "require approval via team_review" in page.locator("#reasons").inner_text()
    assert "check refund_budget" in page.locator("#budgets").inner_text()
    assert "risk medium" in page.locator("#trace").inner_text()
    page.fill("#approve-comment", "fine")
    page.click("#approve")
    assert page.locator("#notice").inner_text() == "approved"
    assert page.locator("#state").inner_text() == "approved" and state(dep, p["id"]) == "approved"
    assert "fine" in page.locator("#history").inner_text()
    assert page.errors == []
    ctx.close()


def test_quorum_of_two_people(browser, dep):
    p = propose(dep, BIG_REFUND)                         # finance_review, quorum 2
    c1, fiona = sign_in(browser, dep, "fiona")
    c2, carl = sign_in(browser, dep, "carl")
    fiona.goto(f"{dep['url']}/inbox/drafts/{p['id']}")
    fiona.click("#approve")
    assert fiona.locator("#state").inner_text() == "drafted"
    assert "1 of 2" in fiona.locator("#routes").inner_text()
    carl.goto(f"{dep['url']}/inbox/drafts/{p['id']}")
    carl.click("#approve")
    assert carl.locator("#state").inner_text() == "approved"
    assert "2 of 2 — carl, fiona" in carl.locator("#routes").inner_text()
    assert state(dep, p["id"]) == "approved"
    c1.close()
    c2.close()


def test_edit_then_approve_and_a_stale_page(browser, dep):
    p = propose(dep, SMALL_REFUND)
    ctx, page = sign_in(browser, dep, "tara")
    page.goto(f"{dep['url']}/inbox/drafts/{p['id']}")
    stale = ctx.new_page()
    stale.goto(f"{dep['url']}/inbox/drafts/{p['id']}")
    page.fill("input[data-arg='amount']", "80")
    page.click("#edit")
    assert page.locator("#notice").inner_text() == "edited and decided again: require_approval (category medium)"
    assert "80" in page.locator("#args").inner_text()
    assert page.locator("#hash").inner_text() != p["hash"]
    stale.click("#approve")                              # the page showed the old arguments: refused
    assert "changed since it was viewed" in stale.locator("#problem").inner_text()
    assert state(dep, p["id"]) == "drafted"
    page.click("#approve")
    assert page.locator("#state").inner_text() == "approved"
    d = call("GET", f"{dep['url']}/v1/drafts/{p['id']}", dep["keys"]["bot"]).json
    assert d["args"]["amount"] == 80 and d["state"] == "approved"
    ctx.close()


def test_reject_with_a_comment(browser, dep):
    p = propose(dep, BIG_REFUND)
    ctx, page = sign_in(browser, dep, "carl")
    page.goto(f"{dep['url']}/inbox/drafts/{p['id']}")
    page.fill("#reject-comment", "customer already refunded")
    page.click("#reject")
    assert page.locator("#state").inner_text() == "rejected" and state(dep, p["id"]) == "rejected"
    assert "customer already refunded" in page.locator("#history").inner_text()
    ctx.close()


def test_another_tenants_draft_is_invisible(browser, dep):
    p = propose(dep, BIG_REFUND)
    ctx, page = sign_in(browser, dep, "eve")
    assert p["id"] not in page.content()
    resp = page.goto(f"{dep['url']}/inbox/drafts/{p['id']}")
    assert resp.status == 404 and "no draft" in page.locator("#problem").inner_text()
    r = ctx.request.post(f"{dep['url']}/inbox/drafts/{p['id']}/approve", form={"hash": p["hash"], "csrf": "x"})
    assert r.status in (403, 404)
    assert state(dep, p["id"]) == "drafted"
    ctx.close()


def test_a_forged_form_without_the_csrf_token_is_refused(browser, dep):
    p = propose(dep, SMALL_REFUND)
    ctx, page = sign_in(browser, dep, "tara")
    page.goto(f"{dep['url']}/inbox/drafts/{p['id']}")
    for form in ({"hash": p["hash"]}, {"hash": p["hash"], "csrf": "forged"}):
        r = ctx.request.post(f"{dep['url']}/inbox/drafts/{p['id']}/approve", form=form)   # the session cookie goes
        assert r.status == 403 and "csrf" in r.text()
    assert state(dep, p["id"]) == "drafted"
    r = ctx.request.post(f"{dep['url']}/inbox/login", form={"token": dep["keys"]["tara"]})
    assert r.status == 403
    ctx.close()


def test_script_and_markup_in_arguments_are_inert(browser, dep):
    evil = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"><b id="bold">b</b>'
    action = dict(BIG_REFUND, args=dict(BIG_REFUND["args"], invoice_id=evil, customer_id='"><i id="it">x</i>'))
    p = propose(dep, action)
    ctx, page = sign_in(browser, dep, "fiona")
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    assert page.locator("#bold").count() == 0 and page.locator("#it").count() == 0     # in the list
    page.goto(f"{dep['url']}/inbox/drafts/{p['id']}")
    assert evil in page.locator("#args").inner_text()
    assert page.locator("#bold").count() == 0 and page.locator("#it").count() == 0
    assert page.locator("main script").count() == 0 and page.locator("main img").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    assert page.input_value("input[data-arg='invoice_id']") == evil        # in the edit form, as text
    assert not [u for u in requests if u.endswith("/x")]
    assert page.errors == []
    ctx.close()
