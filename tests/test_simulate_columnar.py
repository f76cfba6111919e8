"""`simulate --engine columnar`: the same report and decisions file as the row engine, byte for byte."""
import dataclasses
import gzip
import json
import math
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import load_policy
from engine.replay.columnar import plan_columnar, simulate_columnar
from engine.replay.history import History
from engine.replay.simulate import simulate
from policy_lang.checker import load
from policy_lang import ast as A
from policy_lang.printer import print_module
from engine.decide.evaluator import Policy

from strategies import actions as gen_actions
from strategies import policies

ROOT = Path(__file__).resolve().parents[1]
OBJECTS = ("args", "tenant", "agent", "context", "human")


def _text_ok(v):
    try:
        v.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _plain(v):
    """A value Parquet can hold and JSON can write (datetimes as text, lone surrogates replaced)."""
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, str) and not _text_ok(v):
        return "?"
    if isinstance(v, dict):
        return {(k if _text_ok(k) else "?"): _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def flatten(actions):
    """Actions as dotted columns (two levels under the object fields), each column of one Parquet type:
    text, booleans, 64-bit integers, doubles, or JSON text when its values are of mixed kinds."""
    rows = []
    for a in actions:
        row = {}
        for k, v in _plain(a).items():
            if k in OBJECTS:
                if isinstance(v, dict):
                    for k1, v1 in v.items():
                        row[(k, k1)] = v1
            else:
                row[(k,)] = v
        rows.append(row)
    nested = {c for r in rows for c, v in r.items() if len(c) == 2 and isinstance(v, dict)}
    expand = {c for c in nested if all(not isinstance(r.get(c), (str, int, float, bool, list)) for r in rows)}
    flat = []
    for r in rows:
        out = {}
        for c, v in r.items():
            if c in expand:
                if isinstance(v, dict):
                    for k2, v2 in v.items():
                        out[c + (k2,)] = v2
            else:
                out[c] = v
        flat.append(out)
    names = sorted({c for r in flat for c in r})
    names = [c for c in names if not any(d != c and d[:len(c)] == c for d in names)]
    columns = {}
    for c in names:
        vals = [r.get(c) for r in flat]
        present = [v for v in vals if v is not None]
        if all(isinstance(v, str) for v in present):
            arr = pa.array(vals, pa.string())
        elif all(isinstance(v, bool) for v in present):
            arr = pa.array(vals, pa.bool_())
        elif all(isinstance(v, int) and not isinstance(v, bool) and -2 ** 63 <= v < 2 ** 63 for v in present):
            arr = pa.array(vals, pa.int64())
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool)
                 and (not math.isfinite(v) or abs(v) < 1e300) for v in present):
            arr = pa.array([None if v is None else float(v) for v in vals], pa.float64())
        else:
            arr = pa.array([None if v is None else json.dumps(v) for v in vals], pa.string())
        columns[".".join(c)] = arr
    if "tool" not in columns:
        columns["tool"] = pa.array([None] * len(actions), pa.string())
    return pa.table(columns)


def both(policy, paths, **kw):
    """The report and decisions file of each engine, as bytes."""
    out = []
    with tempfile.TemporaryDirectory() as d:
        for k, run in enumerate((simulate, simulate_columnar)):
            dec = os.path.join(d, f"d{k}.jsonl")
            history = History(list(paths), **{x: v for x, v in kw.items() if x in ("since", "until")})
            report = run(policy, history, kw.get("assume_approved", False), dec, None, kw.get("external_sort", False))
            out.append((json.dumps(report), Path(dec).read_bytes()))
    return out


def assert_same(policy, paths, **kw):
    (r_row, d_row), (r_col, d_col) = both(policy, paths, **kw)
    assert r_col == r_row
    assert d_col == d_row


HUMANS = st.one_of(
    st.none(), st.none(),
    st.fixed_dictionaries({"verdict": st.sampled_from(["approved", "edited", "rejected", "expired", "odd"]),
                           "by": st.sampled_from(["maria", "li"])}),
    st.fixed_dictionaries({"verdict": st.just("edited"),
                           "edited_args": st.fixed_dictionaries({"amount": st.sampled_from([0, 5, 300.5])})}))


