"""`signoff lint`: each code at its place, suppression, filters, exit codes and output formats."""
import json
import os
import re
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from cli.lint_cmd import lint
from policy_lang.errors import CODES
from policy_lang.lint import ALL_CODES, RULES, Logic, lint_file, lint_paths, lint_text

ROOT = Path(__file__).resolve().parent.parent
LINT_DIR = ROOT / "tests" / "lint"
DOCS = ROOT / "docs" / "lint-rules.md"
SARIF_SCHEMA = ROOT / "tests" / "data" / "sarif-schema-2.1.0.json"

# dedicated policy per code: (file, line, column) of the one diagnostic it must give
DEDICATED = {
    "W100": ("W100_unreachable_line.policy", 11, 3),
    "W101": ("W101_check_never_fails.policy", 14, 3),
    "W102": ("W102_check_never_passes.policy", 14, 3),
    "W103": ("W103_confidence_out_of_range.policy", 10, 28),
    "W104": ("W104_incompatible_types.policy", 11, 42),
    "W105": ("W105_undeclared_path.policy", 14, 11),
    "W106": ("W106_schema_type_mismatch.policy", 14, 11),
    "W107": ("W107_unused_route.policy", 7, 1),
    "W108": ("W108_unreachable_level.policy", 12, 1),
    "W109": ("W109_check_on_undeclared_tool.policy", 13, 21),
    "W110": ("W110_impossible_budget.policy", 14, 3),
    "W111": ("W111_category_not_closed.policy", 9, 1),
    "W112": ("W112_dead_rule.policy", 14, 3),
    "W114": ("W114_level_without_category.policy", 6, 3),
    "W115": ("W115_negative_test_on_untyped_value.policy", 14, 37),
    "W116": ("W116_maybe_missing_path.policy", 15, 11),
    "I100": ("I100_tool_without_schema.policy", 4, 1),
}

HEADER = 'policy "t"\n'
REFUND = ('tool refund {\n  schema {"type": "object", "properties": {"amount": {"type": "number"}}}\n'
          '  risk low\n}\n')


def run(*args):
    return CliRunner().invoke(lint, [str(a) for a in args])


def codes(diags):
    return [d.code for d in diags]


