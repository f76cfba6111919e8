"""`signoff serve`'s HTTP API (../shared/spec/HTTP.md) against a real uvicorn on 127.0.0.1: the flow, auth,
identities, tenancy on every endpoint, errors as problem+json, reload, long-poll, leases, OIDC, ops."""
from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from engine.service.app import ROUTES

from server_helpers import BIG_REFUND, POLICY, ROOT, SMALL_REFUND, TEAM, Server, call, identities, wait_for

ISSUER, AUDIENCE = "https://id.example.test", "signoff-test"


def _jwk(key, kid):
    d = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return dict(d, kid=kid, use="sig", alg="RS256")


@pytest.fixture(scope="module")
def dep(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve")
    shutil.copytree(POLICY.parent, d / "support-ops")
    policy = d / "support-ops" / "support.policy"
    keys = identities(d / "s.db", TEAM)
    signer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (d / "jwks.json").write_text(json.dumps({"keys": [_jwk(signer, "k1")]}))
    (d / "signoff.toml").write_text(f"""
[server]
lease_seconds = 2
worker_interval = 0.3

[oidc]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
jwks_file = "{d / 'jwks.json'}"
roles_claim = "groups"
tenant_claim = "org"
""")
    srv = Server(policy, d / "s.db", config=d / "signoff.toml")
    yield {"dir": d, "policy": policy, "keys": keys, "srv": srv, "url": srv.url, "signer": signer}
    srv.stop()


def propose(dep, action=BIG_REFUND, who="bot", headers=None):
    r = call("POST", dep["url"] + "/v1/proposals", dep["keys"][who], action, headers=headers)
    assert r.status in (200, 201), r
    return r.json


def act(dep, who, draft, verb, body):
    return call("POST", f"{dep['url']}/v1/drafts/{draft}/{verb}", dep["keys"][who], body)


def is_problem(r, status, code):
    assert r.status == status, r
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    assert set(r.json) >= {"type", "title", "status", "detail", "code"} and r.json["code"] == code, r.json
    assert r.json["status"] == status and not r.json["detail"].endswith(".")
    assert "Traceback" not in r.text and "Error:" not in r.json["detail"]


# ---------------------------------------------------------------- the flow

def test_propose_approve_as_two_people_claim_and_complete(dep):
    p = propose(dep)
    assert p["state"] == "drafted" and p["decision"]["outcome"] == "require_approval" and p["hash"].startswith("sha256:")
    listed = call("GET", dep["url"] + "/v1/drafts", dep["keys"]["fiona"]).json["drafts"]
    assert p["id"] in [d["id"] for d in listed]
    assert set(listed[0]) == {"id", "state", "tool", "hash", "decision", "proposed_at"}
    assert p["id"] not in [d["id"] for d in call("GET", dep["url"] + "/v1/drafts", dep["keys"]["tara"]).json["drafts"]]
    one = act(dep, "fiona", p["id"], "approve", {"hash": p["hash"], "comment": "ok by me"})
    assert one.status == 200 and one.json["state"] == "drafted"          # quorum 2: one is not enough
    again = act(dep, "fiona", p["id"], "approve", {"hash": p["hash"]})
    assert again.json["state"] == "drafted"                               # the same person twice is one
    assert call("POST", f"{dep['url']}/v1/drafts/{p['id']}/claim", dep["keys"]["bot"]).status == 409
    two = act(dep, "carl", p["id"], "approve", {"hash": p["hash"]})
    assert two.json["state"] == "approved"
    assert sorted(a["approver"] for a in two.json["approvals"]) == ["carl", "fiona"]
    c = call("POST", f"{dep['url']}/v1/drafts/{p['id']}/claim", dep["keys"]["bot"])
    assert c.status == 200 and c.json["args"] == BIG_REFUND["args"] and c.json["lease"] and c.json["idempotency_key"]
    is_problem(call("POST", f"{dep['url']}/v1/drafts/{p['id']}/claim", dep["keys"]["bot"]), 409, "state_conflict")
    is_problem(act(dep, "bot", p["id"], "complete", {"lease": "lease_1_forged", "ok": True}), 409, "lease_conflict")
    done = act(dep, "bot", p["id"], "complete", {"lease": c.json["lease"], "ok": True, "result": {"refund": "r_1"}})
    assert done.status == 200 and done.json["state"] == "executed" and done.json["result"] == {"refund": "r_1"}
    actors = [(e["kind"], e["actor"]) for e in done.json["events"]]
    assert ("approved", "fiona") in actors and ("approved", "carl") in actors and ("proposed", "bot") in actors
    v = call("GET", dep["url"] + "/v1/audit/verify", dep["keys"]["audrey"])
    assert v.status == 200 and v.json["ok"] is True and v.json["records"] > 0 and len(v.json["head"]) == 64


def test_allowed_now_is_approved_and_decide_stores_nothing(dep):
    small = dict(SMALL_REFUND, confidence=0.99)
    before = call("GET", dep["url"] + "/v1/audit/verify", dep["keys"]["audrey"]).json["records"]
    d = call("POST", dep["url"] + "/v1/decide", dep["keys"]["bot"], small)
    assert d.status == 200 and d.json["outcome"] == "allow" and d.json["policy"]["name"] == "support-ops"
    assert call("GET", dep["url"] + "/v1/audit/verify", dep["keys"]["audrey"]).json["records"] == before
    assert propose(dep, small)["state"] == "approved"
    denied = propose(dep, dict(BIG_REFUND, args=dict(BIG_REFUND["args"], amount=900)))
    assert denied["state"] == "denied"


def test_edit_is_decided_again_then_approved(dep):
    p = propose(dep, SMALL_REFUND)                       # medium, low confidence: team_review
    assert p["state"] == "drafted"
    e = act(dep, "tara", p["id"], "edit", {"hash": p["hash"], "patch": [{"op": "replace", "path": "/amount",
                                                                           "value": 80}], "comment": "less"})
    assert e.status == 200 and e.json["args"]["amount"] == 80 and e.json["hash"] != p["hash"]
    is_problem(act(dep, "tara", p["id"], "approve", {"hash": p["hash"]}), 409, "hash_conflict")   # a stale page
    bigger = act(dep, "tara", p["id"], "edit", {"hash": e.json["hash"], "patch": {"amount": 300}})
    assert bigger.json["decision"]["category"] == "high"                 # the re-decision is shown
    assert "finance_review" in [r["name"] for r in bigger.json["routes"]]
    ok = act(dep, "tara", p["id"], "approve", {"hash": bigger.json["hash"]})
    assert ok.json["state"] == "drafted"                # now finance_review's two approvers are needed as well


def test_reject_with_a_comment(dep):
    p = propose(dep)
    r = act(dep, "carl", p["id"], "reject", {"hash": p["hash"], "comment": "not this customer"})
    assert r.status == 200 and r.json["state"] == "rejected"
    assert any(e["kind"] == "rejected" and e["actor"] == "carl" and e["payload"]["reason"] == "not this customer"
               for e in r.json["events"])
    is_problem(act(dep, "fiona", p["id"], "approve", {"hash": p["hash"]}), 409, "state_conflict")


# ---------------------------------------------------------------- who may do what

def test_nothing_an_agent_sends_names_another_actor(dep):
    is_problem(call("POST", dep["url"] + "/v1/proposals", dep["keys"]["bot"],
                    dict(BIG_REFUND, agent={"id": "bot2"})), 403, "forbidden")
    is_problem(call("POST", dep["url"] + "/v1/proposals", dep["keys"]["bot"],
                    dict(BIG_REFUND, tenant={"id": "globex", "plan": "business"})), 403, "forbidden")
    p = propose(dep, dict(BIG_REFUND, agent={"id": "BOT"}))              # the caller, written otherwise
    d = call("GET", f"{dep['url']}/v1/drafts/{p['id']}", dep["keys"]["fiona"]).json
    assert d["proposer"] == "bot" and d["tenant"] == "acme"
    is_problem(act(dep, "fiona", p["id"], "approve", {"hash": p["hash"], "by": "carl"}), 422, "invalid_body")
    is_problem(act(dep, "bot", p["id"], "approve", {"hash": p["hash"]}), 403, "forbidden")        # an agent
    is_problem(act(dep, "tara", p["id"], "approve", {"hash": p["hash"]}), 403, "forbidden")       # no route role
    is_problem(call("POST", dep["url"] + "/v1/decide", dep["keys"]["fiona"], BIG_REFUND), 403, "forbidden")
    is_problem(call("GET", dep["url"] + "/v1/audit/verify", dep["keys"]["fiona"]), 403, "forbidden")
    is_problem(call("POST", f"{dep['url']}/v1/drafts/{p['id']}/claim", dep["keys"]["bot2"]), 404, "not_found")
    assert call("GET", f"{dep['url']}/v1/drafts/{p['id']}", dep["keys"]["bot2"]).status == 404


def test_idempotency_key_is_the_agents_own(dep):
    h = {"Idempotency-Key": "order-77"}
    a = call("POST", dep["url"] + "/v1/proposals", dep["keys"]["bot"], BIG_REFUND, headers=h)
    b = call("POST", dep["url"] + "/v1/proposals", dep["keys"]["bot"], BIG_REFUND, headers=h)
    assert a.status == 201 and b.status == 200 and a.json["id"] == b.json["id"]
    other = call("POST", dep["url"] + "/v1/proposals", dep["keys"]["bot2"], BIG_REFUND, headers=h)
    assert other.status == 201 and other.json["id"] != a.json["id"]
    is_problem(call("POST", dep["url"] + "/v1/proposals", dep["keys"]["bot"], SMALL_REFUND, headers=h),
               409, "idempotency_conflict")


def test_credentials(dep):
    url = dep["url"] + "/v1/drafts"
    r = call("GET", url)
    is_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"].startswith("Bearer")
    is_problem(call("GET", url, "sk_" + "A" * 43), 401, "unauthorized")
    is_problem(call("GET", url, headers={"Authorization": "Basic Zm9vOmJhcg=="}), 401, "unauthorized")
    store = str(dep["dir"] / "s.db")
    env = {"PYTHONPATH": str(ROOT)}
    run = lambda *a: subprocess.run([sys.executable, "-m", "cli", "identities", *a, "--store", store],  # noqa: E731
                                    capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=120)
    added = run("add", "rita", "--role", "finance_manager", "--tenant", "acme")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip().splitlines()[-1]
    assert key.startswith("sk_") and len(key) == 46
    raw = Path(store).read_bytes() + (Path(store + "-wal").read_bytes() if Path(store + "-wal").exists() else b"")
    assert key.encode() not in raw                                    # only its hash is kept
    assert call("GET", url, key).status == 200
    rotated = run("rotate", "rita")
    new = rotated.stdout.strip().splitlines()[-1]
    assert rotated.returncode == 0 and new != key and new.startswith("sk_")
    assert wait_for(lambda: call("GET", url, key).status == 401, 5)
    assert call("GET", url, new).status == 200
    listed = run("list")
    assert "rita\thuman\troles=finance_manager\ttenant=acme\tkeys=1" in listed.stdout
    assert run("revoke", "rita").returncode == 0
    assert wait_for(lambda: call("GET", url, new).status == 401, 5)
    assert "revoked" in run("list").stdout
    assert run("revoke", "nobody").returncode == 1


# ---------------------------------------------------------------- tenancy, on every endpoint

def test_another_tenant_reaches_nothing_on_any_endpoint(dep):
    p = propose(dep)
    act(dep, "fiona", p["id"], "approve", {"hash": p["hash"]})
    act(dep, "carl", p["id"], "approve", {"hash": p["hash"]})
    u, d = dep["url"], p["id"]
    eve, eve_bot = dep["keys"]["eve"], dep["keys"]["eve_bot"]
    walked = set()

    def walk(method, path, token, body=None, status=404, code="not_found"):
        r = call(method, u + path.replace("{id}", d), token, body)
        template = path.split("?")[0]
        walked.add((method, template))
        is_problem(r, status, code) if status >= 400 else None
        return r

    walk("GET", "/v1/drafts/{id}", eve)
    walk("GET", "/v1/drafts/{id}", eve_bot)
    walk("POST", "/v1/drafts/{id}/approve", eve, {"hash": p["hash"]})
    walk("POST", "/v1/drafts/{id}/reject", eve, {"hash": p["hash"], "comment": "x"})
    walk("POST", "/v1/drafts/{id}/edit", eve, {"hash": p["hash"], "patch": {"amount": 1}})
    walk("GET", "/v1/drafts/{id}/wait?timeout=0", eve_bot)
    walk("POST", "/v1/drafts/{id}/claim", eve_bot)
    walk("POST", "/v1/drafts/{id}/complete", eve_bot, {"lease": "x", "ok": True})
    listed = walk("GET", "/v1/drafts?state=approved", eve, status=200)
    assert listed.status == 200 and d not in json.dumps(listed.json)
    walk("POST", "/v1/decide", eve_bot, dict(BIG_REFUND, tenant={"id": "acme", "plan": "business"}), 403, "forbidden")
    walk("POST", "/v1/proposals", eve_bot, dict(BIG_REFUND, tenant={"id": "acme", "plan": "business"}), 403,
         "forbidden")
    v = walk("GET", "/v1/audit/verify", eve, status=200)
    assert v.status == 200 and d not in v.text                        # counts only, no draft of acme
    walk("GET", "/v1/policy", eve, status=200)
    walk("POST", "/v1/policy", eve, {}, 403, "forbidden")              # not an admin
    for path in ("/healthz", "/metrics", "/openapi.json"):              # hold no tenant data
        r = walk("GET", path, None, status=200)
        assert r.status == 200 and d not in r.text
    assert walked == set(ROUTES), set(ROUTES) - walked
    # and the draft is untouched
    after = call("GET", f"{u}/v1/drafts/{d}", dep["keys"]["fiona"]).json
    assert after["state"] == "approved" and after["args"] == BIG_REFUND["args"]


# ---------------------------------------------------------------- bad input

def test_errors_are_problems_with_stable_codes(dep):
    u, k = dep["url"], dep["keys"]["bot"]
    is_problem(call("POST", u + "/v1/proposals", k, raw=b"{not json"), 400, "invalid_json")
    is_problem(call("POST", u + "/v1/proposals", k, raw=b'{"tool": "a", "tool": "b"}'), 400, "invalid_json")
    is_problem(call("POST", u + "/v1/proposals", k, raw=b'{"tool": "a", "confidence": NaN}'), 400, "invalid_json")
    is_problem(call("POST", u + "/v1/proposals", k, raw=b"x" * (1024 * 1024 + 1)), 413, "body_too_large")
    r = call("POST", u + "/v1/proposals", k, {"tool": "issue_refund", "args": [1]})
    is_problem(r, 422, "invalid_action")
    assert "`args`" in r.json["detail"]
    is_problem(call("POST", u + "/v1/proposals", k, [1, 2]), 422, "invalid_body")
    p = propose(dep)
    r = act(dep, "fiona", p["id"], "approve", {"comment": "no hash"})
    is_problem(r, 422, "invalid_body")
    assert "$.hash" in r.json["detail"]
    is_problem(act(dep, "fiona", p["id"], "approve", {"hash": 7}), 422, "invalid_body")
    is_problem(act(dep, "fiona", p["id"], "edit", {"hash": p["hash"], "patch": "x"}), 422, "invalid_body")
    is_problem(act(dep, "fiona", p["id"], "edit", {"hash": p["hash"], "patch": [{"op": "nope"}]}), 422,
               "invalid_action")
    is_problem(call("GET", f"{u}/v1/drafts/{p['id']}/wait?timeout=61", k), 422, "invalid_body")
    is_problem(call("GET", u + "/v1/drafts?state=bogus", dep["keys"]["fiona"]), 422, "invalid_body")
    is_problem(call("GET", u + "/v1/drafts/d_nope", dep["keys"]["fiona"]), 404, "not_found")
    is_problem(call("GET", u + "/nowhere"), 404, "not_found")
    is_problem(call("DELETE", u + "/healthz"), 405, "method_not_allowed")
    # nothing half-written: the refused requests left the draft as it was
    assert call("GET", f"{u}/v1/drafts/{p['id']}", dep["keys"]["fiona"]).json["approvals"] == []


# ---------------------------------------------------------------- waiting, leases

def test_long_poll_returns_when_the_state_changes(dep):
    p = propose(dep)
    t0 = time.monotonic()
    r = call("GET", f"{dep['url']}/v1/drafts/{p['id']}/wait?timeout=1", dep["keys"]["bot"])
    assert r.status == 200 and r.json["state"] == "drafted" and time.monotonic() - t0 >= 0.9
    got = {}
    th = threading.Thread(target=lambda: got.update(
        r=call("GET", f"{dep['url']}/v1/drafts/{p['id']}/wait?timeout=30", dep["keys"]["bot"])))
    th.start()
    time.sleep(0.5)
    act(dep, "carl", p["id"], "reject", {"hash": p["hash"], "comment": "no"})
    t1 = time.monotonic()
    th.join(40)
    assert got["r"].json["state"] == "rejected" and time.monotonic() - t1 < 10


def test_an_expired_lease_is_settled_by_the_server(dep):
    p = propose(dep)
    act(dep, "fiona", p["id"], "approve", {"hash": p["hash"]})
    act(dep, "carl", p["id"], "approve", {"hash": p["hash"]})
    c = call("POST", f"{dep['url']}/v1/drafts/{p['id']}/claim", dep["keys"]["bot"]).json
    # the agent "crashes"; the worker settles the lease (2 s) without anyone asking
    assert wait_for(lambda: call("GET", f"{dep['url']}/v1/drafts/{p['id']}", dep["keys"]["bot"]).json["state"]
                    == "failed", 20)
    d = call("GET", f"{dep['url']}/v1/drafts/{p['id']}", dep["keys"]["bot"]).json
    assert "interrupted" in d["error"] and d["events"][-1]["payload"]["interrupted"] is True
    is_problem(act(dep, "bot", p["id"], "complete", {"lease": c["lease"], "ok": True}), 409, "lease_conflict")
    is_problem(call("POST", f"{dep['url']}/v1/drafts/{p['id']}/claim", dep["keys"]["bot"]), 409, "state_conflict")


# ---------------------------------------------------------------- OIDC

def _token(dep, signer=None, **over):
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "olga", "groups": ["finance_manager"], "org": "acme",
              "exp": int(time.time()) + 300, "iat": int(time.time())}
    claims.update(over)
    return jwt.encode(claims, signer or dep["signer"], algorithm="RS256", headers={"kid": "k1"})


