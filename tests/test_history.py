"""History readers: formats, gzip, stdin, malformed lines, the fast strict JSON path, filters, time order."""
import gzip
import io
import json
import sys

import pytest
from hypothesis import given, settings, strategies as st

from engine.decide.actions import ActionError, InputSyntaxError, loads_action
from engine.replay.history import (History, HistoryError, OutOfOrder, external_sort, make_json_parser,
                                   parse_filters, parse_when, reorder)


def write_lines(path, lines, gz=False):
    data = "".join(line + "\n" for line in lines).encode()
    if gz:
        data = gzip.compress(data)
    path.write_bytes(data)
    return str(path)


def act(i, ts=None, tool="lookup", **extra):
    a = {"id": f"a{i}", "tool": tool, "args": {"n": i}}
    if ts is not None:
        a["timestamp"] = ts
    a.update(extra)
    return json.dumps(a)


def ids(history, **kw):
    return [r[2]["id"] for r in history.records(**kw)]


def test_jsonl_and_gzip_read_the_same(tmp_path):
    lines = [act(i, f"2026-11-01T00:00:0{i}Z") for i in range(5)]
    plain = History([write_lines(tmp_path / "h.jsonl", lines)])
    packed = History([write_lines(tmp_path / "h.jsonl.gz", lines, gz=True)])
    odd_name = History([write_lines(tmp_path / "h.data", lines, gz=True)])  # gzip is found by its bytes
    assert ids(plain) == ids(packed) == ids(odd_name) == [f"a{i}" for i in range(5)]


def test_stdin(monkeypatch):
    data = "\n".join([act(1, "2026-11-01T00:00:01Z"), act(2, "2026-11-01T00:00:02Z")]) + "\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(data.encode()))))
    assert ids(History(["-"])) == ["a1", "a2"]


def test_malformed_lines_fail_by_default_with_file_line_and_column(tmp_path):
    p = write_lines(tmp_path / "h.jsonl", [act(1), '{"tool": "x", "args": {', act(3)])
    with pytest.raises(HistoryError) as e:
        list(History([p]).records())
    assert e.value.where.startswith(f"{p}:2:")
    assert e.value.where == f"{p}:2:24" and "invalid JSON" in e.value.message


def test_malformed_lines_skipped_are_counted_and_listed(tmp_path):
    p = write_lines(tmp_path / "h.jsonl", [act(1), "not json", "", act(3), "[1, 2"])
    h = History([p], on_error="skip")
    assert ids(h) == ["a1", "a3"]
    s = h.stats
    assert (s.lines, s.malformed, s.skipped) == (4, 2, 2)
    assert [x["where"].split(":")[1] for x in s.examples] == ["2", "5"]


def test_duplicate_keys_and_nan_are_input_errors_not_malformed(tmp_path):
    p = write_lines(tmp_path / "h.jsonl", ['{"id": "d", "tool": "a", "tool": "b"}', '{"tool": "a", "args": {"x": NaN}}'])
    h = History([p])
    recs = list(h.records())
    assert [r[5] for r in recs] == ["duplicate key `tool` in action", "`NaN` is not a valid number in an action"]
    assert h.stats.input_errors == 2 and h.stats.malformed == 0


TRICKY = [
    '{"a": 1, "a": 2}',
    '{"a" : 1, "a" : 2}',
    '{"a"\t: 1, "b": {"c": 1, "c": 1}}',
    '{"k:x": "v\\":", "k:x": 1}',
    '{"a\\u003a": 1, "a:": 2}',
    '{"a": "x\\":\\"", "b": [{"c": 1}, {"c": 2, "c": 3}]}',
    '{"a": {"b": {"c": {"d": 1}}}, "e": [[{"f": 1}]]}',
    '{"t": "2026-11-01T10:00:00Z", "u": "a:b:c"}',
    '{"a": 1e400}',
    '{"a": 123456789012345678901234567890}',
    '{"a": "\\ud800"}',
    '{"a": Infinity}',
    '[1, 2]',
    '"text"',
    '{"": 1, "": 2}',
]