def _roomy(decl, schemas: bool, limit):
    """Without schemas and with budget limits out of reach, more of a policy is the columnar engine's."""
    if isinstance(decl, A.Tool) and not schemas:
        return dataclasses.replace(decl, schema=None)
    if isinstance(decl, A.Check) and limit is not None:
        return dataclasses.replace(decl, lines=tuple(dataclasses.replace(x, limit=limit) if isinstance(x, A.Budget)
                                                     else x for x in decl.lines))
    return decl


@st.composite
def cases(draw):
    gp = draw(policies(max_tools=3))
    schemas, limit = draw(st.booleans()), draw(st.sampled_from([None, 10 ** 6, 2 ** 60]))
    gp = dataclasses.replace(gp, decls=tuple(_roomy(x, schemas, limit) for x in gp.decls))
    n = draw(st.integers(1, 40))
    acts = []
    base = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
    for i in range(n):
        a = draw(gen_actions(gp))
        if draw(st.integers(0, 2)) == 0:   # near one another, so budgets meet their windows
            a["timestamp"] = (base + timedelta(seconds=draw(st.sampled_from([0, 1, 30, 3600])) * i)
                              ).strftime("%Y-%m-%dT%H:%M:%S") + draw(st.sampled_from(["Z", ".5Z", "+02:00"]))
        h = draw(HUMANS)
        if h is not None:
            a["human"] = h
        acts.append(a)
    if draw(st.integers(0, 3)):      # an edited amount anywhere makes every budget the row engine's
        for a in acts:
            if isinstance(a.get("human"), dict):
                a["human"].pop("edited_args", None)
    since = draw(st.sampled_from([None, None, datetime(2026, 11, 20, 12, 0, 30, tzinfo=timezone.utc).timestamp()]))
    return gp, acts, draw(st.booleans()), draw(st.integers(0, 3)), since


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(cases())
def test_random_policies_and_histories_give_identical_reports(case):
    """A disagreement between the engines is a bug, never a tolerance: the whole report and the whole
    decisions file are compared as bytes."""
    gp, acts, assume, split, since = case
    text = print_module(gp.decls)
    with tempfile.TemporaryDirectory() as d:
        pol = Path(d) / "p.policy"
        pol.write_text(text)
        policy = Policy(load(str(pol), text))
        table = flatten(acts)
        paths = []
        if split and len(acts) > 1:       # two files, replayed as one history
            cut = len(acts) // 2
            for k, part in enumerate((table.slice(0, cut), table.slice(cut))):
                paths.append(os.path.join(d, f"h{k}.parquet"))
                pq.write_table(part, paths[-1])
        else:
            paths.append(os.path.join(d, "h.parquet"))
            pq.write_table(table, paths[0])
        assert_same(policy, paths, assume_approved=assume, since=since)
        plan = plan_columnar(policy, History(paths, since=since))
        if plan is not None and plan.tb.n:
            # the representatives' actions are the Parquet reader's own, keys in the same order
            rows = list(range(plan.tb.n))
            assert json.dumps(plan.tb.actions(rows)) == json.dumps(plan.tb.actions_by_reader(rows))


def _support_parquet(d, name, lines):
    src = ROOT / "examples" / name
    opener = gzip.open if src.suffix == ".gz" else open
    with opener(src, "rt", encoding="utf-8") as fh:
        acts = [json.loads(x) for _, x in zip(range(lines), fh) if x.strip()]
    out = os.path.join(d, "h.parquet")
    pq.write_table(flatten(acts), out)
    return out