def test_oidc_bearer_tokens(dep):
    u = dep["url"] + "/v1/drafts"
    p = propose(dep)
    ok = call("GET", u, _token(dep))
    assert ok.status == 200 and p["id"] in [d["id"] for d in ok.json["drafts"]]
    r = act(dict(dep, keys={"olga": _token(dep)}), "olga", p["id"], "approve", {"hash": p["hash"]})
    assert r.status == 200 and r.json["approvals"][0]["approver"] == "olga"
    assert call("GET", u, _token(dep, org="globex")).json["drafts"] == [] or \
        p["id"] not in [d["id"] for d in call("GET", u, _token(dep, org="globex")).json["drafts"]]
    for bad in (_token(dep, aud="other"), _token(dep, iss="https://evil.test"), _token(dep, exp=int(time.time()) - 600),
                _token(dep, signer=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
                jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "olga", "exp": int(time.time()) + 300}, None,
                           algorithm="none"),
                jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "olga", "exp": int(time.time()) + 300},
                           "s" * 40, algorithm="HS256", headers={"kid": "k1"})):
        is_problem(call("GET", u, bad), 401, "unauthorized")
    # OIDC bearer tokens without a `client_id`: the inbox has no provider sign-in to offer
    page = call("GET", dep["url"] + "/inbox/").text
    assert 'id="token"' in page and "sign-in-oidc" not in page
    assert call("GET", dep["url"] + "/inbox/oidc/start").status == 404
    agent = _token(dep, sub="jet", groups=["agent"], signoff_kind="agent")
    assert call("POST", dep["url"] + "/v1/decide", agent, BIG_REFUND).status == 200
    is_problem(call("GET", u, agent), 403, "forbidden")