def lint_src(tmp_path, text, name="p.policy"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return lint_file(str(path))


# ---------------------------------------------------------------- one policy per code

def test_every_warning_and_info_code_has_a_dedicated_policy():
    # I101 comes with a load error, so its policy is a case of tests/lint_cases (test_lint_cases.py)
    assert set(DEDICATED) == set(RULES) - {"I101"}
    assert (ROOT / "tests" / "lint_cases" / "I101_not_analysed.policy").is_file()
    for file, _, _ in DEDICATED.values():
        assert (LINT_DIR / file).is_file(), file


@pytest.mark.parametrize("code", sorted(DEDICATED))
def test_dedicated_policy_gives_exactly_its_code_at_its_place(code):
    file, line, column = DEDICATED[code]
    diags = lint_file(str(LINT_DIR / file))
    assert [(d.code, d.span.line, d.span.column) for d in diags] == [(code, line, column)]
    d = diags[0]
    assert d.severity == RULES[code].severity
    assert d.span.file.endswith(file)
    assert d.span.end_line >= d.span.line
    # house style: lowercase start, no final period, user input in backticks
    assert d.message[0].islower() or d.message[0] == "`"
    assert not d.message.endswith(".")


def test_clean_policy_gives_nothing():
    assert lint_file(str(LINT_DIR / "clean.policy")) == []


def test_lint_folder_finds_every_code_once():
    diags = lint_paths([str(LINT_DIR)])
    assert sorted(codes(diags)) == sorted(DEDICATED)


# ---------------------------------------------------------------- the analyses in more detail

def test_checker_errors_come_through_with_their_position(tmp_path):
    d = lint_src(tmp_path, HEADER + REFUND + "category low {\n  allow when confidence >= LIMIT\n  deny otherwise\n}\n")
    # the category is left out of the analyses, and an info at the first error says so
    assert [(x.code, x.span.line, x.span.column, x.severity) for x in d] == [("E205", 7, 28, "error"),
                                                                            ("I101", 7, 28, "info")]
    assert d[1].message == "not analysed until the errors are fixed: category `low`; rules W107 not run"
    d = lint_src(tmp_path, HEADER + "tool refund {\n  risk low when\n}\n")
    assert [(x.code, x.span.line, x.severity) for x in d] == [("E100", 4, "error"), ("I101", 4, "info")]  # at the `}`
    assert d[1].message == "not analysed until the errors are fixed: the whole policy"


def test_messages_point_at_the_earlier_line_and_suggest(tmp_path):
    d = lint_file(str(LINT_DIR / "W100_unreachable_line.policy"))[0]
    assert "line 10" in d.message and "`confidence >= 0.7`" in d.message
    d = lint_file(str(LINT_DIR / "W103_confidence_out_of_range.policy"))[0]
    assert "did you mean `0.7`?" in d.help
    d = lint_file(str(LINT_DIR / "W105_undeclared_path.policy"))[0]
    assert d.help == "did you mean `amount`?"
    d = lint_file(str(LINT_DIR / "W109_check_on_undeclared_tool.policy"))[0]
    assert d.help == "did you mean `refund`?" and (d.span.end_column - d.span.column) == len("refnud")


def test_lines_after_otherwise_and_covered_remainders(tmp_path):
    text = HEADER + (
        'tool refund {\n  schema {"type": "object"}\n'
        "  risk low when args.x present\n"
        "  risk low when args.x missing\n"
        "  risk low otherwise\n"        # line 6: the two lines above cover every case
        "  risk low\n"                  # line 7: after `otherwise`
        "}\ncategory low {\n  allow\n}\n")
    d = lint_src(tmp_path, text)
    assert [(x.code, x.span.line) for x in d] == [("W100", 6), ("W100", 7)]
    assert "already match every case" in d[0].message and "closes the block" in d[1].message


def test_set_and_interval_reasoning_does_not_overreach(tmp_path):
    text = HEADER + REFUND + (
        "category low {\n"
        '  allow when tenant.plan in ["gold", "silver"] and args.amount < 10\n'
        '  ask "?" when tenant.plan == "bronze"\n'
        "  allow when args.amount >= 10 and args.amount < 20\n"
        '  escalate to "x" when tenant.plan == "gold"\n'       # amount >= 20 remains
        '  deny when tenant.plan in ["gold", "silver"] and args.amount < 5\n'   # line 11: covered by line 7
        "  deny otherwise\n}\n")
    d = lint_src(tmp_path, text)
    assert [(x.code, x.span.line) for x in d] == [("W100", 11)]


def test_category_whose_lines_cover_everything_is_closed(tmp_path):
    text = HEADER + REFUND + ("category low {\n  allow when confidence >= 0.5\n  deny when confidence < 0.5\n}\n")
    assert lint_src(tmp_path, text) == []


def test_w114_the_implicit_highest_level_without_a_category(tmp_path):
    unclosed = 'tool u {\n  schema {"type": "object"}\n  risk low when args.x == 1\n}\n'
    d = lint_src(tmp_path, HEADER + unclosed + "category low {\n  allow\n}\n")
    assert [(x.code, x.span.line, x.span.column) for x in d] == [("W114", 4, 3)]
    assert "`high`" in d[0].message and "denied" in d[0].message and "tool `u`" in d[0].message
    # the highest level is the policy's own
    d = lint_src(tmp_path, HEADER + "levels minor < major\n" + unclosed.replace("low", "minor")
                 + "category minor {\n  allow\n}\n")
    assert [x.code for x in d] == ["W114"] and "`major`" in d[0].message
    # a tool with no risk line at all: at the tool
    d = lint_src(tmp_path, HEADER + 'tool v {\n  schema {"type": "object"}\n}\n' + REFUND
                 + "category low {\n  allow\n}\n")
    assert [(x.code, x.span.line, x.span.column) for x in d] == [("W114", 2, 1)]
    assert "no risk line" in d[0].message
    # silent when the lines close (`otherwise`, a bare line, or conditions covering every case) ...
    for closing in ("  risk low otherwise\n", "  risk low\n", "  risk low when args.x != 1\n"):
        text = HEADER + unclosed[:-2] + closing + "}\n" + "category low {\n  allow\n}\n"
        assert lint_src(tmp_path, text) == [], closing
    # ... when the highest level has a category, and in a module (its user may declare one)
    text = HEADER + unclosed + "category low {\n  allow\n}\ncategory high {\n  deny\n}\n"
    assert lint_src(tmp_path, text) == []
    assert lint_src(tmp_path, unclosed + "category low {\n  allow\n}\n", "lib.policy") == []


def test_w114_repro_from_the_review(tmp_path):
    d = lint_src(tmp_path, 'policy "t"\ntool u { schema {"type":"object"} risk low when args.x == 1 }\n'
                           "category low { allow }\n")
    assert [(x.code, x.span.line, x.span.column) for x in d] == [("W114", 2, 35)]
    from engine import MemoryLedger, load_policy
    decision = load_policy(str(tmp_path / "p.policy")).decide({"tool": "u", "args": {"x": 2}}, MemoryLedger())
    assert decision.outcome == "deny"   # what W114 warns of


def test_e105_reserved_words_where_names_are_expected(tmp_path):
    cases = {
        'route allow {\n  approvers "a"\n}\n': (2, 7, "route"),
        "const deny = 1\n": (2, 7, "const"),
        "levels low < deny\n": (2, 14, "risk level"),
        "check when on *  {\n  require args.x > 1 else deny\n}\n": (2, 7, "check"),
        "tool tools {\n  risk low\n}\n": (2, 6, "unquoted tool name"),
        "check c on unknown {\n  require args.x > 1 else deny\n}\n": (2, 12, "unquoted tool name"),
        "tool t {\n  risk low when (any missing in args.l: args.y > 1)\n}\n": (3, 22, "variable"),
        "tool t {\n  risk allow\n}\n": (3, 8, "risk level"),
        "category true {\n  allow\n}\n": (2, 10, "risk level"),
    }
    for text, (line, col, what) in cases.items():
        d = lint_src(tmp_path, HEADER + text)
        assert codes(d)[-1] == "I101"   # a parse error: nothing is analysed
        d = d[:-1]
        assert [(x.code, x.span.line, x.span.column) for x in d] == [("E105", line, col)], text
        assert what in d[0].message and d[0].message.startswith("`"), d[0].message
        if "tool name" in what:
            assert d[0].help.startswith("quote it: `\"")
    # the check's target and the route reference are reported too, each at its word
    d = lint_src(tmp_path, HEADER + "category low {\n  require approval via ask otherwise\n}\n")
    assert [(x.code, x.span.line, x.span.column) for x in d] == [("E105", 3, 24), ("I101", 3, 24)]


def test_e105_leaves_keys_quoted_tools_and_ordinary_names_alone(tmp_path):
    text = (HEADER + 'levels green < deny_level < red\nconst high = 3\nconst contains = "x"\n'
            'route sum {\n  approvers "a"\n}\n'
            'tool "allow" {\n  schema {"type": "object"}\n  risk green when args.mode == "x" and args.tool present\n'
            '  risk red when args.deny > high or args["when"] == contains\n  risk green otherwise\n}\n'
            'check matches on "allow", "deny" {\n  require (any count in args.l: count.on > 1) else deny\n}\n'
            "category green {\n  allow\n}\ncategory red {\n  require approval via sum\n}\n"
            "category deny_level {\n  deny\n}\n")
    # only the warnings this policy deserves: `deny_level` is never reached, `"deny"` has no tool block
    assert sorted(x.code for x in lint_src(tmp_path, text)) == ["W108", "W109"]


def test_logic_presence_intervals_and_types():
    from policy_lang.parser import parse
    m = parse(HEADER + 'check c on * {\n'
              '  require args.x present and args.x > 5 else deny\n'
              '  require args.x missing else deny\n'
              '  require args.x.y present else deny\n'
              '  require args.x == true else deny\n'
              '  require args.x == 1 else deny\n'
              '}\n')
    lines = [l.cond for l in m.decls[1].lines]
    L = Logic({})
    assert L.never(L.dnf(lines[0]), L.dnf(lines[1]))          # present and missing
    assert L.never(L.dnf(lines[2]), L.dnf(lines[1]))          # a present child has a present parent
    assert not L.never(L.dnf(lines[0]), L.dnf(lines[2]))
    assert L.never(L.dnf(lines[3]), L.dnf(lines[4]))          # `true` is not `1`
    assert L.never(L.dnf(lines[0], False), L.dnf(lines[0]))   # a condition and its negation


def test_schema_walks_refs_and_respects_open_objects(tmp_path):
    schema = ('{"type": "object", "properties": {"lines": {"type": "array", "items": {"$ref": "#/$defs/line"}},'
              ' "meta": {"type": "object", "additionalProperties": true},'
              ' "kind": {"enum": ["a", "b"]}},'
              ' "$defs": {"line": {"type": "object", "properties": {"sku": {"type": "string"}}}}}')
    text = HEADER + f"tool t {{\n  schema {schema}\n  risk low\n}}\ncategory low {{\n  allow\n}}\n" + (
        "check c on t {\n"
        '  require args.meta.anything present else deny\n'                     # open object: fine
        '  require args.lines[0].sku starts_with "S" else deny\n'              # through $ref: fine
        '  require all l in args.lines: l.skew present else deny\n'            # line 12: W105
        '  require args.kind != "c" else deny\n'                               # line 13: W106 (enum)
        '  require len(args.kind) > 0 else deny\n'                             # fine: a string
        "}\n")
    d = lint_src(tmp_path, text)
    assert [(x.code, x.span.line) for x in d] == [("W105", 12), ("W106", 13)]
    assert "`l.skew`" in d[0].message and "one of `\"a\"`, `\"b\"`" in d[1].message


def test_closed_schema_says_the_path_is_always_missing(tmp_path):
    text = HEADER + ('tool t {\n  schema {"type": "object", "additionalProperties": false, '
                     '"properties": {"amount": {"type": "number"}}}\n  risk low when args.note present\n'
                     '  risk low otherwise\n}\ncategory low {\n  allow\n}\n')
    d = lint_src(tmp_path, text)
    assert codes(d) == ["W105"] and "always missing" in d[0].help


def test_incompatible_literals(tmp_path):
    text = HEADER + REFUND + (
        "category low {\n"
        '  allow when "a" < 3\n'
        '  allow when context.tags contains 5 or context.x in "abc"\n'
        '  allow when len(5) > 1 or confidence == "high"\n'
        "  deny otherwise\n}\n")
    d = lint_src(tmp_path, text)
    assert [(x.code, x.span.line) for x in d] == [("W104", 7), ("W104", 8), ("W104", 9), ("W104", 9)]


def test_dead_rule_through_a_missing_path_says_so(tmp_path):
    text = HEADER + 'tool refund {\n  schema {"type": "object"}\n  risk low\n}\n' + "category low {\n  allow\n}\n" + (
        "check c on refund {\n"
        '  require args.order_id present else ask "Which order?"\n'
        '  require len(args.order_id) == 9 else escalate to "ops"\n'
        "}\n")
    d = lint_src(tmp_path, text)
    # W116 says the same from the other side: the `escalate` line denies when the path is missing
    assert [(x.code, x.span.line) for x in d] == [("W112", 10), ("W116", 11)]
    assert "reads a missing path" in d[0].message
    # guarded, the stronger line no longer fails when the path is missing: nothing to report
    fixed = text.replace("require len(args.order_id)", "require args.order_id missing or len(args.order_id)")
    assert lint_src(tmp_path, fixed) == []


def test_advisory_checks_never_make_other_lines_dead(tmp_path):
    text = (HEADER + REFUND + "category low {\n  allow\n}\n"
            'advisory check c on refund {\n  require args.amount < 0 and args.amount > 0 else deny\n}\n')
    assert codes(lint_src(tmp_path, text)) == ["W102"]


def test_w113_is_retired_and_stays_reserved(tmp_path):
    """RE2 matches in linear time, so nested quantifiers cost nothing: W113 reports nothing any more,
    yet `--select`/`--ignore W113` and old suppressions keep working and the code is never reused."""
    from policy_lang.lint import RETIRED
    assert "W113" in RETIRED and "W113" not in RULES and "W113" not in ALL_CODES
    path = tmp_path / "p.policy"
    path.write_text(HEADER + REFUND + 'category low { allow }\n'
                    'check c on refund { require args.code matches "^([A-Z0-9]+-?)+$" else deny }\n')
    assert "W113" not in codes(lint_file(str(path)))
    for option in ("--ignore", "--select"):
        r = run(option, "W113", path)
        assert r.exit_code in (0, 1) and "unknown code" not in r.output, r.output


# ---------------------------------------------------------------- suppression

def test_suppression_on_the_line_or_the_line_above(tmp_path):
    text = HEADER + REFUND + (
        "category low {\n"
        "  allow when confidence >= 0.5\n"
        "  allow when confidence >= 0.6  # signoff: ignore[W100]\n"
        "  # signoff: ignore[W103, W100]\n"
        "  allow when confidence >= 0.7\n"
        "  allow when confidence >= 0.8  # signoff: ignore[W101]\n"     # another code: stays
        "  # signoff: ignore[W100]\n"
        "\n"
        "  allow when confidence >= 0.9\n"                                # two lines below: stays
        "  deny otherwise\n}\n")
    d = lint_src(tmp_path, text)
    assert [(x.code, x.span.line) for x in d] == [("W100", 11), ("W100", 14)]


def test_errors_cannot_be_suppressed(tmp_path):
    d = lint_src(tmp_path, HEADER + "tool t {\n  risk nope  # signoff: ignore[E203]\n}\n")
    assert codes(d) == ["E203", "I101"]


# ---------------------------------------------------------------- files and modules

def test_module_used_by_a_policy_is_reported_through_it(tmp_path):
    (tmp_path / "routes.policy").write_text('route shared { approvers "lead" }\n')
    (tmp_path / "tools.policy").write_text(
        'tool t {\n  schema {"type": "object"}\n  risk low when args.x > 5\n  risk low when args.x > 6\n'
        "  risk low otherwise\n}\n")
    (tmp_path / "main.policy").write_text(
        'policy "m"\nuse "./routes.policy"\nuse "./tools.policy"\n'
        "category low {\n  require approval via shared\n}\n")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        d = lint_paths(["."])
    finally:
        os.chdir(cwd)
    # no E210 for the modules, no E204 for tools.policy alone, the W100 once, under its own file
    assert [(x.code, x.span.file, x.span.line) for x in d] == [("W100", "tools.policy", 4)]


def test_module_alone_is_not_missing_its_name(tmp_path):
    (tmp_path / "lib.policy").write_text(REFUND + "category low {\n  allow\n}\n")
    assert lint_paths([str(tmp_path)]) == []


def test_lint_text_and_imports_are_shown_relative_to_the_current_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "lib.policy").write_text(
        'tool t {\n  schema {"type": "object"}\n  risk low\n  risk low\n}\n')
    (tmp_path / "sub" / "main.policy").write_text('policy "m"\nuse "./lib.policy"\ncategory low {\n  allow\n}\n')
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        d = lint_file("sub/main.policy")
        assert [(x.code, x.span.file) for x in d] == [("W100", "sub/lib.policy")]
        t = lint_text('policy "x"\ntool a {\n  risk low\n}\ncategory low {\n  allow\n}\n', "mem.policy")
        assert [(x.code, x.span.file) for x in t] == [("I100", "mem.policy")]
    finally:
        os.chdir(cwd)


