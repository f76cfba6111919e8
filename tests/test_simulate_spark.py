"""`signoff simulate --engine spark`: the Spark backend gives the row engine's report and decisions file, byte
for byte, on the bundled histories and on random ones with tight budgets (pyspark in `local[2]` mode).

The Spark session is one per module (starting a JVM takes seconds). Without pyspark or Java these tests are
skipped, unless SIGNOFF_SPARK_TESTS=1 (the README's test command), which makes that a failure. The tests of
the clear errors for a missing pyspark or Java run everywhere: they run the CLI in a subprocess.
"""
from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine import History, SparkError, load_policy, parse_when, run_simulation, simulate_spark
from engine.replay.spark import KeyGroups, _replay_partition, budget_keys, tally_from_state, tally_state

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _spark_or_skip():
    missing = []
    try:
        import pyspark  # noqa: F401
        import pandas  # noqa: F401
    except ImportError as e:
        missing.append(f"pyspark ({e.name}): pip install 'signoff[spark]'")
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        missing.append("java: sh tests/install-java.sh")
    if missing:
        why = "the spark engine's tests need " + ", ".join(missing)
        if os.environ.get("SIGNOFF_SPARK_TESTS") == "1":
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture(scope="module")
def spark():
    _spark_or_skip()
    from pyspark.sql import SparkSession
    # tuned for a short run on small data (measured: about half the start-up and first-job time): no web UI,
    # no adaptive re-planning or whole-stage code generation, the JVM's quick JIT tier and serial GC
    session = (SparkSession.builder.master("local[2]").appName("signoff tests")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "2").config("spark.sql.adaptive.enabled", "false")
               .config("spark.sql.codegen.wholeStage", "false")
               .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _both(policy, make_history, tmp_path, spark, partitions=None, **kw):
    """(row report, spark report, row decisions bytes, spark decisions bytes)."""
    row_d, spark_d = tmp_path / "row.jsonl", tmp_path / "spark.jsonl"
    a = run_simulation(policy, make_history(), decisions=str(row_d), **kw)
    b = simulate_spark(policy, make_history(), decisions=str(spark_d), spark=spark, partitions=partitions, **kw)
    return json.dumps(a), json.dumps(b), row_d.read_bytes(), spark_d.read_bytes()


# The 30-day histories' first 4,000 actions (a file of their own: reading all 100,000 lines twice, for each
# engine, would cost more than the Spark job). The support history's whole first day is the CLI test's.
# `binds`: a budget binds in that stretch of history, so a split budget key would show.
BUNDLED = [("support-ops", "support.policy", "history.jsonl", None, False),
           ("finance-backoffice", "finance.policy", "history-30d.jsonl.gz", 4000, True),
           ("sales-ops", "sales.policy", "history-30d.jsonl.gz", 4000, False)]


@pytest.mark.parametrize("folder,policy,history,head,binds", BUNDLED)
def test_bundled_histories_give_the_row_engines_report_and_decisions(spark, tmp_path, folder, policy, history, head,
                                                                     binds):
    pol = load_policy(str(EXAMPLES / folder / policy))
    path = EXAMPLES / folder / history
    if head is not None:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            lines = [next(fh) for _ in range(head)]
        path = tmp_path / "head.jsonl"
        path.write_text("".join(lines), encoding="utf-8")
    row, spk, row_d, spk_d = _both(pol, lambda: History([str(path)]), tmp_path, spark, partitions=3)
    report = json.loads(row)
    assert report["total"] == (head or 2)
    assert bool(report["budget_exhaustion"]) is binds
    assert spk == row
    assert spk_d == row_d


# ------------------------------------------------------------------ random histories with tight budgets

RANDOM_POLICY = """
policy "spark-random"
version "1"
route review {
  approvers "lead"
  quorum 1
}
tool pay {
  risk medium
}
tool wire as pay
tool note {
  risk low
}
category low {
  allow when confidence >= 0.5
  require approval via review otherwise
}
category medium {
  allow when confidence >= 0.6
  require approval via review otherwise
}
check pay_limits on pay {
  budget sum(args.amount) per tenant per 1h <= 200 else escalate to "finance"
  budget count() per agent per 1h <= 4 else require approval via review
  budget count() per tenant, args.customer per 1d <= 3 else deny "paid this customer twice today"
}
"""


