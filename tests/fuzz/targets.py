"""Fuzz targets: one per class of untrusted input, each an invariant that must hold for any input.

The same targets run twice: bounded and fast in the ordinary suite (tests/test_fuzz.py) and long
for nightly use (tests/fuzz/run.py). Inputs are built by mutating real seeds — the shipped
policies, test files, actions and histories — with hostile pieces the security review used:
huge integers, lone surrogates, control and bidi characters, deep nesting, NaN-like numbers,
YAML aliases and tags, paths to devices and the environment, regexes RE2 refuses.

What every target asserts is the fail-closed contract: the documented error or a result, never a
traceback, never `allow` for input the engine had to refuse, and output that is what it claims
(valid JSON, text without raw control characters).
"""
from __future__ import annotations

import gzip
import io
import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple

from click.testing import CliRunner
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
STDLIB = ROOT / "stdlib_policies"

# A raw control character (other than the newline and tab that layouts use) or a bidi override
# in text output is an injection into a terminal or a CI log.
UNSAFE_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

HOSTILE_STRINGS = [
    "\x1b[2J\x1b[1;31mAPPROVED\x1b[0m", "\x1b]0;title\x07", "\u202eevil", "\ud800", "\udfff",
    "a\nb", "::error file=README.md::PWNED", "", " ", "Ａｌｉｃｅ", "x" * 5000,
    "https://evil.example/?ref=x@blog.acme.com", "https://evil.example/#@blog.acme.com",
    "explain (analyze) delete from users", "select 1 delete from users",
    "SELECT * INTO backup FROM users", "select pg_terminate_backend(123)", "a" * 28 + "b",
]
HOSTILE_NUMBERS: List[Any] = [10 ** 400, -10 ** 400, 1e308, -1e308, 5e-324, 2 ** 63, -2 ** 63 - 1, 99, 1.5, -0.1]
HOSTILE_TOKENS = [
    "9" * 5000, "1e999", '"\\uD800"', '"a{4294967296}"', '"(?=x)"', '"(a|a)*$"', '"(\\\\w)\\\\1"',
    'use "/proc/self/environ"', 'use "/dev/zero"', 'schema "/dev/zero"', 'schema {"$ref": "http://127.0.0.1:9/x.json"}',
    'schema {"$ref": "file:///etc/passwd"}', "{", "}", "(", ")", "[", "]", ",", "when", "otherwise",
    "!=", "not in", "matches", "domain(", "\x1b[2J", "\u202e", "\n", '"', "\\", "\x00",
]


class Target(NamedTuple):
    """A fuzz target: the strategy that builds inputs and the check that must hold for each."""
    name: str
    strategy: Callable[[], st.SearchStrategy]
    check: Callable[[Any], None]


# ---------------------------------------------------------------------------------------- seeds
def _policy_seeds() -> List[Path]:
    return sorted([*EXAMPLES.glob("*/*.policy"), *STDLIB.glob("*.policy")])


def _test_seeds() -> List[Path]:
    return sorted([*EXAMPLES.glob("*/*.test.yaml"), *STDLIB.glob("*.test.yaml")])


