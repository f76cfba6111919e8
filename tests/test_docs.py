"""The docs are executed: every ```policy and ```console block of docs/*.md runs here.

The convention is docs/writing-docs.md. In short: each docs file gets a fresh scratch directory
(with `examples` linked to the repo's examples/); its blocks run in document order; ```policy blocks
are written and linted (the set of codes must equal `expect=`, empty without it); blocks with
`file=` are written verbatim; ```console blocks hold `$ signoff ...` commands run in-process, whose
output must match the lines under them (`...` matches any lines, `[exit N]` asserts the status).
"""
from __future__ import annotations

import difflib
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import click
import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
ATTRIBUTES = {                # the attributes each kind of block may carry
    "policy": {"file", "expect"},
    "console": set(),
    "python": {"file", "run"},
}
FILE_ONLY = {"file"}          # every other language: `file=` or nothing
SHELL_OPERATORS = set("|&;<>()`")
CODE = re.compile(r"^[EWI]\d{3}$")
EXIT_LINE = re.compile(r"^\[exit (\d+)\]$")


class DocError(Exception):
    """A block that breaks the convention (not a failing example: a badly written one)."""


# ---------------------------------------------------------------- parsing


@dataclass
class Block:
    lang: str
    attrs: Dict[str, str]
    body: str
    line: int                  # 1-based line of the opening fence
    where: str = ""            # "docs/FILE.md:LINE"


