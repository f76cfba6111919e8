"""The Spark backend: a history replayed on Apache Spark, partitioned by budget key, its report merged by time.

The shape of the job (docs/simulate.md, "On Apache Spark"):

1. The driver reads the history with the same readers, filters, sample and time rules as the row
   engine (`History.batches`), so the `read` statistics and every record's time and order are the
   row engine's. While reading it groups the records that share a ledger: every budget key a record
   may read (its action as decided) or write (its action as executed, a human's `edited_args`
   applied) is a node, a record joins its keys, and the connected components (union-find) are the
   groups. A record that touches several keys (`per tenant` and `per agent` lines on one tool) thus
   ties their groups together; a record that touches none (a tool without budgets) is a group of
   its own and goes anywhere.
2. Replay (`mapInArrow`): the records are hash-partitioned by group and sorted by (time, seq) inside
   each partition; each partition replays its records with the shared `step` and its own ledger.
   A group never spans two partitions, so every budget reads exactly the executions the one-pass
   replay would have counted: decisions are identical, not approximations.
3. Report (`mapInArrow` again): the replayed steps are range-partitioned by (time, seq); each range
   adds its steps to a `Tally`, and the driver merges the tallies in time order (`Tally.merge`). When
   a range fills one of the report's capped tables on its own (a merge would then differ from one
   pass, see engine.replay.aggregates), the driver instead adds the steps in order to one tally.
   The decisions file is written by the driver in (time, seq) order, byte for byte the row engine's.

The workers rebuild the policy from its root text (shipped) and the files it uses (read at the same
paths) and refuse to replay if its digest differs from the driver's. They import signoff: on a
cluster ship it with `spark-submit --py-files` (a wheel or a zip of the packages).
"""
from __future__ import annotations

import io
import json
import os
import shutil
from functools import partial
from typing import Any, Callable, Dict, Hashable, Iterator, List, Optional, Tuple

from ..decide.decision import RANK, Decision, Reason
from ..decide.evaluator import Policy, load_policy
from ..decide.graph import BudgetNode
from ..decide.ledger import MemoryLedger
from ..decide.values import EvalError
from .aggregates import MAX_GROUPS, Tally, iso
from .history import History, HistoryError, OutOfOrder, Record
from .simulate import PRUNE_EVERY, DecisionSink

__all__ = ["SparkError", "simulate_spark", "spark_available", "tally_state", "tally_from_state"]

_MARK = "signoff-spark-job:"   # prefixes a worker's error, so the driver can find it in Spark's exception text


class SparkError(Exception):
    """The Spark engine cannot run (`code` spark_unavailable: pyspark or a Java runtime is missing) or its
    job failed (`code` spark_job_failed: the message names the partition and the record)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def spark_available() -> None:
    """Raise SparkError (spark_unavailable) unless pyspark imports and a Java runtime is on JAVA_HOME or PATH."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise SparkError("spark_unavailable", "the spark engine needs pyspark: install the `signoff[spark]` extra "
                         "(pip install 'signoff[spark]')") from None
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return
    if shutil.which("java") is None:
        raise SparkError("spark_unavailable", "the spark engine needs a Java runtime (17 or later) and found no "
                         "`java` on PATH or JAVA_HOME: install one, e.g. apt-get install -y default-jre-headless")


# ------------------------------------------------------------------ what travels between driver and workers
# Plain JSON through the standard library (NaN and lone surrogates survive it, as in the external sort's
# spill files); never pickle. Spark itself ships the module-level functions below by reference.

def _reason_state(r: Reason) -> List[Any]:
    return [r.rule, r.outcome, r.message, r.at, r.advisory, r.route, r.target, r.source]


def _reason(s: List[Any]) -> Reason:
    return Reason(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7])


def _step_state(row: Tuple[Any, ...], where: str) -> str:
    _t, outcome, _rank, category, reasons, aid, action, tool, human, problem, executed, _d = row
    return json.dumps([outcome, category, [_reason_state(r) for r in reasons], aid, action, tool, human, problem,
                       executed, where])


