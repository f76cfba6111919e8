"""No text a hostile agent, policy author or file name controls reaches a terminal or a CI log raw.

Every command is run with hostile strings in every field it prints (tool, agent id, tenant, argument
keys and values, a policy's quoted names and messages, comments, file and folder names), in every
output format; the output must hold no control, bidi, format or separator character other than the
newlines and tabs of the layout, and no untrusted newline may start a line of its own (a GitHub
workflow command such as `::error file=README.md::PWNED`).
"""
import ast
import json
import sqlite3
import unicodedata
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cli.main import cli
from engine import Policy
from engine.live.store import SQLiteStore
from engine.live.workflow import Gate, InputError, Identity
from policy_lang.checker import load

ROOT = Path(__file__).resolve().parent.parent

EVIL = "\x1b[2J\x1b[1;31mAPPROVED BY CFO\x1b[0m"       # clear the screen, paint a verdict
OSC = "\x1b]0;title\x07"                              # set the terminal's title
INJECT = "\n::error file=README.md::PWNED"            # a line of its own in a GitHub log
BIDI = "\u202egnp.exe\u202c\u2066\u2069\u200e\u200f\u061c\u2028\u2029\ufeff\U000e0041"
C1 = "\x9b31m\x85\x7f\r\x08"
HOSTILE = "h" + EVIL + OSC + INJECT + BIDI + C1
RAW = "\x1b]0;raw\x07\x1b[2J\u202e\x9b"               # raw in the policy's source, not escaped
UNSAFE = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def assert_clean(text: str, what: str = "") -> None:
    bad = sorted({f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in UNSAFE and c not in "\n\t"})
    assert not bad, f"{what}: raw {', '.join(bad)} in output:\n{text!r}"
    assert "::error file=README.md" not in "\n" + "\n".join(
        line for line in text.split("\n") if line.startswith("::error file=README.md")), \
        f"{what}: an untrusted newline starts a line:\n{text!r}"


def quoted(s: str) -> str:
    """A policy string literal spelling `s` with escapes only."""
    out = []
    for c in s:
        if c == "\n":
            out.append("\\n")
        elif c in '"\\' or not (c.isascii() and c.isprintable()):
            out.append(f"\\u{ord(c):04x}")   # the policies here spell characters of the BMP only
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def hostile_policy(message: str = "deny") -> str:
    h = HOSTILE.replace("\U000e0041", "")  # a policy string spells characters of the BMP only
    return f"""policy {quoted("p" + h)}
version {quoted("v" + h)}
# a comment with raw controls {RAW}
route review {{
  approvers "team_lead", {quoted("cfo" + h)}
  quorum 1
  timeout 4h then escalate to {quoted("oncall" + h)}
}}
route spare {{ approvers "x{RAW}" }}
tool {quoted("t" + h)} {{ risk high }}
tool issue_refund {{ risk medium }}
category low {{ allow }}
category medium {{ require approval via review }}
category high {{ ask {quoted("question" + h)} }}
check c1 on issue_refund {{ require args.a present else deny {quoted(message + h)} }}
check c2 on {quoted("ghost" + h)} {{ require args.a present else escalate to {quoted("esc" + h)} }}
check c3 on issue_refund {{ require args.n matches "^[a-z]+$" else deny {quoted("bad n" + h)} }}
unknown tools require approval via review
"""


def hostile_action(tool: str = "t" + HOSTILE, tenant: str = "acme" + HOSTILE, n: int = 1) -> dict:
    return {"id": f"act-{n}" + HOSTILE, "tool": tool, "timestamp": f"2026-11-20T10:0{n}:00Z",
            "tenant": {"id": tenant, "plan": "p" + HOSTILE}, "agent": {"id": "bot" + OSC + HOSTILE},
            "args": {"k" + HOSTILE: "v" + HOSTILE, "n": "N" + HOSTILE}, "confidence": 0.5,
            "human": {"verdict": "rejected", "by": "maria" + HOSTILE}}