def _random_history(rng: random.Random, n: int) -> str:
    lines = []
    t = 1_767_225_600  # 2026-01-01
    for i in range(n):
        t += rng.choice([0, 0, 1, 30, 120, 600])
        a = {"id": f"r{i}", "tool": rng.choice(["pay", "pay", "wire", "note", "other"]),
             "tenant": {"id": rng.choice(["t1", "t2", "t3"])},
             "agent": {"id": rng.choice(["a1", "a2", "a3", "a4"])},   # agents work for several tenants
             "args": {"amount": rng.choice([10, 50, 99.5, 150]), "customer": f"c{rng.randint(1, 6)}"},
             "confidence": rng.choice([0.3, 0.7, 0.95])}
        if rng.random() < 0.9:   # else the action takes the time of the one before it
            a["timestamp"] = datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if rng.random() < 0.1:
            del a["agent"]           # a missing budget key: an error reason, no ledger
        r = rng.random()
        if r < 0.3:
            a["human"] = {"verdict": "approved", "by": "lead"}
        elif r < 0.45:
            # an edit that moves the action to another customer: it is counted under the edited key
            a["human"] = {"verdict": "edited", "edited_args": {"customer": rng.choice(["c1", "c4"])}}
        elif r < 0.5:
            a["human"] = {"verdict": "rejected"}
        lines.append(json.dumps(a))
    return "\n".join(lines) + "\n"


def test_a_random_history_with_budgets_gives_the_row_engines_results(spark, tmp_path):
    rng = random.Random(1)
    (tmp_path / "p.policy").write_text(RANDOM_POLICY, encoding="utf-8")
    pol = load_policy(str(tmp_path / "p.policy"))
    hist = tmp_path / "h.jsonl"
    hist.write_text(_random_history(rng, 1500), encoding="utf-8")
    row, spk, row_d, spk_d = _both(pol, lambda: History([str(hist)]), tmp_path, spark, partitions=4)
    report = json.loads(row)
    # the budgets bind, so a partitioning that split a budget key's actions would change decisions
    assert {b["check"] for b in report["budget_exhaustion"]} == {"pay_limits"}
    assert len(report["budget_exhaustion"]) == 3
    assert spk == row
    assert spk_d == row_d
    # two files, one of them backwards: merged by time, and sorted externally (the reorder window is tiny)
    lines = hist.read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "even.jsonl").write_text("".join(lines[0::2]), encoding="utf-8")
    (tmp_path / "odd.jsonl").write_text("".join(reversed(lines[1::2])), encoding="utf-8")

    def two_files():
        return History([str(tmp_path / "even.jsonl"), str(tmp_path / "odd.jsonl")], window=8)
    row, spk, row_d, spk_d = _both(pol, two_files, tmp_path, spark, partitions=2, assume_approved=True)
    assert json.loads(row)["read"]["sorted_externally"] is True
    assert spk == row
    assert spk_d == row_d


def test_a_time_range_that_fills_a_capped_table_is_tallied_in_one_pass(spark, tmp_path):
    # tool a0 comes back after 2,100 other tools: one pass counts it under its name (it was among the first
    # 1,000), but the second time range, alone, has filed it under `(other)`; merging would keep that
    actions = [{"id": f"x{i}", "tool": f"a{i}"} for i in range(10)]
    actions += [{"id": f"y{i}", "tool": f"b{i}"} for i in range(2100)] + [{"id": "z", "tool": "a0"}]
    hist = tmp_path / "h.jsonl"
    hist.write_text("".join(json.dumps(a) + "\n" for a in actions), encoding="utf-8")
    pol = load_policy(str(EXAMPLES / "support-ops" / "support.policy"))
    row, spk, row_d, spk_d = _both(pol, lambda: History([str(hist)]), tmp_path, spark, partitions=2)
    assert json.loads(row)["by_tool"]["a0"]["total"] == 2
    assert spk == row
    assert spk_d == row_d


def test_actions_that_touch_several_budget_keys_join_their_groups(tmp_path):
    (tmp_path / "p.policy").write_text(RANDOM_POLICY, encoding="utf-8")
    keys = budget_keys(load_policy(str(tmp_path / "p.policy")))
    g = KeyGroups()

    def pay(tool, tenant, agent, **more):
        return {"tool": tool, "tenant": {"id": tenant}, "agent": {"id": agent}, "args": {"amount": 1, "customer": "c1"},
                **more}
    a = g.join(keys(pay("pay", "t1", "a1")))
    b = g.join(keys(pay("pay", "t2", "a2")))
    assert g.find(a) != g.find(b)
    # a2 works for t1 too: everything of t1, t2, a1 and a2 is one group now
    c = g.join(keys(pay("wire", "t1", "a2")))
    assert g.find(a) == g.find(b) == g.find(c)
    # a tool without budgets touches no key; an edit is grouped by the edited key as well
    assert keys({"tool": "note", "tenant": {"id": "t1"}}) == []
    edited = keys(pay("pay", "t3", "a3", human={"verdict": "edited", "edited_args": {"customer": "c9"}}))
    assert len(edited) == 4


