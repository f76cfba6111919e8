"""Schema `$ref`s resolve at load, to files below the policy's folder; deciding does no I/O (spec §4.2 v1.1)."""
import builtins
import http.server
import io
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine import Policy
from engine.decide.reference import Interpreter
from policy_lang import PolicyError
from policy_lang.checker import load

ROOT = Path(__file__).resolve().parent.parent
TAIL = "risk high }\ncategory high { allow }\n"


def write_policy(folder: Path, schema: str, name: str = "p.policy") -> Path:
    p = folder / name
    p.write_text(f'policy "p"\ntool t {{ schema {schema} {TAIL}', encoding="utf-8")
    return p


def load_error(path: Path) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load(str(path))
    return info.value


class _Counting(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self):  # noqa: N802 (the http.server name)
        type(self).hits += 1
        body = b'{"type": "object"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def counting_server():
    _Counting.hits = 0
    server = socketserver.TCPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_remote_ref_is_a_load_error_and_nothing_is_fetched(tmp_path, counting_server):
    url = f"http://127.0.0.1:{counting_server}/x.json"
    for schema in (f'{{"$ref": "{url}"}}',
                   f'{{"type": "object", "properties": {{"a": {{"$ref": "{url}#/x"}}}}}}'):
        p = write_policy(tmp_path, schema)
        err = load_error(p)
        assert err.codes == ["E403"]
        d = err.diagnostics[0]
        assert (d.span.line, d.span.column) == (2, 10)     # the `schema` line
        assert d.help and "relative path" in d.help
    # a schema file holding the remote ref, too
    (tmp_path / "s.json").write_text(json.dumps({"$ref": url}))
    assert load_error(write_policy(tmp_path, '"s.json"')).codes == ["E403"]
    assert _Counting.hits == 0