def _step_row(t: float, state: str) -> Tuple[Tuple[Any, ...], str]:
    """The `StepRow` of a step's state (without its Decision), and where its record was read (FILE:LINE)."""
    outcome, category, reasons, aid, action, tool, human, problem, executed, where = json.loads(state)
    return (t, outcome, RANK[outcome], category, [_reason(r) for r in reasons], aid, action, tool, human, problem,
            executed, None), where


def tally_state(t: Tally) -> Dict[str, Any]:
    """A tally as JSON-ready state (what a worker sends the driver); `tally_from_state` reads it back."""
    h = t.humans
    return {
        "n": t.n, "executed": t.executed, "outcomes": t.outcomes, "first": t.first, "last": t.last,
        "cells": [[*k, c] for k, c in t.cells.items()], "tools_seen": list(t.tools_seen),
        "route_days": [[*k, n] for k, n in t.route_days.items()],
        "reasons": [[list(k), n, ids] for k, (n, ids) in t.reasons.items()],
        "errors": [[list(k), n, ids] for k, (n, ids) in t.errors.items()],
        "input_errors": t.input_errors, "eval_errors": t.eval_errors,
        "budgets": list(t.budgets.lines.values()),
        "confusion": h.confusion, "verdicts": h.verdicts, "no_verdict": h.no_verdict,
        "risk": [[list(k), g] for k, g in h.risk.items()], "friction": [[list(k), g] for k, g in h.friction.items()],
    }


def tally_from_state(policy: Policy, s: Dict[str, Any]) -> Tally:
    """The tally of `tally_state`'s output, for `policy`."""
    t = Tally(policy)
    t.n, t.executed, t.outcomes, t.first, t.last = s["n"], s["executed"], s["outcomes"], s["first"], s["last"]
    t.cells = {(tool, cat, day): c for tool, cat, day, c in s["cells"]}
    t.tools_seen = dict.fromkeys(s["tools_seen"])
    t.route_days = {(r, d): n for r, d, n in s["route_days"]}
    t.reasons.table = {tuple(k): [n, ids] for k, n, ids in s["reasons"]}
    t.errors.table = {tuple(k): [n, ids] for k, n, ids in s["errors"]}
    t.input_errors, t.eval_errors = s["input_errors"], s["eval_errors"]
    t.budgets.lines = {b["at"]: b for b in s["budgets"]}
    h = t.humans
    h.confusion, h.verdicts, h.no_verdict = s["confusion"], s["verdicts"], s["no_verdict"]
    h.risk = {tuple(k): g for k, g in s["risk"]}
    h.friction = {tuple(k): g for k, g in s["friction"]}
    return t


def _saturated(t: Tally) -> bool:
    """Whether a capped table of the tally is full: merged after another, it might not give one pass's report."""
    h = t.humans
    return (max(len(t.reasons.table), len(t.errors.table), len(t.tools_seen), len(h.risk), len(h.friction),
                max((len(b["keys"]) for b in t.budgets.lines.values()), default=0)) >= MAX_GROUPS)


# ------------------------------------------------------------------ the driver's grouping

def budget_keys(policy: Policy) -> Callable[[Any], List[Hashable]]:
    """`keys(action)`: the ledger keys a replayed action may read or write, over every budget line of its tool
    (an alias's target's), for the action as decided and as executed (a human's `edited_args` applied).
    A line whose key the action lacks reads and writes nothing (the decision gives an error reason)."""
    g = policy.graph
    default = g.default
    lines: Dict[str, List[BudgetNode]] = {name: [c for c in node.checks if isinstance(c, BudgetNode)]
                                          for name, node in g.tools.items()}
    default_lines = [c for c in default.checks if isinstance(c, BudgetNode)] if default is not None else []
    aliases = dict(g.aliases)

    def of(a: Any, out: List[Hashable]) -> None:
        tool = a.get("tool")
        if tool.__class__ is not str:
            return
        target = aliases.get(tool)
        if target is not None:
            a = {**a, "tool": target}
        for node in lines.get(target or tool, default_lines):
            try:
                key = node.key_of(a)
            except EvalError:
                continue
            if key not in out:
                out.append(key)

    def keys(action: Any) -> List[Hashable]:
        out: List[Hashable] = []
        if action.__class__ is not dict:
            return out
        of(action, out)
        human = action.get("human")
        if human.__class__ is dict and human.get("verdict") == "edited":
            edited = human.get("edited_args")
            if edited.__class__ is dict:
                args = action.get("args")
                of(dict(action, args={**args, **edited} if args.__class__ is dict else edited), out)
        return out

    return keys