# ---------------------------------------------------------------- reload, ops

def test_policy_reload_checks_swaps_and_records(dep):
    u, admin = dep["url"], dep["keys"]["ada"]
    before = call("GET", u + "/healthz").json["policy"]
    text = dep["policy"].read_text()
    r = call("POST", u + "/v1/policy", admin, {"source": text.replace("tool issue_refund {", "tool issue_refund {{")})
    is_problem(r, 422, "invalid_policy")
    assert call("GET", u + "/healthz").json["policy"] == before
    is_problem(call("POST", u + "/v1/policy", dep["keys"]["fiona"], {}), 403, "forbidden")
    newer = text.replace('version "2026.11.1"', 'version "2026.11.2"')
    r = call("POST", u + "/v1/policy", admin, {"source": newer})
    assert r.status == 200 and r.json["previous"] == before and r.json["policy"]["version"] == "2026.11.2"
    assert call("GET", u + "/healthz").json["policy"]["digest"] == r.json["policy"]["digest"] != before["digest"]
    # SIGHUP reads the file again
    dep["policy"].write_text(text.replace('version "2026.11.1"', 'version "2026.11.3"'))
    dep["srv"].signal(signal.SIGHUP)
    assert wait_for(lambda: call("GET", u + "/healthz").json["policy"]["version"] == "2026.11.3", 20)
    dep["policy"].write_text("policy \"broken\n")
    dep["srv"].signal(signal.SIGHUP)
    time.sleep(1.5)
    assert call("GET", u + "/healthz").json["policy"]["version"] == "2026.11.3"   # refused: the old one serves
    dep["policy"].write_text(text)
    rows = sqlite3.connect(str(dep["dir"] / "s.db")).execute(
        "SELECT version, source, by FROM policy_versions ORDER BY seq").fetchall()
    assert rows[0] == ("2026.11.1", "start", "signoff") and ("2026.11.2", "reload", "ada") in rows
    assert ("2026.11.3", "reload", "sighup") in rows and len(rows) == 3 + rows.count(rows[0]) - 1


