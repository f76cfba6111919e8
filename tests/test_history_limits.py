"""History readers cap one record's size while reading and decompressing (finding 10 of issue 10)."""
import csv
import gzip
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from engine.replay.history import MAX_RECORD_BYTES, History, HistoryError

ROOT = Path(__file__).resolve().parent.parent
POLICY = 'policy "p"\ntool t { risk high }\ncategory high { allow }\n'
OK = {"tool": "t", "timestamp": "2026-01-01T00:00:00Z"}


def gzip_bomb(path: Path, line_bytes: int = 2 << 30) -> None:
    """A .jsonl.gz whose second line is `line_bytes` long. Built from gzip members (a gzip file may
    hold several, read as one stream): one 16 MiB member of zeros, compressed once, written again
    and again, so building a 2 GiB line takes a fraction of a second and ~2 MB of disk."""
    chunk = 16 << 20
    zeros = gzip.compress(b"0" * chunk, compresslevel=9)
    with open(path, "wb") as fh:
        fh.write(gzip.compress((json.dumps(OK) + "\n" + '{"tool": "t", "args": {"x": "').encode()))
        for _ in range(line_bytes // chunk):
            fh.write(zeros)
        fh.write(gzip.compress(b'"}}\n' + (json.dumps(OK) + "\n").encode()))


def _run_capped(args, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """The CLI in a child with 1 GiB of address space: the unfixed reader took 10.5 GB here."""
    code = ("import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
            "from cli.main import cli\n"
            "cli(sys.argv[1:])\n")
    try:
        return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    except subprocess.TimeoutExpired:
        pytest.fail(f"`signoff {' '.join(args)}` still running after {timeout} s")


def test_a_gzip_bomb_fails_fast_in_small_memory(tmp_path):
    bomb = tmp_path / "bomb.jsonl.gz"
    gzip_bomb(bomb)
    assert bomb.stat().st_size < 4 << 20
    (tmp_path / "p.policy").write_text(POLICY)
    start = time.monotonic()
    r = _run_capped(["simulate", str(tmp_path / "p.policy"), "--history", str(bomb)], tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    assert f"error: {bomb}:2: record larger than 1 MiB (raise the limit with --max-record-bytes)" in r.stderr
    assert "Traceback" not in r.stderr and "MemoryError" not in r.stderr
    assert time.monotonic() - start < 60


def test_skipping_the_bomb_line_keeps_memory_small_and_reads_on(tmp_path):
    bomb = tmp_path / "bomb.jsonl.gz"
    gzip_bomb(bomb, 256 << 20)
    (tmp_path / "p.policy").write_text(POLICY)
    r = _run_capped(["simulate", str(tmp_path / "p.policy"), "--history", str(bomb), "--on-error", "skip",
                     "--format", "json"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout)
    assert report["read"]["lines"] == 3 and report["errors"]["malformed"] == 1 and report["total"] == 2
    assert report["errors"]["lines"][0]["where"] == f"{bomb}:2"


def _history(path: Path, **kw):
    h = History([str(path)], **kw)
    return [(r[4], r[2]) for r in h.records()], h.stats


def test_the_cap_is_exact_and_can_be_raised(tmp_path):
    line = json.dumps({"tool": "t", "args": {"x": "y" * 100}})
    p = tmp_path / "h.jsonl"
    p.write_text(json.dumps(OK) + "\n" + line + "\n")
    got, _ = _history(p, max_record_bytes=len(line))        # the newline does not count
    assert [n for n, _ in got] == [1, 2]
    with pytest.raises(HistoryError) as info:
        _history(p, max_record_bytes=len(line) - 1)
    assert info.value.where == f"{p}:2" and "record larger than" in info.value.message
    # the same line without its final newline
    p.write_text(line)
    with pytest.raises(HistoryError):
        _history(p, max_record_bytes=len(line) - 1)
    assert len(_history(p, max_record_bytes=len(line))[0]) == 1
    assert MAX_RECORD_BYTES == 1 << 20


def test_cli_option_raises_the_cap_for_simulate_and_diff(tmp_path):
    (tmp_path / "p.policy").write_text(POLICY)
    big = {"tool": "t", "timestamp": "2026-01-01T00:00:00Z", "args": {"x": "y" * (2 << 20)}}
    h = tmp_path / "h.jsonl"
    h.write_text(json.dumps(OK) + "\n" + json.dumps(big) + "\n")
    pol = str(tmp_path / "p.policy")
    r = CliRunner().invoke(cli, ["simulate", pol, "--history", str(h)])
    assert r.exit_code == 2 and f"{h}:2: record larger than 1 MiB" in r.output
    r = CliRunner().invoke(cli, ["simulate", pol, "--history", str(h), "--max-record-bytes", str(4 << 20)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["diff", pol, pol, "--history", str(h), "--no-witness"])
    assert r.exit_code == 2 and f"{h}:2: record larger than 1 MiB" in r.output
    r = CliRunner().invoke(cli, ["diff", pol, pol, "--history", str(h), "--no-witness",
                                 "--max-record-bytes", str(4 << 20)])
    assert r.exit_code == 0, r.output


def _csv(rows) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["tool", "timestamp", "args"])
    for r in rows:
        w.writerow(r)
    return out.getvalue()


def test_a_csv_row_over_the_cap_names_its_line(tmp_path):
    p = tmp_path / "h.csv"
    small = ["t", "2026-01-01T00:00:00Z", '{"x": 1}']
    big_one_line = ["t", "2026-01-01T00:00:01Z", json.dumps({"x": "y" * 5000})]
    big_many_lines = ["t", "2026-01-01T00:00:02Z", json.dumps({"x": "y\n" * 3000})]  # a quoted field over lines
    p.write_text(_csv([small, big_one_line, small]))
    with pytest.raises(HistoryError) as info:
        _history(p, max_record_bytes=1000)
    assert info.value.where == f"{p}:3" and "record larger than 1,000 bytes" in info.value.message
    p.write_text(_csv([small, big_many_lines, small]))
    with pytest.raises(HistoryError) as info:
        _history(p, max_record_bytes=1000)
    assert info.value.where == f"{p}:3"
    # skipping goes on with the next record, line numbers intact
    p.write_text(_csv([small, big_one_line, small, big_many_lines, small]))
    got, stats = _history(p, max_record_bytes=1000, on_error="skip")
    assert stats.malformed == 2 and [e["where"] for e in stats.examples] == [f"{p}:3", f"{p}:5"]
    assert len(got) == 3 and got[0][0] == 2 and got[1][0] == 4
    # within the cap everything reads, the field limit of the csv module included (128 KiB by default)
    p.write_text(_csv([small, ["t", "2026-01-01T00:00:01Z", json.dumps({"x": "y" * 500_000})]]))
    assert len(_history(p)[0]) == 2


def test_a_csv_bomb_line_fails_fast_in_small_memory(tmp_path):
    bomb = tmp_path / "bomb.csv.gz"
    chunk = 16 << 20
    zeros = gzip.compress(b"0" * chunk, compresslevel=9)
    with open(bomb, "wb") as fh:
        fh.write(gzip.compress(b"tool,timestamp,args\nt,2026-01-01T00:00:00Z,\nt,2026-01-01T00:00:01Z,"))
        for _ in range(64):
            fh.write(zeros)
        fh.write(gzip.compress(b"\n"))
    (tmp_path / "p.policy").write_text(POLICY)
    r = _run_capped(["simulate", str(tmp_path / "p.policy"), "--history", str(bomb)], tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    assert f"{bomb}:3: record larger than 1 MiB" in r.stderr


def test_a_parquet_row_over_the_cap_names_its_row(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    p = tmp_path / "h.parquet"
    n = 5
    table = pa.table({
        "tool": ["t"] * n,
        "timestamp": [f"2026-01-01T00:00:0{i}Z" for i in range(n)],
        "args": ['{"x": 1}', '{"x": "' + "y" * 5000 + '"}', '{"x": 1}', '{"x": 1}', '{"x": 1}'],
        "context": pa.array([{"tags": ["a"]}, {"tags": ["a"]}, {"tags": ["a"]},
                             {"tags": ["z" * 3000, "z" * 3000]}, {"tags": []}],
                            pa.struct([("tags", pa.list_(pa.string()))])),
    })
    pq.write_table(table, p)
    with pytest.raises(HistoryError) as info:
        _history(p, max_record_bytes=4000)
    assert info.value.where == f"{p}:row 2" and "record larger than 4,000 bytes" in info.value.message
    got, stats = _history(p, max_record_bytes=4000, on_error="skip")
    assert [n for n, _ in got] == [1, 3, 5]          # row 4: two nested strings add up past the cap
    assert [e["where"] for e in stats.examples] == [f"{p}:row 2", f"{p}:row 4"]
    assert len(_history(p)[0]) == 5


def test_a_parquet_row_group_too_large_for_its_rows_is_refused_before_reading(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    p = tmp_path / "h.parquet"
    # one row of 8 MiB that compresses to almost nothing: refused from the metadata alone
    pq.write_table(pa.table({"tool": ["t"], "args": ['{"x": "' + "0" * (8 << 20) + '"}']}), p,
                   compression="zstd")
    assert p.stat().st_size < 1 << 20
    with pytest.raises(HistoryError) as info:
        _history(p)
    assert info.value.where == f"{p}:rows 1-1" and "record larger than 1 MiB" in info.value.message


# ---------------------------------------------------------------- fuzz (bounded)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_LINE = st.one_of(
    st.just(json.dumps(OK)),
    st.integers(0, 300).map(lambda n: json.dumps({"tool": "t", "args": {"x": "y" * n}})),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.text(max_size=50),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_LINE, max_size=12), cap=st.integers(1, 400), gz=st.booleans(),
       ending=st.sampled_from(["\n", "\r\n", ""]))
def test_any_jsonl_bytes_read_or_fail_with_a_place(tmp_path, lines, cap, gz, ending):
    """Arbitrary lines under an arbitrary cap: every record read is within the cap, and a failure
    is a HistoryError naming the file (never another exception)."""
    data = ending.join(lines).encode("utf-8", "surrogatepass")
    p = tmp_path / ("h.jsonl.gz" if gz else "h.jsonl")
    p.write_bytes(gzip.compress(data) if gz else data)
    for on_error in ("skip", "fail"):
        h = History([str(p)], on_error=on_error, max_record_bytes=cap)
        try:
            records = list(h.records(external=True))
        except HistoryError as e:
            assert e.where.startswith(str(p))
            continue
        physical = data.replace(b"\r\n", b"\n").split(b"\n")
        for r in records:
            assert len(physical[r[4] - 1].rstrip(b"\r")) <= cap


def test_check_history_caps_one_record_while_streaming(tmp_path):
    """`check --history` streams its JSON Lines with the same one-record cap: a 3 MiB line is refused by
    file and line (exit 2), and the lines before it are not what is reported."""
    from cli.main import cli
    root = Path(__file__).resolve().parent.parent
    hist = tmp_path / "h.jsonl"
    with open(hist, "wb") as f:
        f.write(b'{"tool": "issue_refund", "args": {"amount": 1}, "tenant": {"id": "acme"}, '
                b'"timestamp": "2026-11-20T10:00:00Z"}\n')
        f.write(b'{"tool": "x", "pad": "' + b"a" * (3 * 1024 * 1024) + b'"}\n')
    r = CliRunner().invoke(cli, ["check", str(root / "examples/support-ops/support.policy"), "--action",
                                 str(root / "examples/support-ops/refund.json"), "--history", str(hist)])
    assert r.exit_code == 2, r.output
    assert f"{hist}:2: a record longer than 1,048,576 bytes" in r.stderr
    ok = tmp_path / "ok.jsonl"
    ok.write_bytes(b'{"tool": "issue_refund", "args": {"amount": 1}, "tenant": {"id": "acme"}, '
                   b'"timestamp": "2026-11-20T10:00:00Z"}\n')
    r = CliRunner().invoke(cli, ["check", str(root / "examples/support-ops/support.policy"), "--action",
                                 str(root / "examples/support-ops/refund.json"), "--history", str(ok)])
    assert r.exit_code == 0, r.output