@pytest.mark.parametrize("policy,history", [
    ("support-ops/support.policy", "support-ops/history.jsonl"),
    ("support-ops/support.policy", "support-ops/history-30d.jsonl.gz"),
    ("finance-backoffice/finance.policy", "finance-backoffice/history-30d.jsonl.gz"),
    ("sales-ops/sales.policy", "sales-ops/history-30d.jsonl.gz"),
])
@pytest.mark.parametrize("assume", [False, True])
def test_bundled_histories_give_identical_reports(policy, history, assume):
    """The bundled examples (their first 2,500 actions, as Parquet): the same report and decisions."""
    pol = load_policy(str(ROOT / "examples" / policy))
    with tempfile.TemporaryDirectory() as d:
        path = _support_parquet(d, history, 2500)
        assert_same(pol, [path], assume_approved=assume)
        assert_same(pol, [path], assume_approved=assume, since=datetime(2026, 11, 10, tzinfo=timezone.utc).timestamp())


BENCH_POLICY = """policy "b"
route team { approvers "lead" quorum 1 }
tool pay {
  risk low when args.amount <= 100 and args.kind missing
  risk high otherwise
}
tool look { risk low }
category low {
  allow when confidence >= 0.6
  require approval via team otherwise
}
category high { require approval via team when args.amount <= 1000  deny "too large" otherwise }
check ref on pay { require args.ref present else deny "no ref" }
check spend on pay { budget sum(args.amount) per tenant per 1d <= LIMIT else escalate to "fin" }
check rate on look { budget count() per agent per 1h <= 1000 else escalate to "ops" }
"""