def test_a_silent_server_hangs_neither_load_nor_decide(tmp_path):
    """A server that accepts and never answers: the load fails at once, nothing waits on it."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    port = silent.getsockname()[1]
    p = write_policy(tmp_path, f'{{"$ref": "http://127.0.0.1:{port}/x.json"}}')
    result = {}

    def run():
        try:
            Policy(load(str(p))).decide({"tool": "t", "args": {}})
            result["outcome"] = "decided"
        except PolicyError as e:
            result["codes"] = e.codes

    t = threading.Thread(target=run, daemon=True)
    start = time.monotonic()
    t.start()
    t.join(10)
    try:
        assert not t.is_alive(), "load or decide is waiting on a silent server"
        assert result == {"codes": ["E403"]}
        assert time.monotonic() - start < 10
    finally:
        silent.close()


@pytest.mark.parametrize("ref", ["urn:example:refund", "https://schemas.example.com/x.json",
                                 "ftp://example.com/x.json", "//example.com/x.json"])
def test_unknown_schemes_and_urns_are_refused(tmp_path, ref):
    assert load_error(write_policy(tmp_path, f'{{"$ref": "{ref}"}}')).codes == ["E403"]


def test_file_urls_and_absolute_paths_are_refused_even_inside_the_folder(tmp_path):
    (tmp_path / "defs.json").write_text('{"type": "object"}')
    outside = tmp_path.parent / f"{tmp_path.name}-outside.json"
    outside.write_text('{"type": "object"}')
    for ref in ((tmp_path / "defs.json").as_uri(), str(tmp_path / "defs.json"), outside.as_uri(),
                "file:///etc/passwd", "/etc/passwd"):
        err = load_error(write_policy(tmp_path, json.dumps({"$ref": ref})))
        assert err.codes == ["E403"], ref


def test_refs_leaving_the_folder_are_refused(tmp_path):
    sub = tmp_path / "policies"
    sub.mkdir()
    (tmp_path / "up.json").write_text('{"type": "object"}')
    assert load_error(write_policy(sub, '{"$ref": "../up.json"}')).codes == ["E403"]
    assert load_error(write_policy(sub, '{"$ref": "x/../../up.json"}')).codes == ["E403"]
    # a link below the folder that points out of it: real paths decide
    (sub / "link.json").symlink_to(tmp_path / "up.json")
    assert load_error(write_policy(sub, '{"$ref": "link.json"}')).codes == ["E403"]
    # a schema file's own refs are held to the declaring policy's folder too
    (sub / "s.json").write_text('{"$ref": "../up.json"}')
    assert load_error(write_policy(sub, '"s.json"')).codes == ["E403"]


def test_referenced_devices_fifos_and_missing_files_are_load_errors(tmp_path):
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    assert load_error(write_policy(tmp_path, '{"$ref": "fifo.json"}')).codes == ["E400"]
    assert load_error(write_policy(tmp_path, '{"$ref": "zero.json"}')).codes == ["E403"]   # not a *.json file
    err = load_error(write_policy(tmp_path, '{"$ref": "none.json"}'))
    assert err.codes == ["E400"] and "none.json" in err.diagnostics[0].message
    (tmp_path / "notes.txt").write_text('{"type": "object"}')
    assert load_error(write_policy(tmp_path, '{"$ref": "notes.txt"}')).codes == ["E403"]


def test_a_pointer_or_anchor_to_nowhere_is_a_load_error(tmp_path):
    (tmp_path / "defs.json").write_text('{"$defs": {"amount": {"type": "number"}}}')
    for ref in ("#/$defs/nope", "defs.json#/$defs/nope", "defs.json#nope"):
        assert load_error(write_policy(tmp_path, json.dumps({"$ref": ref}))).codes == ["E404"], ref
    # a referenced file that is not JSON, or not a schema
    (tmp_path / "bad.json").write_text('{"type": "object",}')
    assert load_error(write_policy(tmp_path, '{"$ref": "bad.json"}')).codes == ["E401"]
    (tmp_path / "wrong.json").write_text('{"type": "objekt"}')
    assert load_error(write_policy(tmp_path, '{"$ref": "wrong.json"}')).codes == ["E402"]


def _refs_policy(tmp_path: Path) -> Path:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "defs.json").write_text(json.dumps(
        {"$defs": {"amount": {"type": "number", "maximum": 100}, "id": {"$ref": "ids.json"}}}))
    (tmp_path / "schemas" / "ids.json").write_text('{"type": "string", "pattern": "^INV-"}')
    (tmp_path / "schemas" / "refund.json").write_text(json.dumps({
        "type": "object", "required": ["amount"],
        "properties": {"amount": {"$ref": "defs.json#/$defs/amount"},
                       "invoice": {"$ref": "defs.json#/$defs/id"},
                       "note": {"$ref": "#/$defs/note"}},
        "$defs": {"note": {"type": "string", "maxLength": 5}}}))
    p = tmp_path / "p.policy"
    p.write_text('policy "p"\n'
                 'tool refund { schema "schemas/refund.json" risk low }\n'
                 'tool note { schema {"type": "object", "properties": {"x": {"$ref": "schemas/defs.json#/$defs/amount"}}} risk low }\n'
                 'category low { allow }\n', encoding="utf-8")
    return p


CASES = [
    ({"tool": "refund", "args": {"amount": 5, "invoice": "INV-1", "note": "ok"}}, "allow"),
    ({"tool": "refund", "args": {"amount": 500}}, "deny"),
    ({"tool": "refund", "args": {"amount": 5, "invoice": "X-1"}}, "deny"),
    ({"tool": "refund", "args": {"amount": 5, "note": "too long"}}, "deny"),
    ({"tool": "note", "args": {"x": 1}}, "allow"),
    ({"tool": "note", "args": {"x": 101}}, "deny"),
]


def test_relative_refs_below_the_folder_resolve(tmp_path):
    program = load(str(_refs_policy(tmp_path)))
    policy, ref = Policy(program), Interpreter(program)
    for action, want in CASES:
        assert policy.decide(action).outcome == want, action
        assert ref.decide(action).outcome == want, action
    bad = policy.decide(CASES[1][0])
    assert bad.reasons[0].rule == "schema refund" and "maximum of 100" in bad.reasons[0].message


def test_the_digest_covers_every_referenced_file(tmp_path):
    p = _refs_policy(tmp_path)
    before = load(str(p)).digest
    assert load(str(p)).digest == before
    ids = tmp_path / "schemas" / "ids.json"             # two references away from the policy
    ids.write_text('{"type": "string", "pattern": "^INV-[0-9]"}')
    after = load(str(p)).digest
    assert after != before
    (tmp_path / "schemas" / "defs.json").write_text(json.dumps(
        {"$defs": {"amount": {"type": "number", "maximum": 99}, "id": {"$ref": "ids.json"}}}))
    assert load(str(p)).digest not in (before, after)


def test_deciding_does_no_io_at_all(tmp_path, monkeypatch):
    """Sockets and every way to open a file raise while deciding: decisions come out the same."""
    program = load(str(_refs_policy(tmp_path)))
    policy, ref = Policy(program), Interpreter(program)
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args[:2])
        raise AssertionError("I/O while deciding")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(io, "open", refuse)
    monkeypatch.setattr(os, "open", refuse)
    for action, want in CASES:
        assert policy.decide(action).outcome == want, action
        assert ref.decide(action).outcome == want, action
        assert policy.decide_json(json.dumps(action)).outcome == want
    monkeypatch.undo()
    assert calls == []


def test_ids_and_anchors_inside_the_schema_resolve_without_files(tmp_path):
    schema = {"$id": "urn:example:refund", "type": "object",
              "properties": {"a": {"$ref": "urn:example:amount"}, "b": {"$ref": "#big"}},
              "$defs": {"amount": {"$id": "urn:example:amount", "type": "number"},
                        "big": {"$anchor": "big", "minimum": 10}}}
    policy = Policy(load(str(write_policy(tmp_path, json.dumps(schema)))))
    assert policy.decide({"tool": "t", "args": {"a": 1, "b": 11}}).outcome == "allow"
    assert policy.decide({"tool": "t", "args": {"a": "x"}}).outcome == "deny"
    assert policy.decide({"tool": "t", "args": {"b": 1}}).outcome == "deny"


# ---------------------------------------------------------------- finding 15: the schema file itself

def _bounded(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `code` in a subprocess with 1 GiB of address space and a time limit: on the unfixed code
    `/dev/zero` exhausted memory and a FIFO hung, which must not take the test run with them."""
    prelude = ("import resource\n"
               "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n")
    try:
        return subprocess.run([sys.executable, "-c", prelude + code], cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"timed out after {timeout} s: {code!r} ({e.stderr!r})")