# ---------------------------------------------------------------- silent on what the project ships

def test_silent_on_examples_and_stdlib():
    paths = [str(ROOT / "examples"), str(ROOT / "stdlib_policies")]
    noisy = [d for d in lint_paths(paths) if d.severity != "info"]
    assert noisy == []


# ---------------------------------------------------------------- the command

def test_exit_codes(tmp_path):
    assert run(LINT_DIR / "clean.policy").exit_code == 0
    warn = LINT_DIR / "W100_unreachable_line.policy"
    assert run(warn).exit_code == 0
    assert run("--strict", warn).exit_code == 1
    info = LINT_DIR / "I100_tool_without_schema.policy"
    assert run("--strict", info).exit_code == 0
    bad = tmp_path / "bad.policy"
    bad.write_text('policy "x"\ntool t {\n  risk nope\n}\n')
    assert run(bad).exit_code == 1
    assert run(tmp_path / "missing.policy").exit_code == 2
    latin = tmp_path / "latin.policy"
    latin.write_bytes('policy "caf\xe9"\n'.encode("latin-1"))
    r = run(latin, LINT_DIR / "clean.policy")
    assert r.exit_code == 2 and "not valid UTF-8" in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(empty).exit_code == 2
    assert run("--select", "X123", warn).exit_code == 2
    assert run().exit_code == 2


