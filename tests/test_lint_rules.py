"""The lint steps one by one: the `STEPS` table, and each rule family run alone on a small program."""
from pathlib import Path

import pytest

from policy_lang.checker import check as check_program
from policy_lang.lint import RULES, lint_file
from policy_lang.lint import checks, expressions, negative, reachability, routes, tools
from policy_lang.lint.context import LintContext
from policy_lang.lint.steps import STEPS, run
from policy_lang.loader import load_files

LINT_DIR = Path(__file__).resolve().parent / "lint"
TOOL = ('tool refund {\n  schema {"type": "object", "properties": {"amount": {"type": "number"}}}\n'
        '  risk low\n}\n')
LOW = 'category low { allow }\n'
BY_NAME = {s.name: s for s in STEPS}


def context(tmp_path, text, module=False):
    """A fresh context over `text`, as `lint_text` makes one (the program must load)."""
    path = tmp_path / "p.policy"
    path.write_text(text)
    loaded = load_files(str(path), text)
    program = check_program(loaded)
    root = next(f for f in loaded.files if f.is_root)
    return LintContext(program, loaded.files, root, module)


def codes(ctx):
    return sorted(d.code for d in ctx.out)


def test_every_code_has_a_step_and_every_step_reports_known_codes():
    reported = {c for s in STEPS for c in s.codes}
    assert reported == set(RULES) - {"I101"}   # I101: lint itself names what the steps did not analyse
    assert len({s.name for s in STEPS}) == len(STEPS)


def test_steps_come_after_the_steps_whose_facts_they_read():
    seen = set()
    for step in STEPS:
        assert set(step.needs) <= seen, step.name
        seen.add(step.name)


@pytest.mark.parametrize("path", sorted(LINT_DIR.glob("*.policy")), ids=lambda p: p.stem)
def test_each_step_reports_only_its_codes(path):
    """Run alone (after the steps it needs), each step reports only its own codes; together they
    report what `lint_file` does."""
    text = path.read_text()
    loaded = load_files(str(path), text)
    program = check_program(loaded)
    root = next(f for f in loaded.files if f.is_root)
    together = []
    for step in STEPS:
        ctx = LintContext(program, loaded.files, root, False)
        before = [BY_NAME[n] for n in step.needs]
        run(ctx, before)
        done = len(ctx.out)
        run(ctx, [step])
        mine = ctx.out[done:]
        assert {d.code for d in mine} <= set(step.codes), step.name
        together += mine
    assert sorted({(d.code, d.span.line, d.span.column) for d in together}) == \
        sorted({(d.code, d.span.line, d.span.column) for d in lint_file(str(path))})


def test_reachability_alone(tmp_path):
    tool = TOOL.replace("  risk low\n", "  risk low\n  risk high when args.amount > 5\n")
    ctx = context(tmp_path, 'policy "t"\n' + tool
                  + 'category low {\n  allow\n  deny when true\n}\ncategory high {\n  deny when args.amount > 1\n}\n'
                  + 'category mid { deny }\nlevels low < mid < high\n')
    reachability.tool_blocks(ctx)
    assert codes(ctx) == ["W100"]                       # `risk high` after a bare `risk low`
    assert ctx.tool_levels == {"refund": {"low", "high"}}
    reachability.category_blocks(ctx)
    assert codes(ctx) == ["W100", "W100", "W111"]        # `deny when true` after `allow`; `high` not closed
    reachability.unreachable_levels(ctx)
    assert ctx.out[-1].code == "W108" and ctx.out[-1].message.endswith("`mid`: no `risk` line gives it")


def test_dead_rules_alone(tmp_path):
    ctx = context(tmp_path, 'policy "t"\n' + TOOL + LOW + 'check a on refund {\n'
                  '  require args.amount > 5 else ask "why?"\n'
                  '  require args.amount > 5 else deny\n}\n')
    reachability.tool_blocks(ctx)
    reachability.category_blocks(ctx)
    reachability.dead_rules(ctx)
    assert codes(ctx) == ["W112"] and ctx.out[0].span.line == 8     # the `ask` line: `deny` always wins


def test_checks_alone(tmp_path):
    ctx = context(tmp_path, 'policy "t"\n' + TOOL + LOW + 'check a on refund {\n'
                  '  require args.amount > 5 or args.amount <= 5 else deny\n'
                  '  require args.amount > 5 and args.amount < 2 else deny\n'
                  '  budget sum(args.amount) per agent per 1d <= 0 else deny\n}\n')
    checks.check_blocks(ctx)
    assert codes(ctx) == ["W101", "W102", "W110"]


def test_expressions_alone(tmp_path):
    ctx = context(tmp_path, 'policy "t"\n' + TOOL + LOW + 'check a on refund {\n'
                  '  require confidence > 50 else deny\n'
                  '  require args.amont > 1 else deny\n'
                  '  require args.amount == "x" else deny\n'
                  '  require args.amount > 1 or args.amount == "1" else deny\n}\n')
    expressions.expressions(ctx)
    assert codes(ctx) == ["W103", "W104", "W105", "W106", "W106"]


def test_routes_alone(tmp_path):
    ctx = context(tmp_path, 'policy "t"\nroute finance {\n  approvers "lead"\n}\n' + TOOL + LOW)
    routes.unused_routes(ctx)
    assert codes(ctx) == ["W107"]


def test_tools_alone(tmp_path):
    ctx = context(tmp_path, 'policy "t"\ntool lookup {\n  risk low when args.x == 1\n}\n' + LOW
                  + 'check a on lookpu {\n  require args.x == 1 else deny\n}\n')
    tools.schemaless_tools(ctx)
    assert codes(ctx) == ["I100"]
    reachability.tool_blocks(ctx)
    tools.unmatched_levels(ctx)
    assert codes(ctx) == ["I100", "W114"]
    tools.undeclared_targets(ctx)
    assert codes(ctx) == ["I100", "W109", "W114"]
    assert ctx.out[-1].help == "did you mean `lookup`?"


def test_negative_tests_alone(tmp_path):
    ctx = context(tmp_path, 'policy "t"\n' + TOOL + LOW + 'check a on refund {\n'
                  '  require context.cabin != "basic" else deny\n'
                  '  require args.amount != 3 else deny\n}\n')
    reachability.tool_blocks(ctx)
    reachability.category_blocks(ctx)
    negative.negative_tests(ctx)
    assert codes(ctx) == ["W115"] and ctx.out[0].span.line == 8


def test_a_module_skips_the_whole_policy_steps(tmp_path):
    ctx = context(tmp_path, 'policy "t"\nroute finance {\n  approvers "lead"\n}\n' + TOOL + LOW
                  + 'category mid { deny }\nlevels low < mid\n', module=True)
    run(ctx)
    assert "W107" not in codes(ctx) and "W108" not in codes(ctx)
    ctx = context(tmp_path, 'policy "t"\nroute finance {\n  approvers "lead"\n}\n' + TOOL + LOW
                  + 'category mid { deny }\nlevels low < mid\n')
    run(ctx)
    assert {"W107", "W108"} <= set(codes(ctx))
