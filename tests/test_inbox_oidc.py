"""The inbox's sign-in with an OpenID Connect provider (authorization code with PKCE) against a real
`signoff serve` and a provider on 127.0.0.1: in headless Chromium end to end, then every way it must refuse
(a state it did not start, a code used twice, a nonce from another sign-in, a token for another client, a
cancelled sign-in, an agent)."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from oidc_provider import CLIENT_ID, Provider
from server_helpers import BIG_REFUND, POLICY, TEAM, Server, call, form_call, identities


@pytest.fixture(scope="module")
def idp():
    p = Provider()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def dep(tmp_path_factory, idp):
    d = tmp_path_factory.mktemp("oidc")
    keys = identities(d / "s.db", TEAM)
    (d / "jwks.json").write_text(json.dumps(idp.jwks()))
    (d / "signoff.toml").write_text(f"""
[oidc]
issuer = "{idp.url}"
audience = "signoff-api"
jwks_file = "{d / 'jwks.json'}"
roles_claim = "groups"
tenant_claim = "org"
client_id = "{CLIENT_ID}"
""")
    srv = Server(POLICY, d / "s.db", config=d / "signoff.toml")
    yield {"url": srv.url, "keys": keys, "srv": srv}
    srv.stop()


@pytest.fixture(autouse=True)
def _reset(idp):
    idp.user = {"sub": "olga", "groups": ["finance_manager"], "org": "acme"}
    idp.tamper = {}
    yield


def test_sign_in_with_the_provider_in_a_browser_then_approve(browser, dep, idp):
    p = call("POST", dep["url"] + "/v1/proposals", dep["keys"]["bot"], BIG_REFUND).json
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(dep["url"] + "/inbox/")
    page.click("#sign-in-oidc")
    page.wait_for_url(dep["url"] + "/inbox/")
    assert page.locator("header .me strong").inner_text() == "olga"
    assert p["id"] in page.content()
    page.goto(f"{dep['url']}/inbox/drafts/{p['id']}")
    page.click("#approve button[type=submit], form[action$='/approve'] button")
    d = call("GET", f"{dep['url']}/v1/drafts/{p['id']}", dep["keys"]["audrey"]).json
    assert [a["approver"] for a in d["approvals"]] == ["olga"]
    cookies = {c["name"]: c for c in ctx.cookies()}
    s = cookies["signoff_session"]
    assert s["httpOnly"] and s["sameSite"] == "Strict" and "signoff_oidc" not in cookies
    ctx.close()


def _get(url, cookies=None):
    return form_call("GET", url, None, cookies)


def _begin(dep):
    """Start a sign-in: (the provider's authorize URL, the flow cookie)."""
    status, to, _, jar = _get(dep["url"] + "/inbox/oidc/start")
    assert status == 303 and "signoff_oidc" in jar
    q = parse_qs(urlsplit(to).query)
    assert q["code_challenge_method"] == ["S256"] and q["client_id"] == [CLIENT_ID]
    assert q["redirect_uri"] == [dep["url"] + "/inbox/oidc/callback"]
    return to, {"signoff_oidc": jar["signoff_oidc"]}


def _at_provider(to):
    """What the provider sends back: the callback URL."""
    status, back, _, _ = _get(to)
    assert status == 302, back
    return back


def test_the_flow_without_a_browser_and_a_code_used_twice(dep, idp):
    to, flow = _begin(dep)
    back = _at_provider(to)
    status, _, body, jar = _get(back, flow)
    assert status == 200 and "signed in as <strong>olga</strong>" in body and "signoff_session" in jar
    assert 'http-equiv="refresh"' in body
    status, _, page, _ = _get(dep["url"] + "/inbox/", {"signoff_session": jar["signoff_session"]})
    assert 'name="token"' not in page and "olga" in page
    # the same callback again (a code replayed): the provider refuses it, no session
    status, _, body, jar = _get(back, flow)
    assert status == 502 and "invalid_grant" in body and "signoff_session" not in jar


def test_a_callback_this_browser_did_not_start_is_refused(dep, idp):
    to, flow = _begin(dep)
    back = _at_provider(to)
    before = idp.token_requests
    status, _, body, jar = _get(back)                                  # no flow cookie: login CSRF
    assert status == 403 and "signoff_session" not in jar
    other, other_flow = _begin(dep)
    status, _, body, jar = _get(back, other_flow)                      # another sign-in's cookie
    assert status == 403 and "signoff_session" not in jar
    assert idp.token_requests == before                                # the code was never traded


def test_an_id_token_with_another_nonce_or_audience_is_refused(dep, idp):
    for tamper in ({"nonce": "from-another-sign-in"}, {"aud": "someone-else"}, {"iss": "http://evil.test"}):
        idp.tamper = tamper
        to, flow = _begin(dep)
        status, _, body, jar = _get(_at_provider(to), flow)
        assert status == 401 and "not valid" in body and "signoff_session" not in jar, tamper


def test_a_cancelled_sign_in_and_an_agent_are_refused(dep, idp):
    idp.user = None
    to, flow = _begin(dep)
    status, _, body, jar = _get(_at_provider(to), flow)
    assert status == 401 and "access_denied" in body and "signoff_session" not in jar
    idp.user = {"sub": "jet", "groups": ["agent"], "org": "acme", "signoff_kind": "agent"}
    to, flow = _begin(dep)
    status, _, body, jar = _get(_at_provider(to), flow)
    assert status == 403 and "agents cannot sign in" in body and "signoff_session" not in jar


def test_markup_from_the_provider_is_inert(dep, idp):
    idp.user = None
    to, flow = _begin(dep)
    back = _at_provider(to).replace("access_denied", "<script>alert(1)</script>")
    status, _, body, _ = _get(back.replace("<", "%3C").replace(">", "%3E"), flow)
    assert status == 401 and "<script>alert" not in body and "&lt;script&gt;" in body


def test_the_login_page_offers_the_provider(dep):
    status, _, body, _ = _get(dep["url"] + "/inbox/")
    assert status == 200 and 'id="sign-in-oidc"' in body and 'id="token"' in body   # API keys still work
