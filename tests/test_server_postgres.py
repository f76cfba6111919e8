"""`signoff serve` on PostgreSQL when the database connection is lost (issue 14): the request in flight fails
cleanly as problem+json 503 `store_unavailable`, nothing of it is kept, no claim is left without a lease,
and the next request works on a new connection."""
from __future__ import annotations

import pytest

import pg
from engine import open_store
from server_helpers import BIG_REFUND, POLICY, TEAM, Server, call, identities
from workflow_helpers import raw

# a backend that terminates itself inside the statement that writes the first matching row: a connection lost
# in the middle of a request's transaction, at a place the test chooses (a sequence is not transactional, so
# only the first time fires)
DOOM = [
    "CREATE SEQUENCE doom_propose",
    "CREATE SEQUENCE doom_claim",
    """CREATE FUNCTION doom() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF nextval(TG_ARGV[0]) = 1 THEN
           PERFORM pg_terminate_backend(pg_backend_pid());
           PERFORM pg_sleep(5);
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER doom_propose BEFORE INSERT ON actions FOR EACH ROW
       WHEN (strpos(NEW.args, 'inv_doom') > 0) EXECUTE FUNCTION doom('doom_propose')""",
    """CREATE TRIGGER doom_claim BEFORE UPDATE ON actions FOR EACH ROW
       WHEN (NEW.state = 'executing' AND OLD.state <> 'executing') EXECUTE FUNCTION doom('doom_claim')""",
]


@pytest.fixture
def served(tmp_path):
    url = pg.postgres_or_skip().url(str(tmp_path / "lost"))
    keys = identities(url, TEAM)
    s = open_store(url)
    for stmt in DOOM:
        raw(s, stmt)
    s.close()
    # the server's connections carry a name, so a test can end exactly those
    server = Server(POLICY, url + "&application_name=signoff_lost_test")
    yield server, keys, url
    server.stop()


def refund(invoice):
    return dict(BIG_REFUND, args={"amount": 250, "invoice_id": invoice, "customer_id": "c1"})


def drafts_of(url):
    s = open_store(url)
    try:
        return raw(s, "SELECT id, state, lease_until FROM actions ORDER BY id")
    finally:
        s.close()


def test_a_connection_lost_mid_request_is_a_clean_503_and_the_next_request_works(served):
    server, keys, url = served
    lost = call("POST", server.url + "/v1/proposals", keys["bot"], refund("inv_doom"))
    assert lost.status == 503, lost
    assert lost.headers["content-type"].startswith("application/problem+json")
    assert lost.json["code"] == "store_unavailable" and "Traceback" not in lost.text
    assert drafts_of(url) == []                    # nothing of the proposal was kept

    again = call("POST", server.url + "/v1/proposals", keys["bot"], refund("inv_doom"))
    assert again.status == 201 and again.json["state"] == "drafted", again
    aid, h = again.json["id"], again.json["hash"]
    for who in ("fiona", "carl"):
        ok = call("POST", f"{server.url}/v1/drafts/{aid}/approve", keys[who], {"hash": h})
        assert ok.status == 200, ok
    assert ok.json["state"] == "approved"

    # the claim's transaction loses its connection: no claim without a lease, the draft stays approved
    lost = call("POST", f"{server.url}/v1/drafts/{aid}/claim", keys["bot"], {})
    assert lost.status == 503 and lost.json["code"] == "store_unavailable", lost
    assert [(r[1], r[2]) for r in drafts_of(url)] == [("approved", None)]
    claim = call("POST", f"{server.url}/v1/drafts/{aid}/claim", keys["bot"], {})
    assert claim.status == 200, claim
    done = call("POST", f"{server.url}/v1/drafts/{aid}/complete", keys["bot"],
                {"lease": claim.json["lease"], "ok": True, "result": {"refund": "r_1"}})
    assert done.json["state"] == "executed"
    events = call("GET", f"{server.url}/v1/drafts/{aid}", keys["bot"]).json["events"]
    assert [e["kind"] for e in events].count("executed") == 1
    v = call("GET", server.url + "/v1/audit/verify", keys["audrey"]).json
    assert v["ok"] is True


def test_connections_lost_while_idle_are_replaced_before_a_request_runs(served):
    server, keys, url = served
    assert call("POST", server.url + "/v1/decide", keys["bot"], refund("inv_1")).status == 200
    # every connection of the server is closed by the database (a failover, a restart, an idle timeout):
    # nothing of any request had run on them, so the server opens new ones and the requests succeed
    killer = open_store(url)
    try:
        gone = raw(killer, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE application_name = 'signoff_lost_test'")
    finally:
        killer.close()
    assert len(gone) >= 2                         # the gate's and the identity directory's connections
    p = call("POST", server.url + "/v1/proposals", keys["bot"], refund("inv_2"))
    assert p.status == 201, p
    assert call("GET", f"{server.url}/v1/drafts/{p.json['id']}", keys["bot"]).status == 200