def _bench(d, limit, n=3000):
    text = BENCH_POLICY.replace("LIMIT", str(limit)).replace("  deny", "\n  deny")
    p = Path(d) / "b.policy"
    p.write_text(text)
    acts = []
    t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
    for i in range(n):
        a = {"id": f"a{i}", "tool": ["pay", "look", "other"][i % 3],
             "timestamp": (t0 + timedelta(seconds=37 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "tenant": {"id": f"t{i % 7}"}, "agent": {"id": f"b{i % 5}"},
             "args": {"amount": (i * 7919) % 1500 / 4, "ref": f"R{i}"}, "confidence": (i % 10) / 10}
        if i % 11 == 0:
            del a["args"]["ref"]
        if i % 13 == 0:
            a["args"]["kind"] = "bulk"
        acts.append(a)
    h = os.path.join(d, "h.parquet")
    pq.write_table(flatten(acts), h)
    return load_policy(str(p)), h


def test_budgets_proven_under_their_limit_are_decided_in_classes():
    """With limits no window can reach, every valid row is keyed into a class (the columnar path really
    runs), far fewer classes than rows, and the result is still the row engine's."""
    with tempfile.TemporaryDirectory() as d:
        pol, h = _bench(d, 10 ** 9)
        plan = plan_columnar(pol, History([h]))
        assert plan is not None
        assert (plan.cls >= 0).all()
        assert len(plan.classes) < 200
        assert not plan.notes
        assert_same(pol, [h])


def test_a_budget_that_binds_goes_to_the_row_engine():
    """A budget some window exceeds cannot be decided per class: its tools are the row engine's (and the
    escalations it gives are the row engine's, in the same report)."""
    with tempfile.TemporaryDirectory() as d:
        pol, h = _bench(d, 2000)
        plan = plan_columnar(pol, History([h]))
        assert plan is not None
        assert "check spend" in plan.notes
        codes = plan.tb.cols[("tool",)].arr.to_pylist()
        assert all((c < 0) == (t == "pay") for c, t in zip(plan.cls.tolist(), codes))
        (r_row, d_row), (r_col, d_col) = both(pol, [h], assume_approved=True)
        assert (r_col, d_col) == (r_row, d_row)
        assert json.loads(r_col)["outcomes"]["escalate"] > 0


def test_rows_the_input_checks_refuse_and_human_verdicts_go_to_the_row_engine():
    with tempfile.TemporaryDirectory() as d:
        pol, _ = _bench(d, 10 ** 9)
        acts = [{"tool": "pay", "args": {"amount": 5.0, "ref": "r"}, "confidence": c, "tenant": {"id": "t"},
                 "timestamp": ts} for c, ts in [(0.5, "2026-11-01T00:00:00Z"), (1.5, "2026-11-01T00:00:01Z"),
                                                (math.nan, "2026-11-01T00:00:02Z"), (0.9, "2026-02-30T00:00:00Z"),
                                                (0.9, "2026-11-01t00:00:03z"), (0.9, None)]]
        acts.append({"tool": "pay", "args": {"amount": 5.0}, "human": {"verdict": "approved"},
                     "timestamp": "2026-11-01T00:00:04Z"})
        acts.append({"tool": "", "timestamp": "2026-11-01T00:00:05Z"})
        h = os.path.join(d, "odd.parquet")
        pq.write_table(flatten(acts), h)
        plan = plan_columnar(pol, History([h]))
        assert plan is not None
        # only the first and the one without a timestamp are certain to pass the input checks
        assert [c >= 0 for c in plan.cls.tolist()] == [True, False, False, False, False, True, False, False]
        assert_same(pol, [h])


def test_histories_the_columnar_reader_does_not_take_are_replayed_by_the_row_engine():
    """JSON Lines, nested columns, a sample: the row engine replays them whole, with the same report."""
    pol = load_policy(str(ROOT / "examples/support-ops/support.policy"))
    jsonl = str(ROOT / "examples/support-ops/history.jsonl")
    assert plan_columnar(pol, History([jsonl])) is None
    assert_same(pol, [jsonl])
    with tempfile.TemporaryDirectory() as d:
        nested = os.path.join(d, "nested.parquet")
        pq.write_table(pa.table({"tool": ["issue_refund"], "args": pa.array([{"amount": 5}])}), nested)
        assert plan_columnar(pol, History([nested])) is None
        assert_same(pol, [nested])


def test_an_unsorted_file_is_reported_as_sorted_externally_like_the_row_engine():
    with tempfile.TemporaryDirectory() as d:
        pol, _ = _bench(d, 10 ** 9)
        t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
        order = list(range(3000, 0, -1))          # newest first: beyond any reorder window
        acts = [{"id": f"a{i}", "tool": "look", "agent": {"id": "b"},
                 "timestamp": (t0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")} for i in order]
        h = os.path.join(d, "rev.parquet")
        pq.write_table(flatten(acts), h)
        (r_row, d_row), (r_col, d_col) = both(pol, [h])
        assert json.loads(r_row)["read"]["sorted_externally"] is True
        assert (r_col, d_col) == (r_row, d_row)


def test_cli_engine_columnar_prints_what_the_row_engine_prints():
    with tempfile.TemporaryDirectory() as d:
        _, h = _bench(d, 10 ** 9, 300)
        outs = []
        for engine in ("row", "columnar"):
            r = subprocess.run([sys.executable, "-m", "cli", "simulate", str(Path(d) / "b.policy"), "--history", h,
                                "--format", "json", "--engine", engine], capture_output=True, text=True,
                               cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
            assert r.returncode == 0, r.stderr
            outs.append(r.stdout)
        assert outs[0] == outs[1]
        assert json.loads(outs[0])["total"] == 300


def test_missing_extra_is_a_clear_error_naming_it():
    """Without pyarrow the columnar engine says which extra to install (exit 2, no traceback)."""
    with tempfile.TemporaryDirectory() as d:
        _, h = _bench(d, 10 ** 9, 10)
        code = ("import sys; sys.modules['pyarrow'] = None; sys.modules['numpy'] = None; "
                "from cli.main import main; sys.argv = ['signoff'] + sys.argv[1:]; main()")
        r = subprocess.run([sys.executable, "-c", code, "simulate", str(Path(d) / "b.policy"), "--history", h,
                            "--engine", "columnar"], capture_output=True, text=True, cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert r.returncode == 2
        assert "signoff[sim]" in r.stderr
        assert "Traceback" not in r.stderr


def test_disorder_among_filtered_out_rows_does_not_count():
    """--since drops rows before the row engine's reorder window sees them: disorder only among them
    needs no external sort, and the columnar engine reports it so too."""
    with tempfile.TemporaryDirectory() as d:
        pol, _ = _bench(d, 10 ** 9)
        t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
        early = list(range(3000, 0, -1))            # disordered, all before --since
        late = [10 ** 5 + i for i in range(50)]       # in order
        acts = [{"id": f"a{i}", "tool": "look", "agent": {"id": "b"},
                 "timestamp": (t0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")} for i in early + late]
        h = os.path.join(d, "part.parquet")
        pq.write_table(flatten(acts), h)
        since = (t0 + timedelta(seconds=10 ** 5)).timestamp()
        (r_row, d_row), (r_col, d_col) = both(pol, [h], since=since)
        assert json.loads(r_row)["read"]["sorted_externally"] is False
        assert (r_col, d_col) == (r_row, d_row)


def test_an_empty_parquet_history():
    with tempfile.TemporaryDirectory() as d:
        pol, _ = _bench(d, 10 ** 9)
        h = os.path.join(d, "empty.parquet")
        pq.write_table(pa.table({"tool": pa.array([], pa.string())}), h)
        assert_same(pol, [h])


def test_a_corrupt_parquet_file_is_the_row_engines_error():
    with tempfile.TemporaryDirectory() as d:
        pol, h = _bench(d, 10 ** 9, 50)
        data = Path(h).read_bytes()
        bad = os.path.join(d, "bad.parquet")
        Path(bad).write_bytes(data[:8] + bytes(len(data) - 16) + data[-8:])
        errors = []
        for run in (simulate, simulate_columnar):
            with pytest.raises(Exception) as e:
                run(pol, History([bad]))
            errors.append((type(e.value).__name__, str(e.value)))
        assert errors[0] == errors[1]
        assert errors[0][0] == "HistoryError"


def test_minus_zero_and_zero_share_a_budget_bucket():
    """The ledger counts `-0.0` and `0.0` under one key: the proof that a budget never binds must too."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "z.policy"
        p.write_text('policy "z"\ntool t { risk low }\ncategory low { allow }\n'
                     'check once on t { budget count() per args.k per 1h <= 1 else deny "twice" }\n')
        pol = load_policy(str(p))
        h = os.path.join(d, "z.parquet")
        pq.write_table(pa.table({"tool": ["t", "t"], "args.k": pa.array([0.0, -0.0]),
                                 "timestamp": ["2026-11-01T00:00:00Z", "2026-11-01T00:00:01Z"]}), h)
        (r_row, d_row), (r_col, d_col) = both(pol, [h])
        assert json.loads(r_row)["outcomes"]["deny"] == 1
        assert (r_col, d_col) == (r_row, d_row)


def _stamp(draw):
    """A timestamp of the strict shape or near it: fields in and out of range, fractions of 0 to 7 digits,
    zones `Z`, `z`, offsets in and out of range, far years where microseconds pass 2**53."""
    year = draw(st.sampled_from([1, 2, 1690, 1900, 1969, 1970, 2000, 2024, 2026, 2100, 2255, 2400, 9998, 9999]))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, second = draw(st.integers(0, 25)), draw(st.integers(0, 61)), draw(st.integers(0, 61))
    frac = draw(st.sampled_from(["", "", ".", ".5", ".25", ".123", ".000001", ".999999", ".1234567"]))
    zone = draw(st.sampled_from(["Z", "Z", "z", "+00:00", "-00:00", "+05:30", "-12:00", "+23:59", "+24:00",
                                 "-01:60", "+0530", "", " "]))
    sep = draw(st.sampled_from(["T", "T", "t", " "]))
    text = f"{year:04d}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}:{second:02d}{frac}{zone}"
    return draw(st.sampled_from([text, text, text, text[:-1], text + "\n", "٢" + text[1:], None]))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_column_times_are_the_row_engines_reading(data):
    """Every row's time as engine.replay.history reads it, and a row marked certain only where check_action
    accepts its timestamp: texts of one length (read as a matrix) and of many, over two chunks."""
    import numpy as np
    import pyarrow.compute as pc
    from engine.decide.actions import parse_timestamp
    from engine.replay.columnar.times import column_times, row_time
    stamps = data.draw(st.lists(st.composite(lambda draw: _stamp(draw))(), min_size=1, max_size=40))
    if data.draw(st.booleans()):
        stamps = [stamps[0]] * len(stamps)
    cut = data.draw(st.integers(0, len(stamps)))
    col = pa.chunked_array([pa.array(stamps[:cut], pa.string()), pa.array(stamps[cut:], pa.string())])
    t, ok = column_times(np, pa, pc, pa.table({"timestamp": col}), len(stamps))
    last = 0.0
    for i, v in enumerate(stamps):
        want = row_time(v) if v is not None else math.nan
        want = (t[i - 1] if i else last) if math.isnan(want) else want
        assert t[i] == want, v
        if ok[i] and v is not None:
            parse_timestamp(v)      # raises if check_action would refuse it


def test_far_future_timestamps_keep_the_row_engines_order():
    """Past 2**53 microseconds (after 2255) a time is the division datetime.timestamp() makes, not Arrow's
    microseconds rounded to a double and divided again: two actions a microsecond apart in 2400, written
    newest first, replay in time order as the row engine replays them (they were a tie before)."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "f.policy"
        p.write_text('policy "f"\ntool t { risk low }\ncategory low { allow }\n')
        pol = load_policy(str(p))
        h = os.path.join(d, "far.parquet")
        pq.write_table(pa.table({"tool": ["t", "t"], "id": ["b", "a"],
                                 "timestamp": ["2400-01-01T00:00:00.000001Z", "2400-01-01T00:00:00Z"]}), h)
        (r_row, d_row), (r_col, d_col) = both(pol, [h])
        assert [json.loads(x)["id"] for x in d_row.splitlines()] == ["a", "b"]
        assert (r_col, d_col) == (r_row, d_row)


DENY_POLICY = """policy "g"
tool t0 { risk low }
tool t1 { risk low }
tool t2 { risk low }
tool t3 { risk low }
category low { allow when confidence >= 0.5  deny "low confidence" otherwise }
check r0 on t0 { require args.ref present else deny "no ref 0" }
check r1 on t1 { require args.ref present else ask "ref 1?" }
check r2 on t2 { require args.ref present else escalate to "ops" }
check r3 on t3 { require args.n < 1 else deny "n" }
"""


@pytest.mark.parametrize("ids", ["all", "some", "none"])
@pytest.mark.parametrize("max_groups", [1000, 2])
def test_classes_counted_in_bulk_keep_groups_and_examples(monkeypatch, ids, max_groups):
    """Denials, asks and escalations of many rows: a class's first rows go through Tally.add_all and the
    rest are added as counts, with the row engine's groups, counts and examples — with ids on every row,
    on some (examples are the first rows with one), or none, and with the group tables capped so that
    groups overflow into `(other)`."""
    import engine.replay.aggregates as agg
    monkeypatch.setattr(agg, "MAX_GROUPS", max_groups)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "g.policy"
        p.write_text(DENY_POLICY.replace("  deny", "\n  deny"))
        pol = load_policy(str(p))
        t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
        acts = []
        for i in range(900):
            a = {"tool": f"t{i % 4}", "confidence": (i % 7) / 6, "args": {"n": i % 3},
                 "timestamp": (t0 + timedelta(minutes=7 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")}
            if i % 5:
                a["args"]["ref"] = f"r{i}"
            if ids == "all" or (ids == "some" and i % 3 == 0):
                a["id"] = f"a{i}"
            acts.append(a)
        h = os.path.join(d, "g.parquet")
        pq.write_table(flatten(acts), h)
        plan = plan_columnar(pol, History([h]))
        assert plan is not None and (plan.cls >= 0).all()
        (r_row, d_row), (r_col, d_col) = both(pol, [h])
        assert (r_col, d_col) == (r_row, d_row)
        report = json.loads(r_row)
        assert report["outcomes"]["deny"] > 100 and report["outcomes"]["ask"] > 10
        listed = report["denials"] + report["asks"] + report["escalations"]
        assert any(x["at"] == "(other)" for x in listed) == (max_groups == 2)
        assert any(x["examples"] for x in listed) == (ids != "none")