@pytest.mark.parametrize("line", TRICKY)
@pytest.mark.parametrize("use_orjson", [True, False])
def test_fast_parser_agrees_with_the_strict_one(line, use_orjson):
    pytest.importorskip("orjson") if use_orjson else None
    parse = make_json_parser(use_orjson)
    try:
        want, want_problem = loads_action(line), None
    except InputSyntaxError:
        with pytest.raises(InputSyntaxError):
            parse(line.encode())
        return
    except ActionError as e:
        want, want_problem = None, e.message
    got, problem, _ = parse(line.encode())
    assert problem == want_problem
    if want_problem is None:
        assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda kids: st.lists(kids, max_size=3) | st.lists(st.tuples(st.sampled_from(["a", "b", "a:", ":", "\""]), kids),
                                                       max_size=4),
    max_leaves=12)


def _dump(v, sep, comma=", "):
    """JSON text of v where a list of pairs is an object that may repeat keys; with sep ":" and
    comma "," it is compact, as orjson writes it, so the round-trip proof is exercised too."""
    if isinstance(v, list) and v and all(isinstance(x, tuple) for x in v):
        return "{" + comma.join(json.dumps(k, ensure_ascii=False) + sep + _dump(x, sep, comma) for k, x in v) + "}"
    if isinstance(v, list):
        return "[" + comma.join(_dump(x, sep, comma) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from([": ", ":", " : ", "\t:"]), st.sampled_from([", ", ","]),
       st.sampled_from(["", "\n"]))
def test_fast_parser_never_misses_a_duplicate_key(value, sep, comma, end):
    text = _dump(value, sep, comma)
    parse = make_json_parser()
    try:
        want_value, want = loads_action(text), None
    except InputSyntaxError:
        return  # lone surrogates and the like: both raise, checked in the tricky cases
    except ActionError as e:
        want_value, want = None, e.message
    got_value, got, _ = parse((text + end).encode("utf-8", "surrogatepass"))
    assert got == want
    if want is None:
        assert json.dumps(got_value, sort_keys=True) == json.dumps(want_value, sort_keys=True)