LOAD = ("import sys\nfrom policy_lang import PolicyError\nfrom policy_lang.checker import load\n"
        "try:\n    load(sys.argv[1] if len(sys.argv) > 1 else {path!r})\n    print('loaded')\n"
        "except PolicyError as e:\n    print(' '.join(e.codes)); print(e)\n")


@pytest.mark.parametrize("schema", ['"/dev/zero"', '"zero.json"', '"fifo.json"', '"big.json"', '"dir.json"'])
def test_devices_fifos_and_huge_schema_files_are_load_errors(tmp_path, schema):
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo.json")
    with open(tmp_path / "big.json", "wb") as fh:     # sparse: 20 MiB on paper, nothing on disk
        fh.truncate(20 << 20)
    (tmp_path / "dir.json").mkdir()
    p = write_policy(tmp_path, schema)
    r = _bounded(LOAD.format(path=str(p)), timeout=30)
    assert r.returncode == 0, r.stderr[-2000:]
    first, _, rest = r.stdout.partition("\n")
    assert first == "E400", r.stdout
    want = {'"/dev/zero"': "not a `.json` file", '"zero.json"': "not a `.json` file",
            '"fifo.json"': "not a regular file", '"big.json"': "larger than 10 MiB",
            '"dir.json"': "is a directory"}[schema]
    assert want in rest


def test_diff_sees_a_change_in_a_referenced_file(tmp_path):
    from engine.diff import diff
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    for d, maximum in ((old_dir, 100), (new_dir, 50)):
        d.mkdir()
        (d / "defs.json").write_text(json.dumps({"$defs": {"amount": {"type": "number", "maximum": maximum}}}))
        write_policy(d, '{"type": "object", "properties": {"x": {"$ref": "defs.json#/$defs/amount"}}}')
    report = diff(Policy(load(str(old_dir / "p.policy"))), Policy(load(str(new_dir / "p.policy"))), None,
                  witnesses=False)
    assert any(c["what"] == "schema" for c in report["structural"]), report["structural"]
