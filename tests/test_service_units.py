"""The service's parts that need no server: the config file, API keys, the store's migration 3, `signoff serve`
refusing what it cannot use (exit status and one-line errors, never a traceback)."""
from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from engine import SQLiteStore
from engine.live.sqlite import MIGRATIONS
from engine.service import ConfigError, add_identity, list_identities, load_config, revoke_identity, rotate_key
from engine.service.config import parse_config
from engine.service.keys import key_hash, new_key

from server_helpers import POLICY, ROOT


def test_keys_are_256_bit_and_only_their_hash_is_kept(tmp_path):
    keys = {new_key() for _ in range(200)}
    assert len(keys) == 200 and all(k.startswith("sk_") and len(k) == 46 for k in keys)   # 32 bytes, base64url
    s = SQLiteStore(str(tmp_path / "s.db"))
    k = add_identity(s, "fiona", ["finance_manager"], "acme")
    with s.snapshot() as tx:
        assert tx.api_key_owner(key_hash(k))["id"] == "fiona"
        assert tx.api_key_owner(key_hash(k + "x")) is None
        assert [r[0] for r in tx.c.execute("SELECT hash FROM api_keys")] == [key_hash(k)]
    k2 = rotate_key(s, "fiona")
    with s.snapshot() as tx:
        assert tx.api_key_owner(key_hash(k)) is None and tx.api_key_owner(key_hash(k2))["kind"] == "human"
    again = add_identity(s, "Fiona", ["cfo"], "acme", "human")     # the same person: older keys revoked
    with s.snapshot() as tx:
        assert tx.api_key_owner(key_hash(k2)) is None and tx.api_key_owner(key_hash(again))["roles"] == ["cfo"]
    revoke_identity(s, "fiona")
    with s.snapshot() as tx:
        assert tx.api_key_owner(key_hash(again)) is None
    assert [(r.id, r.revoked, r.keys) for r in list_identities(s)] == [("Fiona", True, 0)]
    with pytest.raises(Exception):
        rotate_key(s, "fiona")                                       # revoked: register it again
    for bad in (("", ["r"]), ("bot\u202e", ["r"]), ("bot", [])):
        with pytest.raises(ValueError):
            add_identity(s, bad[0], bad[1], None)
    with pytest.raises(ValueError):
        add_identity(s, "bot", ["agent"], None, "robot")
    s.close()


def test_a_version_2_store_is_migrated(tmp_path):
    path = tmp_path / "old.db"
    c = sqlite3.connect(str(path))
    c.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    c.execute("INSERT INTO schema_version VALUES (2)")
    for n in (1, 2):
        for stmt in MIGRATIONS[n]:
            c.execute(stmt)
    c.execute("INSERT INTO identities (id, roles, tenant) VALUES ('fiona', '[\"cfo\"]', 'acme')")
    c.commit()
    c.close()
    s = SQLiteStore(str(path))
    assert s.schema_version == 4
    with s.snapshot() as tx:
        info = tx.identity_info("fiona")
    assert info["kind"] == "human" and info["keys"] == 0 and info["revoked_at"] is None
    s.close()


def test_config_is_checked(tmp_path):
    assert load_config(None).lease_seconds == 900
    good = tmp_path / "c.toml"
    good.write_text('[server]\nlease_seconds = 60\nmetrics_allow = ["10.0.0.0/8"]\n[notifications]\n')
    cfg = load_config(str(good))
    assert cfg.lease_seconds == 60 and str(cfg.metrics_allow[0]) == "10.0.0.0/8"
    for data, needle in (({"serve": {}}, "`config.serve`"), ({"server": {"lease_seconds": 0}}, "positive"),
                         ({"server": {"lease_seconds": "1"}}, "wrong type"),
                         ({"server": {"metrics_allow": ["nope"]}}, "metrics_allow"),
                         ({"oidc": {"issuer": "i"}}, "`oidc.audience`"),
                         ({"oidc": {"issuer": "i", "audience": "a"}}, "exactly one"),
                         ({"oidc": {"issuer": "i", "audience": "a", "jwks_url": "http://x"}}, "https"),
                         ({"oidc": {"issuer": "i", "audience": "a", "jwks_file": "f", "algorithms": ["HS256"]}},
                          "asymmetric"),
                         # the inbox's provider sign-in: https endpoints (http only on loopback), openid scope
                         ({"oidc": {"issuer": "http://idp.example", "audience": "a", "jwks_file": "f",
                                    "client_id": "c"}}, "to discover its endpoints"),
                         ({"oidc": {"issuer": "https://idp.example", "audience": "a", "jwks_file": "f",
                                    "client_id": "c", "token_endpoint": "http://idp.example/token"}},
                          "`oidc.token_endpoint` must be an https:// url"),
                         ({"oidc": {"issuer": "https://idp.example", "audience": "a", "jwks_file": "f",
                                    "token_endpoint": "https://idp.example/token"}}, "needs `oidc.client_id`"),
                         ({"oidc": {"issuer": "https://idp.example", "audience": "a", "jwks_file": "f",
                                    "client_id": "c", "scopes": ["profile"]}}, "including \"openid\"")):
        with pytest.raises(ConfigError) as e:
            parse_config(data)
        assert needle in e.value.message
    ok = parse_config({"oidc": {"issuer": "http://127.0.0.1:9", "audience": "a", "jwks_file": "f",
                                "client_id": "c", "client_secret": "s3cret"}}).oidc
    assert ok is not None and ok.login and "s3cret" not in repr(ok)   # a secret never reaches a log line
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    with pytest.raises(ConfigError) as e:
        load_config(str(bad))
    assert "not valid toml" in e.value.message