def test_openapi_lists_exactly_what_is_served(dep):
    doc = call("GET", dep["url"] + "/openapi.json").json
    assert doc["openapi"].startswith("3.")
    listed = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert listed == set(ROUTES)
    for method, path in ROUTES:   # each is really served: never the router's 404/405
        r = call(method, dep["url"] + path.replace("{id}", "d_none"), None, {} if method == "POST" else None)
        assert r.status not in (404, 405) or r.json["detail"] != f"no endpoint `{path}`", (method, path, r)


def test_metrics_and_health(dep):
    propose(dep)
    p = propose(dep)
    act(dep, "fiona", p["id"], "approve", {"hash": p["hash"]})
    act(dep, "carl", p["id"], "approve", {"hash": p["hash"]})
    h = call("GET", dep["url"] + "/healthz")
    assert h.status == 200 and h.json["ok"] is True and set(h.json["policy"]) == {"name", "version", "digest"}
    m = call("GET", dep["url"] + "/metrics")
    assert m.status == 200 and m.headers["content-type"].startswith("text/plain")
    assert 'signoff_decisions_total{endpoint="proposal",outcome="require_approval"}' in m.text
    assert 'signoff_queue_depth{route="finance_review"}' in m.text
    assert 'signoff_time_to_approval_seconds_count{route="finance_review"}' in m.text
    assert "signoff_notification_failures_total" in m.text