class KeyGroups:
    """Union-find over budget keys: records that share a key, directly or through others, share a group."""

    def __init__(self) -> None:
        self.index: Dict[Hashable, int] = {}
        self.parent: List[int] = []

    def find(self, i: int) -> int:
        """The root of node i (paths halved on the way)."""
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(self, keys: List[Hashable]) -> int:
        """Put the keys in one group; returns a node of it (-1 for no keys)."""
        first = -1
        for k in keys:
            i = self.index.get(k)
            if i is None:
                i = self.index[k] = len(self.parent)
                self.parent.append(i)
            if first < 0:
                first = i
            else:
                a, b = self.find(first), self.find(i)
                if a != b:
                    self.parent[b] = a
        return first


# ------------------------------------------------------------------ the workers

_POLICIES: Dict[Tuple[str, str], Policy] = {}


def _worker_policy(pid: int, path: str, text: str, digest: str) -> Policy:
    """The driver's policy, rebuilt once per worker process; refused if its digest differs."""
    got = _POLICIES.get((path, digest))
    if got is None:
        try:
            got = load_policy(path, text)
        except Exception as e:  # a load error on the worker: the files it uses are not the driver's
            raise RuntimeError(f"{_MARK} partition {pid}: the policy does not load on the worker: "
                               f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        if got.digest != digest:
            raise RuntimeError(f"{_MARK} partition {pid}: the policy read on the worker (files it uses at "
                               f"`{path}`'s folder) differs from the driver's: give the workers the same policy files")
        _POLICIES[(path, digest)] = got
    return got


def _partition() -> int:
    from pyspark import TaskContext
    ctx = TaskContext.get()
    return ctx.partitionId() if ctx is not None else -1


def _line_writer() -> Callable[[Decision, str, int], bytes]:
    """`line(decision, source, line)`: the `--decisions` line of a decision, written by the row engine's own
    DecisionSink (the same serialiser, orjson when installed, so the same bytes) into memory."""
    sink = DecisionSink(os.devnull)
    sink.fh.close()
    buf = sink.fh = io.BytesIO()

    def line_of(d: Decision, src: str, line: int) -> bytes:
        out = d.to_dict()
        out["id"] = d.action_id
        out["source"] = f"{src}:{line}"
        buf.seek(0)
        buf.truncate()
        sink.write(out)
        return buf.getvalue()
    return line_of


def _replay_partition(policy_src: Tuple[str, str, str], assume_approved: bool, decisions: bool,
                      batches: Iterator[Any]) -> Iterator[Any]:
    """`mapInArrow`: one partition's records (sorted by time, seq) replayed with one ledger, as steps."""
    import pyarrow as pa

    from .step import stepper
    pid = _partition()
    policy = _worker_policy(pid, *policy_src)
    step = stepper(policy, assume_approved, decisions)
    window = policy.max_window()
    line_of = _line_writer()
    ledger = MemoryLedger()
    pruned = float("-inf")
    n = 0
    for batch in batches:
        ts, seqs, payloads = (batch.column(i).to_pylist() for i in range(3))
        positions = batch.column(3)
        states: List[str] = []
        lines: List[Optional[bytes]] = []
        for t, seq, payload in zip(ts, seqs, payloads):
            src, line, problem, checked, action = json.loads(payload)
            rec: Record = (t, seq, action, src, line, problem, checked)
            try:
                row = step(rec, ledger)
                states.append(_step_state(row, f"{src}:{line}"))
                d = row[11]   # a Decision when the step was asked for them
                lines.append(line_of(d, src, line) if d is not None else None)
            except Exception as e:  # the replay fails closed, naming where
                raise RuntimeError(f"{_MARK} partition {pid}, record `{src}:{line}`: "
                                   f"{str(e) or type(e).__name__}") from None
            n += 1
            if window and not n % PRUNE_EVERY and t - window > pruned:
                pruned = t - window
                ledger.prune(pruned)   # the records after this one are no earlier: nothing they read is lost
        yield pa.RecordBatch.from_arrays([positions, pa.array(ts, pa.float64()), pa.array(states, pa.string()),
                                          pa.array(lines, pa.binary())], names=["pos", "t", "step", "decision"])


def _tally_partition(policy_src: Tuple[str, str, str], batches: Iterator[Any]) -> Iterator[Any]:
    """`mapInArrow`: steps sorted by replay position into one tally per time range (a partition may hold several
    ranges, each a contiguous run of positions), each sent as JSON state."""
    import pyarrow as pa
    pid = _partition()
    policy = _worker_policy(pid, *policy_src)
    tallies: Dict[int, Tally] = {}
    for batch in batches:
        rngs, ts, states = (batch.column(i).to_pylist() for i in range(3))
        for r, t, state in zip(rngs, ts, states):
            tally = tallies.get(r)
            if tally is None:
                tally = tallies[r] = Tally(policy)
            step, where = _step_row(t, state)
            try:
                tally.add(step)
            except Exception as e:  # the report fails closed too, naming where
                raise RuntimeError(f"{_MARK} partition {pid}, record `{where}`: {str(e) or type(e).__name__}") from None
    if tallies:
        yield pa.RecordBatch.from_arrays([pa.array(list(tallies), pa.int64()),
                                          pa.array([json.dumps(tally_state(t)) for t in tallies.values()],
                                                   pa.string())],
                                         names=["rng", "tally"])


def _job_error(e: Exception) -> SparkError:
    """A failed Spark job's error, from the worker's message when there is one."""
    text = str(e)
    i = text.find(_MARK)
    if i >= 0:
        message = text[i + len(_MARK):].strip().splitlines()[0]
    else:
        message = (text.strip().splitlines() or [type(e).__name__])[0]
    return SparkError("spark_job_failed", f"the spark job failed: {message}")


# ------------------------------------------------------------------ the driver

def _root(policy: Policy) -> Tuple[str, str, str]:
    root = next(f for f in policy.program.files if f.is_root)
    return root.path, root.text, policy.digest


def _read(policy: Policy, history: History, external: bool) -> Any:
    """The history's records as an Arrow table: time, seq, the record's JSON, its group, and its place in
    replay order (`History.batches` gives them in that order)."""
    import pyarrow as pa
    keys_of = budget_keys(policy)
    groups = KeyGroups()
    ts: List[float] = []
    seqs: List[int] = []
    anchors: List[int] = []
    payloads: List[str] = []
    dumps = json.dumps
    for batch in history.batches(external=external):
        for t, seq, action, src, line, problem, checked in batch:
            ts.append(t)
            seqs.append(seq)
            anchors.append(groups.join(keys_of(action)))
            payloads.append(dumps([src, line, problem, checked, action]))
    # a record's group: its keys' component, or (no keys) a group of its own, numbered apart
    group = [groups.find(a) if a >= 0 else -1 - i for i, a in enumerate(anchors)]
    return pa.table({"t": pa.array(ts, pa.float64()), "seq": pa.array(seqs, pa.int64()),
                     "payload": pa.array(payloads, pa.string()), "grp": pa.array(group, pa.int64()),
                     "pos": pa.array(range(len(ts)), pa.int64())})


def simulate_spark(policy: Policy, history: History, assume_approved: bool = False, decisions: Optional[str] = None,
                   external_sort: bool = False, spark: Any = None, partitions: Optional[int] = None) -> Dict[str, Any]:
    """Replay `history` through `policy` on Apache Spark: the report (and the `decisions` file) of
    `engine.replay.simulate.simulate`, the same byte for byte. `spark` is the session to use (by default
    the active one, or one made by `SparkSession.builder`, so `spark-submit --master` decides where it
    runs); `partitions` is how many replay partitions (default: Spark's default parallelism).

    Raises SparkError when pyspark or Java is missing or the job fails, HistoryError as the row engine."""
    if spark is None:
        spark_available()
    try:
        table = _read(policy, history, external_sort)
    except OutOfOrder as e:
        if history.has_stdin:
            raise HistoryError(e.where, f"history is not in timestamp order (an action at {iso(e.t)} comes "
                               f"after one at {iso(e.last)}, beyond the reorder window of "
                               f"{history.window} actions); stdin is read once: sort it first, "
                               "or pass --external-sort") from None
        table = _read(policy, history, True)   # as the row engine does: the statistics say it was sorted externally
    options = {"assume_approved": assume_approved, "on_error": history.on_error, "sample": history.sample,
               "seed": history.seed if history.sample is not None else None,
               "since": iso(history.since) if history.since is not None else None,
               "until": iso(history.until) if history.until is not None else None,
               "filters": history.filters or {}, "histories": [("<stdin>" if p == "-" else p) for p in history.paths]}
    sink = DecisionSink(decisions) if decisions is not None else None
    try:
        tally = _run(policy, table, assume_approved, decisions is not None, sink, spark, partitions)
    finally:
        if sink is not None:
            sink.close()
    return tally.report(history.stats, options)


def _session() -> Any:
    """The active Spark session, or a new one (`spark-submit`'s master, else `local[*]`)."""
    from pyspark.sql import SparkSession
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    try:
        spark = (SparkSession.builder.appName("signoff simulate").config("spark.ui.showConsoleProgress", "false")
                 .getOrCreate())
    except Exception as e:  # the JVM did not start (a Java too old, no memory…): say so, not how
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise SparkError("spark_unavailable", f"spark did not start ({first}): the spark engine needs a Java "
                         "runtime 17 or later, e.g. apt-get install -y default-jre-headless") from None
    spark.sparkContext.setLogLevel("ERROR")   # a session of our own: its warnings are not the user's business
    return spark


def _run(policy: Policy, table: Any, assume_approved: bool, want_decisions: bool, sink: Optional[DecisionSink],
         spark: Any, partitions: Optional[int]) -> Tally:
    """The two Spark stages over the records' table; the merged tally (the decisions written to `sink`)."""
    if table.num_rows == 0:
        return Tally(policy)
    if spark is None:
        spark = _session()
    src = _root(policy)
    n_parts = partitions or spark.sparkContext.defaultParallelism
    df = spark.createDataFrame(table)
    # the records came in replay order: `pos` is each one's place in it, `rng` its time range (n_parts of them)
    replayed = (df.repartition(n_parts, "grp").sortWithinPartitions("pos").select("t", "seq", "payload", "pos")
                .mapInArrow(partial(_replay_partition, src, assume_approved, want_decisions),
                            "pos long, t double, step string, decision binary"))
    try:
        steps = replayed.persist()
        try:
            per_range = (steps.selectExpr(f"CAST(pos * {n_parts} DIV {table.num_rows} AS LONG) AS rng", "pos", "t",
                                          "step")
                         .repartition(n_parts, "rng").sortWithinPartitions("pos").select("rng", "t", "step")
                         .mapInArrow(partial(_tally_partition, src), "rng long, tally string").collect())
            tallies = [tally_from_state(policy, json.loads(r["tally"]))
                       for r in sorted(per_range, key=lambda r: r["rng"])]
            if any(_saturated(t) for t in tallies[1:]):
                # a range filled a capped table: merging could differ from one pass, so add in order
                tally = Tally(policy)
                for r in steps.select("pos", "t", "step").sort("pos").toLocalIterator():
                    tally.add(_step_row(r["t"], r["step"])[0])
            else:
                tally = tallies[0]
                for t in tallies[1:]:
                    tally.merge(t)
            if sink is not None and sink.fh is not None:
                for r in steps.select("pos", "decision").sort("pos").toLocalIterator():
                    sink.fh.write(r["decision"])
        finally:
            steps.unpersist()
    except SparkError:
        raise
    except Exception as e:  # Spark's errors (Py4J, a worker's) become one message naming where it failed
        if type(e).__module__.startswith(("pyspark", "py4j")):
            raise _job_error(e) from None
        raise
    return tally