def test_select_and_ignore(tmp_path):
    folder = LINT_DIR
    r = run("--format", "json", "--select", "W100,W101", "--select", "I", folder)
    assert sorted(x["code"] for x in json.loads(r.stdout)) == ["I100", "W100", "W101"]
    r = run("--format", "json", "--ignore", "W1", folder)
    assert [x["code"] for x in json.loads(r.stdout)] == ["I100"]
    assert r.exit_code == 0
    r = run("--strict", "--ignore", "W", folder)
    assert r.exit_code == 0
    r = run("--strict", "--select", "w112", folder)
    assert r.exit_code == 1
    assert codes(lint_paths([str(folder)], select=["W10"], ignore=["W100"])) == \
        ["W101", "W102", "W103", "W104", "W105", "W106", "W107", "W108", "W109"]


def test_text_format():
    f = LINT_DIR / "W103_confidence_out_of_range.policy"
    r = run(f)
    lines = r.stdout.splitlines()
    assert re.fullmatch(r".*W103_confidence_out_of_range\.policy:10:28: warning\[W103\]: "
                        r"confidence threshold `70` is outside \[0, 1\]", lines[0])
    assert lines[2] == "10 |   allow when confidence >= 70"
    assert lines[3] == "   |                            ^^"
    assert lines[4].startswith("   = help: ")  # the `=` under the gutter's `|`, as rustc does
    assert r.stderr.strip().splitlines()[-1] == "1 file checked: 0 errors, 1 warning, 0 infos"
    r = run(LINT_DIR / "clean.policy")
    assert r.stdout == "" and r.stderr.strip() == "1 file checked: no problems"