def test_csv_history(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text('id,timestamp,tool,args,args.amount,tenant.id,confidence,executed\n'
                 'c1,2026-11-01T00:00:00Z,issue_refund,"{""invoice_id"": ""INV-1""}",20.5,acme,0.9,true\n'
                 'c2,2026-11-01T00:00:01Z,lookup,,,acme,,\n'
                 'c3,2026-11-01T00:00:02Z,lookup\n')
    h = History([str(p)], on_error="skip")
    recs = list(h.records())
    assert recs[0][2] == {"id": "c1", "timestamp": "2026-11-01T00:00:00Z", "tool": "issue_refund",
                          "args": {"invoice_id": "INV-1", "amount": 20.5}, "tenant": {"id": "acme"},
                          "confidence": 0.9, "executed": True}
    assert recs[1][2] == {"id": "c2", "timestamp": "2026-11-01T00:00:01Z", "tool": "lookup", "tenant": {"id": "acme"}}
    assert h.stats.malformed == 1 and h.stats.examples[0]["where"] == f"{p}:4"


def test_csv_without_tool_column_is_an_error(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("id,args\n1,{}\n")
    with pytest.raises(HistoryError, match="needs a `tool` column"):
        list(History([str(p)]).records())


def test_parquet_history(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    table = pa.table({"id": ["p1", "p2"], "timestamp": ["2026-11-01T00:00:00Z", None],
                      "tool": ["issue_refund", "lookup"],
                      "args": [{"amount": 10.0, "invoice_id": "I"}, None],
                      "tenant.id": ["acme", "globex"], "confidence": [0.5, None]})
    pq.write_table(table, tmp_path / "h.parquet")
    recs = list(History([str(tmp_path / "h.parquet")]).records())
    assert recs[0][2] == {"id": "p1", "timestamp": "2026-11-01T00:00:00Z", "tool": "issue_refund",
                          "args": {"amount": 10.0, "invoice_id": "I"}, "tenant": {"id": "acme"}, "confidence": 0.5}
    assert recs[1][2] == {"id": "p2", "tool": "lookup", "tenant": {"id": "globex"}}
    assert recs[1][0] == recs[0][0]  # no timestamp: the time of the action before it


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    p = tmp_path / "h.parquet"
    p.write_bytes(b"PAR1" + b"\0" * 20)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(HistoryError, match=r"signoff\[sim\]"):
        list(History([str(p)]).records())


def test_unreadable_file(tmp_path):
    with pytest.raises(HistoryError, match="no such file"):
        list(History([str(tmp_path / "nope.jsonl")]).records())


def test_filters_since_until_and_tool(tmp_path):
    lines = [act(i, f"2026-11-0{i}T12:00:00Z", tool="a" if i % 2 else "b", tenant={"id": f"t{i % 3}"})
             for i in range(1, 8)]
    p = write_lines(tmp_path / "h.jsonl", lines)
    h = History([p], since=parse_when("2026-11-02"), until=parse_when("2026-11-06T00:00:00Z"))
    assert ids(h) == ["a2", "a3", "a4", "a5"]
    assert h.stats.filtered == 3
    assert ids(History([p], filters=parse_filters(["tool=a"]))) == ["a1", "a3", "a5", "a7"]
    assert ids(History([p], filters=parse_filters(["tool=a,b", "tenant=t1"]))) == ["a1", "a4", "a7"]
    assert ids(History([p], filters=parse_filters(["args.n=3"]))) == ["a3"]
    with pytest.raises(ValueError):
        parse_filters(["tool"])


def test_sample_is_deterministic_and_in_time_order(tmp_path):
    lines = [act(i, f"2026-11-01T00:{i // 60:02d}:{i % 60:02d}Z") for i in range(500)]
    p = write_lines(tmp_path / "h.jsonl", lines)
    a = ids(History([p], sample=50, seed=7))
    b = ids(History([p], sample=50, seed=7))
    c = ids(History([p], sample=50, seed=8))
    assert a == b and a != c and len(a) == 50
    assert a == sorted(a, key=lambda x: int(x[1:]))
    h = History([p], sample=50, seed=7)
    list(h.records())
    assert h.stats.sampled_out == 450


def test_reorder_window_fixes_local_disorder_and_refuses_more():
    def recs(ts):
        return iter([(t, i, {"id": i}, "f", i + 1, None, True) for i, t in enumerate(ts)])
    assert [r[0] for r in reorder(recs([1, 3, 2, 4, 4, 5]), window=2)] == [1, 2, 3, 4, 4, 5]
    with pytest.raises(OutOfOrder) as e:
        list(reorder(recs([5, 6, 7, 8, 1]), window=2))
    assert e.value.where == "f:5"
    out = list(external_sort(recs([9, 1, 8, 2, 7, 3, 5, 5]), run_size=3))
    assert [r[0] for r in out] == [1, 2, 3, 5, 5, 7, 8, 9]
    assert [r[1] for r in out if r[0] == 5] == [6, 7]  # equal times keep reading order


def test_files_merge_by_time_and_missing_timestamps_follow_the_line_before(tmp_path):
    a = write_lines(tmp_path / "a.jsonl", [act(1, "2026-11-01T00:00:01Z"), act(3, "2026-11-01T00:00:03Z"), act(4)])
    b = write_lines(tmp_path / "b.jsonl", [act(2, "2026-11-01T00:00:02Z"), act(5, "2026-11-01T00:00:05Z")])
    h = History([b, a])
    recs = list(h.records())
    assert [r[2]["id"] for r in recs] == ["a1", "a2", "a3", "a4", "a5"]
    assert recs[3][0] == recs[2][0]


def test_unsorted_file_is_detected(tmp_path):
    lines = [act(i, f"2026-11-01T00:{i // 60:02d}:{i % 60:02d}Z") for i in range(50)] + [act(99, "2026-10-01T00:00:00Z")]
    p = write_lines(tmp_path / "h.jsonl", lines)
    with pytest.raises(OutOfOrder):
        list(History([p], window=10).records())
    assert ids(History([p], window=10), external=True)[0] == "a99"


def _reorder_one_by_one(records, window):
    """The reorder window record by record, as a plain reference for the batched one."""
    held, last_t = [], float("-inf")
    for rec in records:
        if rec[0] < last_t:
            raise OutOfOrder(f"{rec[3]}:{rec[4]}", rec[0], last_t)
        i = len(held)
        while i > 0 and held[i - 1][0] > rec[0]:
            i -= 1
        held.insert(i, rec)
        if len(held) > window:
            out = held.pop(0)
            last_t = out[0]
            yield out
    yield from held


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=60), st.integers(1, 8), st.lists(st.integers(1, 9), min_size=1))
def test_batched_reorder_is_the_record_by_record_window(times, window, sizes):
    from engine.replay.history import reorder_batches
    recs = [(float(t), i, {"id": i}, "f", i + 1, None, True) for i, t in enumerate(times)]
    batches, i, k = [], 0, 0
    while i < len(recs):
        n = sizes[k % len(sizes)]
        batches.append(recs[i:i + n])
        i, k = i + n, k + 1

    def outcome(gen):
        try:
            return [r[1] for r in gen], None
        except OutOfOrder as e:
            return None, e.where
    got = outcome(r for b in reorder_batches(iter(batches), window) for r in b)
    assert got == outcome(_reorder_one_by_one(recs, window))


def test_timestamp_shapes_are_all_rfc3339():
    """The set lookup that stands in for the RFC 3339 regex may only accept what the regex accepts."""
    from engine.decide.actions import _RFC3339
    from engine.replay.history import _TS_SHAPES
    assert len(_TS_SHAPES) == 150
    for shape in _TS_SHAPES:
        assert _RFC3339.fullmatch(shape.decode().replace("9", "1")), shape


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(json_values, st.sampled_from([": ", ":"]), st.sampled_from([", ", ","])), max_size=12),
       st.booleans())