def parse_info(info: str, where: str = "") -> Tuple[str, Dict[str, str]]:
    """"policy file=a.policy expect=W100" -> ("policy", {"file": "a.policy", "expect": "W100"})."""
    words = info.split()
    if not words:
        return "", {}
    lang, attrs = words[0], {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or not key or not value:
            raise DocError(f"{where}: attribute `{word}` is not key=value")
        if key in attrs:
            raise DocError(f"{where}: attribute `{key}` given twice")
        attrs[key] = value
    allowed = ATTRIBUTES.get(lang, FILE_ONLY)
    unknown = sorted(set(attrs) - allowed)
    if unknown:
        raise DocError(f"{where}: a ```{lang} block takes no attribute `{unknown[0]}`"
                       f" (allowed: {', '.join(sorted(allowed)) or 'none'})")
    if "run" in attrs and (attrs["run"] != "true" or "file" not in attrs):
        raise DocError(f"{where}: `run=` takes `true`, with a `file=` to write the script to")
    return lang, attrs


def parse_blocks(text: str, name: str = "<doc>") -> List[Block]:
    """Every fenced block of a Markdown text, with its language, attributes and body."""
    blocks: List[Block] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or (m.group("fence")[0] == "`" and "`" in m.group("info")):
            i += 1
            continue
        indent, fence, start = m.group("indent"), m.group("fence"), i
        where = f"{name}:{start + 1}"
        lang, attrs = parse_info(m.group("info").strip(), where)
        body: List[str] = []
        i += 1
        while i < len(lines):
            close = lines[i].strip()
            if close and set(close) == {fence[0]} and len(close) >= len(fence):
                break
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        else:
            raise DocError(f"{where}: the block opened here is never closed")
        i += 1
        blocks.append(Block(lang, attrs, "\n".join(body) + "\n" if body else "", start + 1, where))
    return blocks


@dataclass
class Command:
    argv: List[str]            # without the leading `signoff`
    text: str                  # as written after `$ `
    expected: List[str]        # expected output lines ([exit N] removed)
    status: int                # expected exit status
    compare: bool              # False when the doc gives no output lines
    line: int                  # 1-based line in the doc


def parse_console(block: Block) -> List[Command]:
    """The commands of a ```console block; anything but `$ signoff ...` is refused."""
    commands: List[Command] = []
    current: Optional[Tuple[str, int, List[str]]] = None
    pending: List[Tuple[str, int, List[str]]] = []
    for n, line in enumerate(block.body.split("\n")):
        at = block.line + 1 + n
        if line.startswith("$ ") or line.rstrip() == "$":
            current = (line[2:].strip(), at, [])
            pending.append(current)
        elif current is None:
            if line.strip():
                raise DocError(f"{block.where.rsplit(':', 1)[0]}:{at}: output before any `$ ` command: {line!r}")
        else:
            current[2].append(line)
    if not pending:
        raise DocError(f"{block.where}: a console block with no `$ ` command")
    for text, at, out in pending:
        where = f"{block.where.rsplit(':', 1)[0]}:{at}"
        argv = split_command(text, where)
        while out and not out[-1].strip():
            out.pop()
        status = 0
        if out and EXIT_LINE.match(out[-1].strip()):
            status = int(EXIT_LINE.match(out[-1].strip()).group(1))
            out.pop()
            while out and not out[-1].strip():
                out.pop()
        commands.append(Command(argv, text, [o.rstrip() for o in out], status, bool(out), at))
    return commands


def split_command(text: str, where: str = "") -> List[str]:
    """`signoff check p.policy --action a.json` -> ["check", "p.policy", "--action", "a.json"]."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError as e:
        raise DocError(f"{where}: cannot split `{text}`: {e}")
    for tok in tokens:
        if tok and set(tok) <= SHELL_OPERATORS:
            raise DocError(f"{where}: `{text}`: no shell here (pipes, redirection, `;`, `&&`): "
                           "write one signoff command per `$ ` line")
    if not tokens or tokens[0] != "signoff":
        raise DocError(f"{where}: `{text}`: only `signoff ...` commands may appear in a console block")
    return shlex.split(text)[1:]


def lines_match(expected: List[str], actual: List[str]) -> bool:
    """Line-by-line match where an expected line `...` stands for any number of lines (zero too)."""
    # ok[j]: expected[i:] matches actual[j:], computed from the last expected line backwards
    n = len(actual)
    ok = [False] * n + [True]
    for e in reversed(expected):
        new = [False] * (n + 1)
        for j in range(n, -1, -1):
            if e == "...":
                new[j] = ok[j] or (j < n and new[j + 1])
            else:
                new[j] = j < n and e == actual[j] and ok[j + 1]
        ok = new
    return ok[0]


def output_lines(text: str) -> List[str]:
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


# ---------------------------------------------------------------- running


def _cli():
    from cli.main import cli
    return cli


def run_command(cmd: Command) -> Tuple[int, str]:
    """Run one command in-process, in the current directory, as the user would see it."""
    runner = CliRunner()
    result = runner.invoke(_cli(), cmd.argv, prog_name="signoff", terminal_width=80, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback
        tb = "".join(traceback.format_exception(*result.exc_info))
        return -1, result.output + "\n" + tb
    return result.exit_code, result.output


def lint_codes(path: str):
    """The codes `signoff lint PATH` reports (checker errors included), and the diagnostics."""
    from policy_lang.lint import lint_paths
    diags = lint_paths([path])
    return sorted({d.code for d in diags}), diags


_GUARDED_WRITES = {"--out", "--decisions", "-o", "--output"}


def _refuse_writes_to_examples(cmd: Command, where: str) -> None:
    """A docs example must never change the repo through the `examples` link."""
    def inside(arg: str) -> bool:
        p = os.path.normpath(arg)
        return p == "examples" or p.startswith("examples" + os.sep)
    argv = cmd.argv
    for i, arg in enumerate(argv[:-1]):
        if arg in _GUARDED_WRITES and inside(argv[i + 1]):
            raise DocError(f"{where}: `{cmd.text}` would write into examples/")
    if argv and argv[0] == "fmt" and not {"--check", "--diff"} & set(argv):
        if any(inside(a) for a in argv[1:] if not a.startswith("-")):
            raise DocError(f"{where}: `{cmd.text}` would reformat files in examples/ (use --check or --diff)")


def _write(scratch: Path, rel: str, body: str, where: str) -> Path:
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts or (p.parts and p.parts[0] == "examples"):
        raise DocError(f"{where}: file={rel} must be a relative path inside the scratch dir, not in examples/")
    target = scratch / p
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body, encoding="utf-8")
    return target


@dataclass
class Counts:
    policy: int = 0
    commands: int = 0
    files: int = 0
    scripts: int = 0
    failures: List[str] = field(default_factory=list)


def run_doc(text: str, name: str, scratch: Path) -> Counts:
    """Run every executed block of one docs text in `scratch` (the current directory)."""
    counts = Counts()
    link = scratch / "examples"
    if not link.exists():
        link.symlink_to(EXAMPLES, target_is_directory=True)
    for block in parse_blocks(text, name):
        if block.lang == "policy":
            counts.policy += 1
            rel = block.attrs.get("file", f"_block_{block.line}.policy")
            path = _write(scratch, rel, block.body, block.where)
            want = sorted({c.strip() for c in block.attrs.get("expect", "").split(",") if c.strip()})
            bad = [c for c in want if not CODE.match(c)]
            if bad:
                raise DocError(f"{block.where}: expect={block.attrs['expect']}: `{bad[0]}` is not a code")
            got, diags = lint_codes(os.path.relpath(path, scratch))
            if got != want:
                shown = "\n".join(f"    {d.span.line}:{d.span.column} {d.code} {d.message}" for d in diags) or "    (none)"
                counts.failures.append(
                    f"{block.where}: ```policy block: lint codes {got or '(none)'}, "
                    f"expected {want or '(none)'} (add or fix expect=)\n{shown}")
        elif block.lang == "console":
            for cmd in parse_console(block):
                counts.commands += 1
                where = f"{name}:{cmd.line}"
                _refuse_writes_to_examples(cmd, where)
                status, out = run_command(cmd)
                actual = output_lines(out)
                problems = []
                if status != cmd.status:
                    problems.append(f"exit status {status}, expected {cmd.status}")
                if cmd.compare and not lines_match(cmd.expected, actual):
                    diff = "\n".join(difflib.unified_diff(cmd.expected, actual, "expected (doc)", "actual",
                                                          lineterm="", n=3))
                    problems.append("output differs:\n" + diff)
                if problems:
                    body = "\n".join(problems)
                    if status != cmd.status and not (cmd.compare and problems[-1].startswith("output")):
                        body += "\n--- output:\n" + "\n".join(actual)
                    counts.failures.append(f"{where}: $ {cmd.text}\n{body}")
        elif "file" in block.attrs:
            counts.files += 1
            path = _write(scratch, block.attrs["file"], block.body, block.where)
            if block.attrs.get("run") == "true":
                counts.scripts += 1
                problem = run_script(path)
                if problem:
                    counts.failures.append(f"{block.where}: ```python run=true: {problem}")
    return counts


def run_script(path: Path) -> Optional[str]:
    """Run a ```python run=true block in-process (setup no signoff command does); None when it worked."""
    import runpy
    import traceback
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as e:
        if e.code not in (None, 0):
            return f"exited with {e.code}"
    except BaseException:
        return "raised\n" + traceback.format_exc()
    return None


FROZEN_NOW = "2026-11-20T10:00:00Z"


def freeze_workflow(monkeypatch) -> None:
    """Stable outputs for the approval workflow: its clock stands at FROZEN_NOW and new ids are
    numbered (as random-looking hex) instead of random, for the whole docs file."""
    import hashlib
    import itertools
    from datetime import datetime, timezone

    import cli.approvals_cmd as approvals_cmd
    import engine.live.records as records
    import engine.live.workflow as workflow

    fixed = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
    counter = itertools.count(1)

    def new_id(prefix: str) -> str:
        return prefix + hashlib.sha256(f"docs-{next(counter)}".encode()).hexdigest()[:32]

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return fixed.astimezone(tz) if tz is not None else fixed.replace(tzinfo=None)

    init = workflow.Gate.__init__

    def gate_init(self, *args, clock=None, **kwargs):
        init(self, *args, clock=clock or (lambda: fixed), **kwargs)

    monkeypatch.setattr(records, "new_id", new_id)
    monkeypatch.setattr(workflow.Gate, "__init__", gate_init)
    monkeypatch.setattr(approvals_cmd, "datetime", FrozenDatetime)


def doc_files() -> List[Path]:
    return sorted(DOCS.glob("*.md"))


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: p.name)
def test_doc_examples_run(doc, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    freeze_workflow(monkeypatch)
    name = f"docs/{doc.name}"
    try:
        counts = run_doc(doc.read_text(encoding="utf-8"), name, tmp_path)
    except DocError as e:
        pytest.fail(f"badly written block: {e}", pytrace=False)
    if counts.failures:
        pytest.fail(f"{len(counts.failures)} failing block(s) in {name}:\n\n" + "\n\n".join(counts.failures),
                    pytrace=False)


# ---------------------------------------------------------------- the harness itself


MINIMUM = {                    # per docs file: (policy blocks, commands) it must at least hold
    "tutorial.md": (5, 15), "language.md": (15, 15), "cli.md": (1, 40), "lint-rules.md": (80, 3),
    "stdlib.md": (8, 8),
}


def test_docs_hold_enough_executed_blocks():
    """So the harness can never pass by running nothing."""
    policy = commands = 0
    for doc in doc_files():
        p = c = 0
        for block in parse_blocks(doc.read_text(encoding="utf-8"), doc.name):
            if block.lang == "policy":
                p += 1
            elif block.lang == "console":
                c += len(parse_console(block))
        want = MINIMUM.get(doc.name, (0, 0))
        assert p >= want[0] and c >= want[1], f"{doc.name}: {p} policy blocks, {c} commands; expected {want}"
        policy, commands = policy + p, commands + c
    assert {d.name for d in doc_files()} >= set(MINIMUM)
    assert policy >= 100, policy
    assert commands >= 60, commands


def test_every_plain_block_that_looks_like_a_command_is_marked():
    """A `signoff ...` line in a ```sh or plain block would silently go untested."""
    for doc in doc_files():
        for block in parse_blocks(doc.read_text(encoding="utf-8"), doc.name):
            if block.lang in ("", "sh", "bash", "shell"):
                for line in block.body.splitlines():
                    s = re.sub(r"^\$\s*", "", line.strip())
                    assert not re.match(r"signoff\b", s), \
                        f"{block.where}: `{s}` in a ```{block.lang or '(plain)'} block is never run: make it a " \
                        "```console block with its output, or a ```text synopsis"


def test_attribute_parsing():
    assert parse_info("policy file=a.policy expect=W100,I100") == ("policy", {"file": "a.policy",
                                                                            "expect": "W100,I100"})
    assert parse_info("yaml file=t/x.test.yaml") == ("yaml", {"file": "t/x.test.yaml"})
    assert parse_info("") == ("", {})
    for bad in ("policy expect", "policy file=a file=b", "policy exepct=W100", "console file=x", "yaml expect=W1"):
        with pytest.raises(DocError):
            parse_info(bad, "d.md:1")


def test_block_parsing_keeps_order_lines_and_bodies():
    text = ("intro\n\n```policy file=p.policy\npolicy \"x\"\n```\n\ntext with ```inline``` code\n"
            "````text\n```policy\nnot a block\n```\n````\n  ```console\n  $ signoff --version\n  ```\n")
    blocks = parse_blocks(text, "d.md")
    assert [(b.lang, b.line) for b in blocks] == [("policy", 3), ("text", 8), ("console", 13)]
    assert blocks[0].body == 'policy "x"\n' and blocks[0].where == "d.md:3"
    assert blocks[1].body == "```policy\nnot a block\n```\n"
    assert blocks[2].body == "$ signoff --version\n"
    with pytest.raises(DocError, match="never closed"):
        parse_blocks("```policy\npolicy \"x\"\n", "d.md")


def test_wildcard_lines():
    assert lines_match(["a", "...", "z"], ["a", "b", "c", "z"])
    assert lines_match(["a", "...", "z"], ["a", "z"])
    assert lines_match(["...", "c", "..."], ["a", "b", "c", "d"])
    assert lines_match(["..."], [])
    assert not lines_match(["a", "...", "z"], ["a", "b"])
    assert not lines_match(["a", "b"], ["a", "b", "c"])
    assert not lines_match(["a ..."], ["a b"])          # `...` is a whole line, not a glob
    assert lines_match(["x", "...", "x"], ["x", "x", "x"])


def test_console_parsing_exit_status_and_output():
    block = Block("console", {}, "$ signoff lint bad.policy\nbad.policy:1:1: error[E100]: x\n\n[exit 1]\n"
                                 "$ signoff fmt --check a.policy\n[exit 1]\n$ signoff --version\n", 10, "d.md:10")
    a, b, c = parse_console(block)
    assert a.argv == ["lint", "bad.policy"] and a.status == 1 and a.compare and a.line == 11
    assert a.expected == ["bad.policy:1:1: error[E100]: x"]
    assert b.status == 1 and not b.compare and b.expected == []
    assert c.status == 0 and not c.compare and c.argv == ["--version"]


def test_only_signoff_commands_are_allowed():
    for text in ("ls -l", "python -m signoff", "signoff check p.policy | head", "signoff fmt a.policy > b",
                 "signoff check p.policy; rm -rf x", "signoff check p.policy && echo ok", "cd x"):
        with pytest.raises(DocError):
            split_command(text, "d.md:1")
    assert split_command("signoff check 'my policy.policy' --action a.json", "d.md:1") == \
        ["check", "my policy.policy", "--action", "a.json"]
    with pytest.raises(DocError, match="output before"):
        parse_console(Block("console", {}, "hello\n$ signoff --version\n", 1, "d.md:1"))
    with pytest.raises(DocError, match="only `signoff"):
        parse_console(Block("console", {}, "$ echo hi\nhi\n", 1, "d.md:1"))


def test_writes_into_examples_are_refused(tmp_path):
    for argv in (["fmt", "examples/support-ops/support.policy"],
                 ["graph", "p.policy", "--out", "examples/x.svg"]):
        with pytest.raises(DocError):
            _refuse_writes_to_examples(Command(argv, " ".join(argv), [], 0, False, 1), "d.md:1")
    _refuse_writes_to_examples(Command(["fmt", "--check", "examples/a.policy"], "", [], 0, False, 1), "d.md:1")
    with pytest.raises(DocError):
        _write(tmp_path, "examples/x.policy", "", "d.md:1")
    with pytest.raises(DocError):
        _write(tmp_path, "../x.policy", "", "d.md:1")


GOOD_DOC = '''
```policy file=shop.policy
policy "shop"
tool refund {
  schema {"type": "object"}
  risk low
}
category low { allow }
```

```json file=a.json
{"tool": "refund", "args": {}}
```

```console
$ signoff check shop.policy --action a.json
...
outcome:  allow
...
$ signoff lint missing.policy
...
[exit 2]
```

```policy expect=E101,I101
policy "broken
tool {
```
'''


def test_a_small_doc_runs_and_mistakes_fail_with_place_and_diff(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good").mkdir()
    monkeypatch.chdir(tmp_path / "good")
    ok = run_doc(GOOD_DOC, "docs/good.md", tmp_path / "good")
    assert ok.failures == [], ok.failures
    assert (ok.policy, ok.commands, ok.files) == (2, 2, 1)
    assert (tmp_path / "good" / "shop.policy").exists() and (tmp_path / "good" / "examples").is_symlink()

    bad_doc = (GOOD_DOC.replace("outcome:  allow", "outcome:  deny")
                       .replace("[exit 2]", "[exit 0]")
                       .replace("expect=E101,I101", "expect=W100"))
    (tmp_path / "bad").mkdir()
    monkeypatch.chdir(tmp_path / "bad")
    res = run_doc(bad_doc, "docs/bad.md", tmp_path / "bad")
    assert len(res.failures) == 3, res.failures
    line_check = bad_doc.splitlines().index("$ signoff check shop.policy --action a.json") + 1
    assert res.failures[0].startswith(f"docs/bad.md:{line_check}: $ signoff check")
    assert "-outcome:  deny" in res.failures[0] and "+outcome:  allow" in res.failures[0]
    assert "exit status 2, expected 0" in res.failures[1]
    assert "lint codes ['E101', 'I101'], expected ['W100']" in res.failures[2]


# ---------------------------------------------------------------- cli.md covers every option


def _walk(cmd: click.Command, path: Tuple[str, ...] = ()):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _walk(sub, path + (name,))


def _cli_sections(text: str) -> Dict[str, str]:
    """cli.md by `## ` section: {"": the intro, "check": the `signoff check` section, ...}."""
    parts = re.split(r"^## ", text, flags=re.M)
    out = {"": parts[0]}
    for part in parts[1:]:
        m = re.match(r"`signoff ([\w-]+)`", part)   # command names may hold a hyphen (`mcp-proxy`)
        if m:
            out[m.group(1)] = part
    return out


def test_cli_md_names_every_command_and_option():
    """Every command has its `## signoff CMD` section, and every option (and environment variable)
    of the command and its subcommands is named in that section."""
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    sections = _cli_sections(text)
    missing = []
    for path, cmd in _walk(_cli()):
        where = sections.get(path[0] if path else "")
        name = "signoff " + " ".join(path) if path else "signoff"
        if where is None:
            missing.append(f"a `## `{name}`` section")
            continue
        if len(path) > 1 and name not in where:
            missing.append(f"command `{name}`")
        for param in cmd.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            for opt in param.opts + param.secondary_opts:
                if not re.search(re.escape(opt) + r"(?![\w-])", where):
                    missing.append(f"`{opt}` of `{name}`")
            if param.envvar:
                for env in ([param.envvar] if isinstance(param.envvar, str) else param.envvar):
                    if env not in where:
                        missing.append(f"environment variable `{env}` of `{name}`")
    assert not missing, "docs/cli.md does not mention:\n" + "\n".join(missing)


def test_cli_md_covers_every_command_with_a_run():
    """Each leaf command has at least one executed example in cli.md."""
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    run = set()
    for block in parse_blocks(text, "cli.md"):
        if block.lang == "console":
            for cmd in parse_console(block):
                run.add(tuple(a for a in cmd.argv[:2] if not a.startswith("-")))
    for path, cmd in _walk(_cli()):
        if path and not isinstance(cmd, click.Group):
            assert any(r[:len(path)] == path for r in run), f"no example run of `signoff {' '.join(path)}`"


# ---------------------------------------------------------------- the picture in design.md


def test_decision_graph_picture_is_current(tmp_path, monkeypatch):
    """docs/decision-graph.svg is exactly what `signoff graph` draws today (regenerate it with the
    command in docs/design.md if this fails)."""
    monkeypatch.chdir(ROOT)
    out = tmp_path / "graph.svg"
    argv = ["graph", "examples/support-ops/support.policy", "--tool", "issue_refund", "--format", "svg",
            "--out", str(out)]
    result = CliRunner().invoke(_cli(), argv, prog_name="signoff")
    assert result.exit_code == 0, result.output
    committed = (DOCS / "decision-graph.svg").read_text(encoding="utf-8")
    assert out.read_text(encoding="utf-8") == committed, \
        "docs/decision-graph.svg is stale: run `signoff " + " ".join(argv[:-1]) + " docs/decision-graph.svg`"
    assert "](decision-graph.svg)" in (DOCS / "design.md").read_text(encoding="utf-8")