def test_json_format_has_exactly_the_fields():
    r = run("--format", "json", LINT_DIR)
    items = json.loads(r.stdout)
    assert len(items) == len(DEDICATED)
    for item in items:
        assert list(item) == ["file", "line", "column", "end_line", "end_column", "severity", "code",
                              "message", "help"]
        assert item["severity"] in ("error", "warning", "info")
    w = next(i for i in items if i["code"] == "W109")
    assert (w["line"], w["column"], w["end_line"], w["end_column"]) == (13, 21, 13, 27)
    assert w["file"].endswith("tests/lint/W109_check_on_undeclared_tool.policy")
    assert r.stderr == ""


def test_github_format():
    r = run("--format", "github", LINT_DIR / "W109_check_on_undeclared_tool.policy", LINT_DIR / "I100_tool_without_schema.policy")
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"::notice file=[^,]*I100_tool_without_schema\.policy,line=4,col=1,endLine=4,endColumn=12,"
                        r"title=I100::tool `refund` has no schema%0Ahelp: .*", lines[0])
    assert re.fullmatch(r"::warning file=[^,]*W109_check_on_undeclared_tool\.policy,line=13,col=21,endLine=13,"
                        r"endColumn=27,title=W109::check `refund_cap` is on `refnud`, which has no `tool` block"
                        r"%0Ahelp: did you mean `refund`\?", lines[1])