def test_reading_a_file_gives_the_strict_verdict_line_by_line(tmp_path_factory, rows, final_newline):
    """Through History (the inline round-trip step of the reader included): every line's action and
    input problem are what loads_action says, and every line is counted once."""
    texts = []
    for value, sep, comma in rows:
        text = _dump(value if isinstance(value, list) and value and all(isinstance(x, tuple) for x in value)
                     else [("tool", "t"), ("v", value)], sep, comma)
        texts.append(text)
    if not texts:
        return
    p = tmp_path_factory.mktemp("h") / "h.jsonl"
    data = "\n".join(texts) + ("\n" if final_newline else "")
    p.write_bytes(data.encode("utf-8", "surrogatepass"))
    h = History([str(p)], on_error="skip")
    got = {r[4]: (r[2], r[5]) for r in h.records()}
    want_lines = 0
    for n, text in enumerate(texts, 1):
        want_lines += 1
        try:
            want, problem = loads_action(text), None
        except InputSyntaxError:
            assert n not in got
            continue
        except ActionError as e:
            want, problem = None, e.message
        if not isinstance(want, dict) and problem is None:
            continue  # not an object: decided later as an input error, not the reader's business
        assert got[n][1] == problem, text
        if problem is None:
            assert json.dumps(got[n][0], sort_keys=True) == json.dumps(want, sort_keys=True)
    assert h.stats.lines == want_lines