@pytest.fixture
def world(tmp_path):
    """A folder with a hostile name, holding a hostile policy, its test file, a history and an action."""
    folder = tmp_path / ("d" + EVIL + "\u202e" + INJECT)
    folder.mkdir()
    pol = folder / ("p" + OSC + ".policy")
    pol.write_text(hostile_policy(), encoding="utf-8")
    new = folder / "new.policy"
    new.write_text(hostile_policy("refused"), encoding="utf-8")
    broken = folder / "broken.policy"
    broken.write_text(hostile_policy().replace("via review", f"via {quoted('r' + HOSTILE)[1:-1]}_x", 1),
                      encoding="utf-8")
    action = folder / "action.json"
    action.write_text(json.dumps(hostile_action("issue_refund")), encoding="utf-8")
    history = folder / ("h" + EVIL + ".jsonl")
    history.write_text("".join(json.dumps(hostile_action(t, n=i)) + "\n" for i, t in
                               enumerate(["t" + HOSTILE, "issue_refund", "other" + HOSTILE], 1)), encoding="utf-8")
    tests = folder / "p.test.yaml"
    tests.write_text(yaml.safe_dump({"policy": pol.name, "cases": [
        {"name": "case " + HOSTILE, "action": hostile_action("issue_refund"), "expect": "allow"},
        {"name": "case2 " + HOSTILE, "action": hostile_action(), "expect": {"outcome": "ask", "ask": [HOSTILE]}},
    ]}, allow_unicode=False), encoding="utf-8")
    broken_tests = folder / "broken.test.yaml"
    broken_tests.write_text(yaml.safe_dump({"policy": broken.name, "cases": [
        {"name": "n", "action": {"tool": "x"}, "expect": "deny"}]}), encoding="utf-8")
    return {"dir": folder, "policy": pol, "broken_tests": broken_tests, "new": new, "broken": broken, "action": action, "history": history,
            "tests": tests}


def run(*args, input=None):
    r = CliRunner().invoke(cli, [str(a) for a in args], input=input)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exc_info
    return r


COMMANDS = [
    ("check", lambda w: ["check", w["policy"], "--action", w["action"], "--explain"]),
    ("check json", lambda w: ["check", w["policy"], "--action", w["action"], "--format", "json", "--explain"]),
    ("check load errors", lambda w: ["check", w["broken"], "--action", w["action"]]),
    ("test", lambda w: ["test", w["tests"], "--coverage", "-v"]),
    ("test json", lambda w: ["test", w["tests"], "--format", "json"]),
    ("test broken", lambda w: ["test", w["broken_tests"]]),
    ("simulate", lambda w: ["simulate", w["policy"], "--history", w["history"]]),
    ("simulate json", lambda w: ["simulate", w["policy"], "--history", w["history"], "--format", "json"]),
    ("diff", lambda w: ["diff", w["policy"], w["new"], "--history", w["history"]]),
    ("diff json", lambda w: ["diff", w["policy"], w["new"], "--history", w["history"], "--format", "json"]),
    ("lint", lambda w: ["lint", w["dir"]]),
    ("lint github", lambda w: ["lint", w["dir"], "--format", "github"]),
    ("lint json", lambda w: ["lint", w["dir"], "--format", "json"]),
    ("lint sarif", lambda w: ["lint", w["dir"], "--format", "sarif"]),
    ("fmt check", lambda w: ["fmt", "--check", w["dir"]]),
    ("fmt diff", lambda w: ["fmt", "--diff", w["dir"]]),
    ("graph dot", lambda w: ["graph", w["policy"]]),
    ("graph mermaid", lambda w: ["graph", w["policy"], "--format", "mermaid"]),
    ("graph svg", lambda w: ["graph", w["policy"], "--format", "svg"]),
    ("graph unknown tool", lambda w: ["graph", w["policy"], "--tool", "x" + HOSTILE]),
]