def _action_seeds() -> List[Dict[str, Any]]:
    out = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*/*.json"))]
    with open(EXAMPLES / "support-ops" / "history.jsonl") as f:
        out += [json.loads(line) for line, _ in zip(f, range(40))]
    return out


# ---------------------------------------------------------------------------------- mutations
def mutated_text(seed: str, data: Any) -> str:
    """A text with a few edits: spans deleted, duplicated, or replaced by hostile tokens."""
    text = seed
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        if not text:
            break
        i = data.draw(st.integers(0, len(text) - 1), label="at")
        j = min(len(text), i + data.draw(st.integers(0, 40), label="len"))
        how = data.draw(st.sampled_from(["delete", "duplicate", "token", "char"]), label="how")
        if how == "delete":
            text = text[:i] + text[j:]
        elif how == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        elif how == "token":
            text = text[:i] + " " + data.draw(st.sampled_from(HOSTILE_TOKENS), label="token") + " " + text[i:]
        else:
            text = text[:i] + data.draw(st.characters(), label="char") + text[i:]
    return text


def hostile_values(depth: int = 2) -> st.SearchStrategy:
    """JSON-ish values with the review's hostile leaves, nested a little."""
    hostile = st.one_of(st.sampled_from(HOSTILE_STRINGS), st.sampled_from(HOSTILE_NUMBERS))
    leaves = st.one_of(hostile, hostile, hostile, st.none(), st.booleans(),
                       st.text(max_size=8), st.integers(), st.floats(allow_nan=False, allow_infinity=False))
    return st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                        max_leaves=6)


def mutated_action(seed: Dict[str, Any], data: Any) -> Any:
    """A seed action with a few leaves (or whole branches) replaced by hostile values."""
    action = json.loads(json.dumps(seed))
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        node, path = action, []
        while isinstance(node, dict) and node and data.draw(st.booleans(), label="deeper"):
            key = data.draw(st.sampled_from(sorted(node)), label="key")
            path.append(key)
            node = node[key]
        where = action
        for key in path[:-1]:
            where = where[key]
        value = data.draw(hostile_values(), label="value")
        if not path:
            key = data.draw(st.sampled_from(["tool", "confidence", "id", "timestamp", "tenant", "agent", "args",
                                             "context"]), label="top")
            action[key] = value
        elif isinstance(where, dict):
            where[path[-1]] = value
    if data.draw(st.integers(0, 9), label="nest") == 0:
        deep: Any = 1
        for _ in range(data.draw(st.sampled_from([50, 1200, 6000]), label="depth")):
            deep = [deep]
        action.setdefault("args", {})
        if isinstance(action["args"], dict):
            action["args"]["deep"] = deep
    return action


# ------------------------------------------------------------------------------------ checks
def _no_traceback(result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


def _safe_text(out: str) -> None:
    m = UNSAFE_TEXT.search(out)
    assert m is None, f"raw control character {m.group()!r} in text output near {out[max(0, m.start() - 40):m.end() + 40]!r}"


def _strict_json(out: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"invalid JSON constant {name}")
    value = json.loads(out, parse_constant=refuse)
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # lone surrogates cannot be encoded
    return value


def check_policy_text(case: Any) -> None:
    """Policy text: only a PolicyError; diagnostics safe to print; a policy that loads decides safely."""
    from engine import Policy
    from policy_lang import PolicyError, render
    from policy_lang.checker import load
    path, text = case
    try:
        program = load(str(path), text)
    except PolicyError as e:
        for d in e.diagnostics:
            assert d.code and re.fullmatch(r"[EW]\d{3}", d.code), d.code
        _safe_text(render(e.diagnostics, e.sources))
        return
    policy = Policy(program)
    for action in _action_seeds()[:3]:
        d = policy.decide(action)
        assert d.outcome in ("allow", "require_approval", "ask", "escalate", "deny")


def check_action(action: Any) -> None:
    """Action JSON: decide never raises, equals the reference, output is strict JSON; refused input is deny."""
    from engine import MemoryLedger
    from engine.decide.actions import ActionError, check_action as validate
    d = _support().decide(action, ledger=MemoryLedger())
    try:
        validate(action)
        valid = True
    except ActionError:
        valid = False
    except Exception as e:  # the validator itself must fail closed too
        raise AssertionError(f"check_action raised {type(e).__name__}") from e
    if not valid:
        assert d.outcome == "deny", d.to_dict()
    _strict_json(json.dumps(d.to_dict(), ensure_ascii=False, allow_nan=False, default=str))
    try:
        text = json.dumps(action)
    except (ValueError, RecursionError):
        return
    result = CliRunner().invoke(_cli(), ["check", str(EXAMPLES / "support-ops" / "support.policy"), "--action", "-",
                                         "--format", "json"], input=text)
    _no_traceback(result)
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 0:
        got = _strict_json(result.output)
        if not valid:
            assert got["outcome"] == "deny"


def check_test_yaml(case: Any) -> None:
    """Test YAML: a result or a clear error (exit 2), never a traceback, text output safe."""
    folder, text = case
    path = Path(folder) / "fuzz.test.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = CliRunner().invoke(_cli(), ["test", str(path)])
    _no_traceback(result)
    assert result.exit_code in (0, 1, 2), result.output
    _safe_text(result.output.replace("\t", " "))


def check_history(case: Any) -> None:
    """History files: a report or an error naming file and line, never a traceback."""
    folder, name, payload = case
    path = Path(folder) / name
    path.write_bytes(payload)
    for fmt in ("text", "json"):
        result = CliRunner().invoke(_cli(), ["simulate", str(EXAMPLES / "support-ops" / "support.policy"),
                                             "--history", str(path), "--format", fmt, "--on-error", "skip"])
        _no_traceback(result)
        assert result.exit_code in (0, 1, 2), result.output
        if result.exit_code == 0 and fmt == "json":
            _strict_json(result.output)


_STORE_TABLES = ["actions", "approvals", "events", "audit_head", "grants", "grant_uses", "ledger", "identities"]
_ROW_VALUES: List[Any] = ["approved", "executed", "drafted", "carl", "fiona", "bot", '["cfo"]', '["finance_manager"]',
                          "[]", "{}", "{", "null", "", 0, 1, -1, 1e308, 2 ** 62, None, "\x1b[2J", '{"amount": 1}']


def check_store_rows(case: Any) -> None:
    """Store rows: after any tampering with the SQLite file, no action nobody approved runs, the Gate raises
    only its own errors, `audit verify` answers without a traceback, and a change to the log is caught."""
    import sqlite3
    from engine.live.store import StoreError
    from engine.live.workflow import GateError
    folder, ops = case
    sys_path_helpers()
    from workflow_helpers import Clock, Recorder, make_gate, refund
    path = os.path.join(folder, f"s{abs(hash(repr(ops)))}.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    clock, rec = Clock(), Recorder()
    gate = make_gate(path, clock, {"issue_refund": rec})
    gate.propose(refund(20))                                  # allowed: runs once, legitimately
    pending = gate.propose(refund(300))                       # finance_review, quorum 2: one approval only
    gate.approve(pending.id, "fiona")
    rejected = gate.propose(refund(400, invoice="INV-2"))
    gate.reject(rejected.id, "carl", "no")
    gate.store.close()
    legit = len(rec.calls)
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("DROP TRIGGER IF EXISTS events_no_update")
    c.execute("DROP TRIGGER IF EXISTS events_no_delete")
    log_changed = False
    for table, how, row, column, value in ops:
        rows = c.execute(f"SELECT rowid, * FROM {table}").fetchall()  # noqa: S608 (names from a fixed list)
        cols = [d[0] for d in c.execute(f"SELECT * FROM {table} LIMIT 0").description]
        if not rows:
            continue
        rowid = rows[row % len(rows)][0]
        col = cols[column % len(cols)]
        before = c.execute(f"SELECT * FROM {table} WHERE rowid = ?", (rowid,)).fetchone()
        try:
            if how == "update":
                c.execute(f"UPDATE {table} SET {col} = ? WHERE rowid = ?", (value, rowid))
            elif how == "delete":
                c.execute(f"DELETE FROM {table} WHERE rowid = ?", (rowid,))
            else:
                c.execute(f"INSERT INTO {table} SELECT * FROM {table} WHERE rowid = ?", (rowid,))
        except sqlite3.Error:
            continue  # a constraint the schema itself enforces
        after = c.execute(f"SELECT * FROM {table} WHERE rowid = ?", (rowid,)).fetchone()
        if table in ("events", "audit_head") and (how != "update" or before != after):
            log_changed = True
    c.close()
    try:
        gate = make_gate(path, clock, {"issue_refund": rec})
    except (GateError, StoreError):
        gate = None
    try:
        for step in (() if gate is None else (lambda: gate.execute(pending.id), lambda: gate.resume(), lambda: gate.expire_due(),
                     lambda: gate.execute(rejected.id), lambda: gate.pending())):
            try:
                step()
            except (GateError, StoreError):
                pass
    finally:
        if gate is not None:
            gate.store.close()
    assert len(rec.calls) == legit, f"an action nobody approved ran after tampering: {rec.calls[legit:]}"
    result = CliRunner().invoke(_cli(), ["audit", "verify", "--store", path])
    _no_traceback(result)
    assert result.exit_code in (0, 1, 2), result.output
    if log_changed:
        assert result.exit_code != 0, f"a change to the audit log verified: {ops}"


def sys_path_helpers() -> None:
    """tests/ on sys.path, for workflow_helpers (the store target builds its gate as the workflow tests do)."""
    import sys
    here = str(ROOT / "tests")
    if here not in sys.path:
        sys.path.insert(0, here)


def store_tamperings() -> st.SearchStrategy:
    op = st.tuples(st.sampled_from(_STORE_TABLES), st.sampled_from(["update", "update", "delete", "insert"]),
                   st.integers(0, 50), st.integers(0, 20), st.sampled_from(_ROW_VALUES))
    return st.lists(op, min_size=1, max_size=3)


# -------------------------------------------------------------------------------- strategies
def policy_texts() -> st.SearchStrategy:
    seeds = _policy_seeds()
    return st.builds(lambda p, data: (p, mutated_text(p.read_text(), data)), st.sampled_from(seeds), st.data())


def actions() -> st.SearchStrategy:
    seeds = _action_seeds()
    return st.builds(mutated_action, st.sampled_from(seeds), st.data())


def _test_yaml_text(p: Path, data: Any) -> str:
    text = p.read_text()
    policy = (p.parent / re.search(r"^policy:\s*(\S+)", text, re.M).group(1)).resolve()
    text = re.sub(r"^policy:.*$", f"policy: {json.dumps(str(policy))}", text, count=1, flags=re.M)
    extra = ["\nx: &a [1, 2]\ny: [*a, *a]\n", "\n- !!python/object:os.system [ls]\n", "\n\t- bad indent\n",
             "\ncases: [{name: \x1b[2J, action: {tool: \"\\e[2J\"}, expect: allow}]\n", "\n" + "[" * 3000]
    if data.draw(st.booleans(), label="append"):
        text += data.draw(st.sampled_from(extra), label="extra")
    return mutated_text(text, data)


def test_yamls(folder: str) -> st.SearchStrategy:
    seeds = _test_seeds()
    return st.builds(lambda p, data: (folder, _test_yaml_text(p, data)), st.sampled_from(seeds), st.data())


def _history_payload(data: Any) -> tuple:
    with open(EXAMPLES / "support-ops" / "history.jsonl", "rb") as f:
        lines = f.read().splitlines()[:30]
    kind = data.draw(st.sampled_from(["jsonl", "gz", "csv"]), label="kind")
    out = []
    for line in lines[: data.draw(st.integers(1, 30), label="n")]:
        if data.draw(st.integers(0, 3), label="mutate") == 0:
            action = mutated_action(json.loads(line), data)
            try:
                line = json.dumps(action).encode("utf-8", "surrogatepass")
            except (ValueError, RecursionError):
                line = mutated_text(line.decode(), data).encode("utf-8", "surrogatepass")
        elif data.draw(st.integers(0, 5), label="raw") == 0:
            line = mutated_text(line.decode(), data).encode("utf-8", "surrogatepass")
        out.append(line)
    body = b"\n".join(out) + b"\n"
    if kind == "gz":
        blob = gzip.compress(body)
        if data.draw(st.booleans(), label="truncate"):
            blob = blob[: data.draw(st.integers(1, len(blob)), label="cut")]
        return "h.jsonl.gz", blob
    if kind == "csv":
        buf = io.StringIO()
        buf.write("id,timestamp,tool,confidence,tenant.id,agent.id,args.amount\n")
        for line in out:
            try:
                a = json.loads(line)
                cells = [a.get("id"), a.get("timestamp"), a.get("tool"), a.get("confidence"),
                         (a.get("tenant") or {}).get("id") if isinstance(a.get("tenant"), dict) else a.get("tenant"),
                         "bot", (a.get("args") or {}).get("amount") if isinstance(a.get("args"), dict) else 1]
            except Exception:
                cells = [line.decode("utf-8", "replace")]
            buf.write(",".join(json.dumps(c) if not isinstance(c, str) else '"' + c.replace('"', '""') + '"'
                               for c in cells) + "\n")
        return "h.csv", buf.getvalue().encode("utf-8", "surrogatepass")
    return "h.jsonl", body


def histories(folder: str) -> st.SearchStrategy:
    return st.builds(lambda data: (folder, *_history_payload(data)), st.data())


# --------------------------------------------------------------------------------- plumbing
_SUPPORT: Dict[str, Any] = {}


def _support():
    if "policy" not in _SUPPORT:
        from engine import load_policy
        _SUPPORT["policy"] = load_policy(str(EXAMPLES / "support-ops" / "support.policy"))
    return _SUPPORT["policy"]


def _cli():
    from cli.main import cli
    return cli


def targets(folder: str) -> List[Target]:
    """Every fuzz target; `folder` is a scratch directory the file-based targets write into."""
    os.makedirs(folder, exist_ok=True)
    return [
        Target("policy-text", policy_texts, check_policy_text),
        Target("action-json", actions, check_action),
        Target("test-yaml", lambda: test_yamls(folder), check_test_yaml),
        Target("history", lambda: histories(folder), check_history),
        Target("store-rows", lambda: st.tuples(st.just(folder), store_tamperings()), check_store_rows),
    ]