def test_tally_state_reads_back_as_the_same_report(tmp_path):
    pol = load_policy(str(EXAMPLES / "support-ops" / "support.policy"))
    from engine import Simulation
    sim = Simulation(pol)
    sim.run_batches(History([str(EXAMPLES / "support-ops" / "history-30d.jsonl.gz")],
                            until=parse_when("2026-11-02")).batches())
    again = tally_from_state(pol, json.loads(json.dumps(tally_state(sim.tally))))
    assert json.dumps(again.report()) == json.dumps(sim.tally.report())


def test_the_cli_engine_spark_prints_the_row_engines_report(spark, tmp_path):
    from cli.main import cli
    args = ["simulate", str(EXAMPLES / "support-ops" / "support.policy"), "--history",
            str(EXAMPLES / "support-ops" / "history-30d.jsonl.gz"), "--until", "2026-11-02", "--format", "json"]
    row = CliRunner().invoke(cli, args)
    spk = CliRunner().invoke(cli, args + ["--engine", "spark"])
    assert row.exit_code == 0 and spk.exit_code == 0, spk.output
    assert spk.stdout == row.stdout


# ------------------------------------------------------------------ faults

def test_a_worker_that_reads_another_policy_fails_the_job_naming_the_partition(spark, tmp_path):
    folder = tmp_path / "support"
    shutil.copytree(EXAMPLES / "support-ops", folder)
    pol = load_policy(str(folder / "support.policy"))
    # the schema file the policy uses changes after the driver loaded it: the workers must refuse
    schema = folder / "schemas" / "refund.json"
    schema.write_text(schema.read_text(encoding="utf-8").replace("{", '{"title": "changed", ', 1), encoding="utf-8")
    with pytest.raises(SparkError) as e:
        simulate_spark(pol, History([str(folder / "history.jsonl")]), spark=spark)
    assert e.value.code == "spark_job_failed"
    assert "partition " in e.value.message and "differs from the driver's" in e.value.message
    assert "Traceback" not in e.value.message and "Exception" not in e.value.message


def test_a_record_that_fails_the_replay_is_named_with_its_partition(tmp_path, monkeypatch):
    import pyarrow as pa

    import engine.replay.step as step_module
    pol = load_policy(str(EXAMPLES / "support-ops" / "support.policy"))
    root = next(f for f in pol.program.files if f.is_root)

    def broken(*a, **k):
        def step(rec, ledger):
            raise ValueError("boom")
        return step
    monkeypatch.setattr(step_module, "stepper", broken)
    payload = json.dumps(["h.jsonl", 7, None, False, {"tool": "lookup_order"}])
    batch = pa.RecordBatch.from_arrays([pa.array([1.0]), pa.array([7], pa.int64()), pa.array([payload]),
                                        pa.array([0], pa.int64())], names=["t", "seq", "payload", "pos"])
    with pytest.raises(RuntimeError) as e:
        list(_replay_partition((root.path, root.text, pol.digest), False, False, iter([batch])))
    assert "record `h.jsonl:7`: boom" in str(e.value) and "partition " in str(e.value)


_BLOCK_PYSPARK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "pyspark" or name.startswith("pyspark."):
            raise ImportError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Block())
from cli.main import main
sys.argv = ["signoff"] + sys.argv[1:]
main()
"""


def _run_cli(code: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, "simulate", str(EXAMPLES / "support-ops" / "support.policy"),
                           "--history", str(EXAMPLES / "support-ops" / "history.jsonl"), "--engine", "spark", *args],
                          capture_output=True, text=True, env=env, timeout=60)


def test_without_pyspark_the_error_names_the_extra(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = _run_cli(_BLOCK_PYSPARK, env)
    assert p.returncode == 2, p.stderr
    assert "signoff[spark]" in p.stderr and "pyspark" in p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""


def test_without_java_the_error_names_the_jre_to_install(tmp_path):
    pytest.importorskip("pyspark", reason="the Java check runs once pyspark imports")
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PYTHONPATH"] = str(ROOT)
    env["PATH"] = str(tmp_path)   # no java on it (the interpreter is run by its full path)
    p = _run_cli("from cli.main import main; import sys; sys.argv = ['signoff'] + sys.argv[1:]; main()", env)
    assert p.returncode == 2, p.stderr
    assert "default-jre-headless" in p.stderr and "`java`" in p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""


def test_a_java_that_does_not_start_is_a_clear_error(tmp_path):
    pytest.importorskip("pyspark", reason="the JVM is started once pyspark imports")
    java = tmp_path / "jre" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\necho 'Error: this is not a Java runtime' >&2\nexit 1\n", encoding="utf-8")
    java.chmod(0o755)
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAVA_HOME=str(tmp_path / "jre"))
    p = _run_cli("from cli.main import main; import sys; sys.argv = ['signoff'] + sys.argv[1:]; main()", env)
    assert p.returncode == 2, p.stderr
    assert "spark did not start" in p.stderr and "default-jre-headless" in p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""