def test_github_format_escapes(tmp_path):
    from cli.lint_cmd import to_github
    from policy_lang.ast import Span
    from policy_lang.errors import Diagnostic
    out = to_github([Diagnostic("E100", "a%b\nc", Span("a,b:c.policy", 1, 2, 1, 3), help="h\r\x1b[2J")])
    # the message and the help are one line each: a newline or control inside them is shown escaped
    # (finding 16); the layout's one newline, before `help:`, is GitHub's %0A
    assert out == ("::error file=a%2Cb%3Ac.policy,line=1,col=2,endLine=1,endColumn=3,title=E100::a%25b\\nc"
                   "%0Ahelp: h\\r\\x1b[2J")


def test_sarif_is_valid_against_the_official_schema(tmp_path):
    bad = tmp_path / "bad dir"
    bad.mkdir()
    (bad / "e.policy").write_text('policy "x"\ntool t {\n  risk nope\n}\n')
    r = run("--format", "sarif", LINT_DIR, bad)
    assert r.exit_code == 1
    log = json.loads(r.stdout)
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(log)
    assert log["version"] == "2.1.0"
    run0 = log["runs"][0]
    rules = run0["tool"]["driver"]["rules"]
    assert {x["id"] for x in rules} == set(ALL_CODES)
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["help"]["text"]
    levels = {res["ruleId"]: res["level"] for res in run0["results"]}
    assert levels["W100"] == "warning" and levels["I100"] == "note" and levels["E203"] == "error"
    for res in run0["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        region = res["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
    uris = [res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for res in run0["results"]]
    assert any("bad%20dir/e.policy" in u for u in uris)


# ---------------------------------------------------------------- the documentation

def _doc_sections():
    text = DOCS.read_text(encoding="utf-8")
    return {m.group(1): m.group(2) for m in re.finditer(r"^### ([EWI]\d{3})\b(.*?)(?=^##|\Z)", text, re.M | re.S)}


def test_every_code_is_documented():
    sections = _doc_sections()
    assert set(sections) == set(ALL_CODES) == set(CODES) | set(RULES)
    for code, body in sections.items():
        assert "**Bad**" in body and "**Fixed**" in body, code
        assert body.count("```policy") >= 2, code


# examples that need other files, or that lint cannot show on its own
NOT_STANDALONE = {"E104", "E210", "E218", "E301", "E302", "E401"}


def _example(body, label):
    i = body.index(f"**{label}**")
    return re.compile(r"```policy[^\n]*\n(.*?)```", re.S).search(body, i).group(1)


@pytest.mark.parametrize("code", sorted(set(ALL_CODES) - NOT_STANDALONE))
def test_documented_examples_do_what_they_say(tmp_path, code):
    body = _doc_sections()[code]
    bad = lint_src(tmp_path, _example(body, "Bad"), "bad.policy")
    assert code in codes(bad)
    fixed = lint_src(tmp_path, _example(body, "Fixed"), "fixed.policy")
    assert code not in codes(fixed)
    assert [d for d in fixed if d.severity != "info"] == []


def test_suppression_example_in_the_docs_is_clean(tmp_path):
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## Suppressing a warning"):text.index("## Files, modules")]
    example = re.search(r"```policy[^\n]*\n(.*?)```", section, re.S).group(1)
    assert lint_src(tmp_path, example) == []


# ---------------------------------------------------------------- properties (hypothesis)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from policy_lang import ast as A  # noqa: E402

_MISSING = object()
_X_VALUES = [_MISSING, 0, 1, 5, 7.5, 10, "a", "b", True, False, {"z": 1}, {"z": "a"}, {}]
_Y_VALUES = [_MISSING, 0, 5, "a", True]
_LITERALS = [0, 1, 5, 10, 7.5, "a", "b", True, False]
_PATHS = [A.Path("args", ("x",)), A.Path("args", ("y",)), A.Path("args", ("x", "z"))]


def _lit(v):
    return A.Literal(v, str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None)


@st.composite
def _conds(draw, depth=3):
    kind = draw(st.integers(0, 5 if depth > 0 else 2))
    path = draw(st.sampled_from(_PATHS))
    if kind == 0:
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        lit = _lit(draw(st.sampled_from(_LITERALS)))
        return A.Compare(op, path, lit) if draw(st.booleans()) else A.Compare(op, lit, path)
    if kind == 1:
        items = tuple(_lit(v) for v in draw(st.lists(st.sampled_from(_LITERALS), max_size=3)))
        return A.Compare(draw(st.sampled_from(["in", "not in"])), path, A.ListExpr(items))
    if kind == 2:
        return A.Presence(path, draw(st.booleans()))
    if kind == 3:
        return A.Not(draw(_conds(depth - 1)))
    return A.BoolOp(draw(st.sampled_from(["and", "or"])), draw(_conds(depth - 1)), draw(_conds(depth - 1)))


class _Err(Exception):
    pass


def _get(path, env):
    v = env.get(path.keys[0], _MISSING)
    for k in path.keys[1:]:
        v = v.get(k, _MISSING) if isinstance(v, dict) else _MISSING
    return v


def _typed(v):
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, (int, float)):
        return ("n", float(v))
    return ("s", v) if isinstance(v, str) else ("o", id(v))