def test_access_log_is_json_without_secrets(dep):
    call("GET", dep["url"] + "/v1/drafts", dep["keys"]["fiona"])
    call("GET", dep["url"] + "/v1/drafts", "sk_leaked_secret_guess")
    time.sleep(0.3)
    logs = dep["srv"].access_log()
    assert any(x["path"] == "/v1/drafts" and x["status"] == 200 and x["actor"] == "fiona" for x in logs)
    text = "\n".join(dep["srv"].lines)
    for key in list(dep["keys"].values()) + ["sk_leaked_secret_guess"]:
        assert key not in text
    assert "Bearer" not in text and "authorization" not in text.lower()


def test_graceful_shutdown_answers_in_flight_requests(tmp_path):
    keys = identities(tmp_path / "s.db", {k: TEAM[k] for k in ("bot", "fiona")})
    (tmp_path / "c.toml").write_text('[server]\nmetrics_allow = ["10.0.0.0/8"]\n')
    srv = Server(POLICY, tmp_path / "s.db", config=tmp_path / "c.toml")
    is_problem(call("GET", srv.url + "/metrics"), 403, "forbidden")      # loopback is not in the list
    p = call("POST", srv.url + "/v1/proposals", keys["bot"], BIG_REFUND).json
    got = {}
    th = threading.Thread(target=lambda: got.update(
        r=call("GET", f"{srv.url}/v1/drafts/{p['id']}/wait?timeout=50", keys["bot"])))
    th.start()
    time.sleep(1.0)
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    th.join(40)
    assert got["r"].status == 200 and got["r"].json["state"] == "drafted"
    assert time.monotonic() - t0 < 20
    assert srv.stop() == 0 and not [line for line in srv.lines if "Traceback" in line]


def test_decide_reads_the_budgets_that_claims_spend(tmp_path):
    keys = identities(tmp_path / "s.db", {k: TEAM[k] for k in ("bot", "fiona", "carl")})
    srv = Server(POLICY, tmp_path / "s.db")
    dep = {"url": srv.url, "keys": keys}
    try:
        probe = dict(BIG_REFUND, args=dict(BIG_REFUND["args"], amount=100))
        assert call("POST", srv.url + "/v1/decide", keys["bot"], probe).json["outcome"] == "allow"
        for _ in range(4):                                   # 4 x 490 = 1960 of the tenant's 2000 a day
            p = propose(dep, dict(BIG_REFUND, args=dict(BIG_REFUND["args"], amount=490)))
            act(dep, "fiona", p["id"], "approve", {"hash": p["hash"]})
            act(dep, "carl", p["id"], "approve", {"hash": p["hash"]})
            assert call("POST", f"{srv.url}/v1/drafts/{p['id']}/claim", keys["bot"]).status == 200
        d = call("POST", srv.url + "/v1/decide", keys["bot"], probe).json
        assert d["outcome"] == "escalate" and d["escalate_to"] == "finance_oncall"
    finally:
        srv.stop()