@pytest.mark.parametrize("name,argv", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_no_command_prints_a_raw_control_character(world, name, argv):
    r = run(*argv(world))
    assert_clean(r.stdout, name + " (stdout)")
    assert_clean(r.stderr, name + " (stderr)")
    if "json" in name or "sarif" in name:
        json.loads(r.stdout)   # JSON output stays JSON


def test_escaped_output_still_shows_what_is_there(world):
    r = run("check", world["policy"], "--action", world["action"])
    assert "\\x1b[2J\\x1b[1;31mAPPROVED BY CFO\\x1b[0m" in r.stdout
    assert "\\n::error file=README.md::PWNED\\u202egnp.exe\\u202c" in r.stdout
    lint = run("lint", world["policy"])
    # the quoted source line is escaped too, and the caret still points under the span it marks
    out = lint.stdout.split("\n")
    i = next(k for k, line in enumerate(out) if "route spare" in line)
    assert out[i].endswith('route spare { approvers "x\\x1b]0;raw\\x07\\x1b[2J\\u202e\\x9b" }')
    assert out[i + 1].index("^") == out[i].index("route spare")
    js = json.loads(run("check", world["policy"], "--action", world["action"], "--format", "json").stdout)
    assert any(r["message"] == "deny" + HOSTILE.replace("\U000e0041", "") for r in js["reasons"])


def test_lint_text_does_not_pass_a_newline_from_a_quoted_name(tmp_path):
    """Finding 16, as reported: a quoted name's newline put a GitHub workflow command on a line of its own."""
    pol = tmp_path / "p.policy"
    pol.write_text('policy "p"\ncheck c on "x\\n::error file=README.md::PWNED" { require args.a present else deny }\n',
                   encoding="utf-8")
    for fmt in ("text", "github"):
        r = run("lint", pol, "--format", fmt)
        assert not [line for line in r.stdout.split("\n") if line.startswith("::error")], r.stdout
    assert "is on `x\\n::error file=README.md::PWNED`" in run("lint", pol).stdout


def test_safe_text_escapes_exactly_the_invisible_and_control_characters():
    from policy_lang.safe_text import safe_text
    assert safe_text("plain café ünïcødé 東京 ✓ \u00a0") == "plain café ünïcødé 東京 ✓ \u00a0"
    assert safe_text("a\x1b[2J\x07\x00\x7f\x9b\x85") == "a\\x1b[2J\\x07\\x00\\x7f\\x9b\\x85"
    assert safe_text("\u202ea\u202c\u2066\u2069\u200e\u200f\u061c\u200b\ufeff") == \
        "\\u202ea\\u202c\\u2066\\u2069\\u200e\\u200f\\u061c\\u200b\\ufeff"
    assert safe_text("\u2028\u2029\U000e0041\udfff") == "\\u2028\\u2029\\U000e0041\\udfff"
    assert safe_text("a\nb\tc\r") == "a\\nb\\tc\\r"
    assert safe_text("a\nb\tc\r", lines=True) == "a\nb\tc\\r"   # the layout's newlines and tabs only
    assert safe_text(42) == "42" and safe_text(None) == "None"


def test_console_notifications_are_escaped():
    import io
    from engine.live.channels import ConsoleChannel, Notification
    buf = io.StringIO()
    ConsoleChannel(buf).send(Notification("approval_needed", "d_1", "acme" + OSC, "t" + EVIL, {"k": BIDI},
                                          roles=["r" + INJECT], routes=["review"], reasons=["why" + C1]))
    assert_clean(buf.getvalue().rstrip("\n"), "console channel")
    assert buf.getvalue().count("\n") == 1


# ------------------------------------------------------------------ approvals and audit

POLICY_TEXT = hostile_policy()


@pytest.fixture
def store(tmp_path, world):
    pol = Policy(load(str(world["policy"]), world["policy"].read_text(encoding="utf-8")))
    path = str(tmp_path / "s.db")
    people = [Identity("lea", {"team_lead"}, "acme"), Identity("lea2", {"team_lead"}, "acme" + HOSTILE)]
    gate = Gate(pol, SQLiteStore(path), identities=people)
    a = hostile_action(tenant="acme")
    a.pop("human")
    a["agent"]["id"] = "bot"  # an id with controls is refused at propose (spec §6, v1.1): the rest stays hostile
    first = gate.propose(a)                                           # hostile tool and agent id: a draft
    b = hostile_action("issue_refund", tenant="acme" + HOSTILE, n=2)
    b.pop("human")
    b["args"] = {"a": 1, "n": "x"}
    b["agent"]["id"] = "bot"
    second = gate.propose(b)                                          # hostile tenant
    c = hostile_action("t" + HOSTILE, tenant="acme", n=3)
    c.pop("human")
    c["agent"]["id"] = "bot"
    third = gate.propose(c)
    gate.store.close()
    return {"path": path, "ids": [first.id, second.id, third.id], "policy": world["policy"]}


def test_approvals_list_does_not_pass_escape_sequences_from_a_tool_name(tmp_path):
    """Finding 6, as reported: a tool name that clears the screen and paints a verdict."""
    pol_path = tmp_path / "p.policy"
    pol_path.write_text('policy "p"\nroute r { approvers "lead" }\nunknown tools require approval via r\n',
                        encoding="utf-8")
    gate = Gate(Policy(load(str(pol_path), pol_path.read_text())), SQLiteStore(str(tmp_path / "s.db")))
    gate.propose({"tool": "refund\x1b[2J\x1b[1;31mAPPROVED BY CFO\x1b[0m", "agent": {"id": "bot"},
                  "tenant": {"id": "acme"}, "args": {"amount": 10}})
    gate.store.close()
    r = run("approvals", "list", "--store", tmp_path / "s.db")
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.output
    assert "refund\\x1b[2J\\x1b[1;31mAPPROVED BY CFO\\x1b[0m" in r.output


def test_approvals_show_does_not_emit_an_osc_title_from_the_agent_id(tmp_path):
    """Finding 6, as reported: `approvals show` piped still emitted the agent id's OSC sequence. Such an id is
    refused at propose now (spec §6, v1.1), its error shown escaped; a store row that holds one anyway (an
    older store, a hand-written row) is shown escaped too."""
    pol_path = tmp_path / "p.policy"
    pol_path.write_text('policy "p"\nroute r { approvers "lead" }\nunknown tools require approval via r\n',
                        encoding="utf-8")
    gate = Gate(Policy(load(str(pol_path), pol_path.read_text())), SQLiteStore(str(tmp_path / "s.db")))
    with pytest.raises(InputError) as refused:
        gate.propose({"tool": "refund", "agent": {"id": "bot\x1b]0;title\x07"}, "tenant": {"id": "acme"}})
    assert "\x1b" not in str(refused.value) and "bot\\x1b]0;title\\x07" in str(refused.value)
    h = gate.propose({"tool": "refund", "agent": {"id": "bot"}, "tenant": {"id": "acme"}})
    gate.store.close()
    c = sqlite3.connect(str(tmp_path / "s.db"), isolation_level=None)
    c.execute("UPDATE actions SET proposer = ? WHERE id = ?", ("bot\x1b]0;title\x07", h.id))
    c.close()
    r = run("approvals", "show", h.id, "--store", tmp_path / "s.db")   # CliRunner's output is a pipe
    assert "\x1b" not in r.output and "\x07" not in r.output
    assert "bot\\x1b]0;title\\x07" in r.output, r.output


def test_every_approvals_and_audit_command_escapes(store):
    p, (first, second, third) = store["path"], store["ids"]
    pol = store["policy"]
    runs = [
        ("list", ["approvals", "list", "--store", p]),
        ("list all", ["approvals", "list", "--store", p, "--all"]),
        ("list tenant", ["approvals", "list", "--store", p, "--tenant", "acme" + HOSTILE]),
        ("list json", ["approvals", "list", "--store", p, "--format", "json"]),
        ("show", ["approvals", "show", first, "--store", p]),
        ("show tenant", ["approvals", "show", second, "--store", p]),
        ("show json", ["approvals", "show", first, "--store", p, "--format", "json"]),
        ("show unknown", ["approvals", "show", "d_" + HOSTILE, "--store", p]),
        ("approve", ["approvals", "approve", first, "--store", p, "--by", "lea", "--comment", "ok" + HOSTILE]),
        ("approve wrong tenant", ["approvals", "approve", second, "--store", p, "--by", "lea"]),
        ("edit", ["approvals", "edit", third, "--store", p, "--by", "lea", "--policy", pol,
                  "--set", "k" + HOSTILE + "=w" + HOSTILE, "--set", "z=" + HOSTILE]),
        ("show edited", ["approvals", "show", third, "--store", p]),
        ("reject", ["approvals", "reject", third, "--store", p, "--by", "lea", "--reason", "no" + HOSTILE]),
        ("show after", ["approvals", "show", first, "--store", p]),
        ("bad set", ["approvals", "edit", third, "--store", p, "--by", "lea", "--policy", pol,
                     "--set", HOSTILE]),
        ("verify", ["audit", "verify", "--store", p]),
        ("verify head", ["audit", "verify", "--store", p, "--head", "x" + HOSTILE]),
        ("export", ["audit", "export", "--store", p]),
        ("export tenant", ["audit", "export", "--store", p, "--tenant", "acme" + HOSTILE]),
    ]
    for name, argv in runs:
        r = run(*argv)
        assert_clean(r.stdout, name + " (stdout)")
        assert_clean(r.stderr, name + " (stderr)")
        if "json" in name:
            json.loads(r.stdout)
        if name.startswith("export"):
            assert all(json.loads(line) for line in r.stdout.splitlines())
    listing = run("approvals", "list", "--store", p, "--all").stdout
    assert "th\\x1b[2J" in listing and "acmeh\\x1b[2J" in listing
    exported = [json.loads(line) for line in run("audit", "export", "--store", p).stdout.splitlines()]
    assert {e["tool"] for e in exported} >= {"t" + HOSTILE}    # the same values, written as JSON escapes


# ------------------------------------------------------------------ the defence is structural

def _printing_calls(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and (f.value.id, f.attr) in {
                ("click", "echo"), ("click", "secho"), ("sys", "stdout"), ("click", "echo_via_pager")}:
            yield node.lineno, f"{f.value.id}.{f.attr}"
        elif isinstance(f, ast.Name) and f.id in {"print", "secho"}:
            yield node.lineno, f.id
        elif isinstance(f, ast.Attribute) and f.attr == "write" and isinstance(f.value, ast.Attribute) \
                and isinstance(f.value.value, ast.Name) and f.value.value.id == "sys":
            yield node.lineno, f"sys.{f.value.attr}.write"


def test_every_command_prints_through_the_one_helper():
    """`cli/output.py` is the only module that calls click.echo: a new command cannot forget to escape."""
    found = []
    for path in sorted((ROOT / "cli").glob("*.py")):
        if path.name == "output.py":
            continue
        found += [f"{path.name}:{line}: {what}" for line, what in _printing_calls(path)]
    assert not found, "print through cli.output.echo instead:\n" + "\n".join(found)


def test_simulate_text_report_does_not_read_tool_names_as_rich_markup(tmp_path):
    """A history's tool `[/x]` crashed the text report (rich's markup) and `[bold]…[/bold]` lost its brackets."""
    history = tmp_path / "h.jsonl"
    history.write_text('{"tool": "[/x]", "timestamp": "2026-01-01T00:00:00Z"}\n'
                       '{"tool": "[bold]hidden[/bold]", "timestamp": "2026-01-01T00:00:01Z"}\n', encoding="utf-8")
    r = run("simulate", ROOT / "examples" / "support-ops" / "support.policy", "--history", history)
    assert r.exit_code == 0, r.output
    assert "[/x]" in r.stdout and "[bold]hidden[/bold]" in r.stdout