def _value(e, env):
    if isinstance(e, A.Literal):
        return e.value
    if isinstance(e, A.ListExpr):
        return [_value(i, env) for i in e.items]
    v = _get(e, env)
    if v is _MISSING:
        raise _Err()
    return v


def _eval(e, env):
    """The spec's semantics on this fragment; an evaluation error raises _Err."""
    if isinstance(e, A.BoolOp):
        left = _eval(e.left, env)
        if left == (e.op == "or"):
            return left
        return _eval(e.right, env)
    if isinstance(e, A.Not):
        return not _eval(e.operand, env)
    if isinstance(e, A.Presence):
        return (_get(e.path, env) is not _MISSING) == e.present
    a, b = _value(e.left, env), _value(e.right, env)
    if e.op in ("==", "!="):
        return (_typed(a) == _typed(b)) == (e.op == "==")
    if e.op in ("in", "not in"):
        return any(_typed(a) == _typed(x) for x in b) == (e.op == "in")
    num = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
    if not ((num(a) and num(b)) or (isinstance(a, str) and isinstance(b, str))):
        raise _Err()
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[e.op]


def _outcome(e, env):
    try:
        return _eval(e, env)
    except _Err:
        return "error"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(e1=_conds(), e2=_conds(), p1=st.booleans(), p2=st.booleans())