def _serve(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "cli", "serve", *args], capture_output=True, text=True,
                          cwd=str(cwd), env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)


def test_serve_refuses_what_it_cannot_use(tmp_path):
    bad = tmp_path / "bad.policy"
    bad.write_text('policy "x"\ntool a {\n')
    r = _serve(str(bad), "--store", str(tmp_path / "s.db"))
    assert r.returncode == 1 and "has errors: nothing is served" in r.stderr and "Traceback" not in r.stderr
    cfg = tmp_path / "c.toml"
    cfg.write_text("[server]\nport = 1\n")
    r = _serve(str(POLICY), "--store", str(tmp_path / "s.db"), "--config", str(cfg))
    assert r.returncode == 2 and r.stderr.strip() == f"error: config `{cfg}`: unknown setting `server.port`"
    r = _serve(str(POLICY), "--store", str(tmp_path))
    assert r.returncode == 2 and "is a directory" in r.stderr and "Traceback" not in r.stderr
    r = _serve(str(POLICY), "--store", "postgresql://db/signoff")
    assert r.returncode == 2 and "postgresql" in r.stderr


def test_notification_failures_are_counted(tmp_path):
    from engine import MemoryChannel, Notification
    from engine.service.metrics import Metrics

    class Broken(MemoryChannel):
        name = "broken"

        def send(self, note):
            raise OSError("connection refused")

    class Delivering(MemoryChannel):
        name = "notifications"

        def stats(self):
            return {"webhook": {"sent": 3, "failed": 2, "dropped": 1}}

    m = Metrics()
    m.channels = [Delivering()]
    ch = m.counting(Broken())
    note = Notification(kind="approval_needed", action_id="d_1", tenant=None, tool="t", args={}, roles=[],
                        routes=[], to=None, reasons=[], deadline=None)
    with pytest.raises(OSError):
        ch.send(note)
    s = SQLiteStore(str(tmp_path / "s.db"))
    text = m.render(s).decode()
    s.close()
    assert 'signoff_notification_failures_total{channel="broken"} 1.0' in text
    assert 'signoff_notification_failures_total{channel="webhook"} 3.0' in text


def test_a_reload_another_server_cannot_load_leaves_it_on_its_policy_and_says_why(tmp_path):
    from engine import Gate, load_policy, open_store
    from engine.service.service import PolicyHolder
    here, there = tmp_path / "here", tmp_path / "there"
    for d in (here, there):
        d.mkdir()
        (d / "p.policy").write_text('policy "p"\nversion "1"\n\ntool t {\n  risk low\n}\n\ncategory low {\n'
                                    '  allow\n}\n\nunknown tools deny\n')
    (here / "t.json").write_text('{"type": "object"}')
    store_file = str(tmp_path / "s.db")
    holders = []
    for d in (here, there):
        gate = Gate(load_policy(str(d / "p.policy")), open_store(store_file))
        h = PolicyHolder(str(d / "p.policy"), gate)
        h.record("start", "signoff")
        holders.append(h)
    a, b = holders
    assert b.follow() is False                      # nothing reloaded yet
    a.reload('policy "p"\nversion "2"\n\ntool t {\n  schema "t.json"\n  risk low\n}\n\ncategory low {\n'
             '  allow\n}\n\nunknown tools deny\n', "ada")
    assert a.policy.version == "2"
    assert b.follow() is False and b.policy.version == "1"    # `t.json` is not beside b's policy
    assert b.problem and "reloaded by `ada` on another server does not load here" in b.problem
    assert "t.json" in b.problem
    a.reload('policy "p"\nversion "3"\n\ntool t {\n  risk low\n}\n\ncategory low {\n  allow\n}\n\n'
             'unknown tools deny\n', "ada")
    assert b.follow() is True and b.policy.version == "3" and b.problem is None
    assert b.follow() is False                      # seen once, loaded once
    with a.gate.store.snapshot() as tx:
        sources = [(v["source"], v["version"]) for v in tx.policy_versions()]
    assert sources == [("start", "1"), ("start", "1"), ("reload", "2"), ("reload", "3"), ("follow", "3")]
    for h in holders:
        h.gate.store.close()