def test_reasoning_is_sound(e1, e2, p1, p2):
    """Whatever the analyses prove impossible (a condition true, or false without error, together
    with another) never happens for any concrete action."""
    L = Logic({})
    if not L.never(L.dnf(e1, p1), L.dnf(e2, p2)):
        return
    for x in _X_VALUES:
        for y in _Y_VALUES:
            env = {k: v for k, v in (("x", x), ("y", y)) if v is not _MISSING}
            assert not (_outcome(e1, env) is p1 and _outcome(e2, env) is p2), (env, e1, e2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_lint_never_crashes_on_generated_policies(tmp_path, data):
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    from policy_lang import print_module
    from strategies import policies
    gp = data.draw(policies())
    diags = lint_text(print_module(gp.decls), str(tmp_path / "gen.policy"))
    assert all(d.code in ALL_CODES and d.span.line >= 1 for d in diags)


def test_a_standard_module_given_itself_is_reported(tmp_path, monkeypatch):
    """Warnings inside a standard module are hidden from the policies that use it, but not when the
    module is one of the files linted (`signoff lint stdlib_policies/`)."""
    import policy_lang.lint as L
    monkeypatch.setattr(L, "STDLIB_DIR", tmp_path.resolve())
    (tmp_path / "mod.policy").write_text(
        'tool refund {\n  schema {"type": "object", "properties": {"amount": {"type": "number"}}}\n'
        '  risk low\n  risk high when args.amount > 5\n}\ncategory low { allow }\ncategory high { deny }\n')
    (tmp_path / "user.policy").write_text('policy "u"\nuse "./mod.policy"\n')
    assert codes(lint_paths([str(tmp_path / "user.policy")])) == []
    both = lint_paths([str(tmp_path)])
    assert [(d.code, d.span.file.endswith("mod.policy"), d.span.line) for d in both] == [("W100", True, 4)]
