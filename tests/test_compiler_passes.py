"""Each compiler pass, run alone on a fresh context, does its one job."""
import pytest

from engine.decide import compiler as C
from engine.decide.graph import BudgetNode, RequireNode
from policy_lang.checker import load

SRC = '''
policy "passes"
mode guarded
const LIMIT = 100
route team { approvers "lead" }
route fin { approvers "fm" }
tool refund {
  risk medium when args.amount <= LIMIT
  risk high otherwise
  mode autonomous
}
tool lookup { risk low mode assisted }
category low { allow }
category medium { allow when confidence >= 0.9; require approval via team otherwise }
category high { require approval via fin }
check cap on refund { budget sum(args.amount) per tenant per 1d <= 500 else escalate to "x" }
check everything on * { require tool != "x" else deny }
check ghost on ghost_tool { require false else deny }
unknown tools require approval
'''


@pytest.fixture
def ctx(tmp_path):
    p = tmp_path / "p.policy"
    p.write_text(SRC)
    return C.Context(load(str(p)))


def run_until(ctx, last):
    for p in C.PASSES:
        p(ctx)
        if p is last:
            return ctx.graph


def test_passes_are_ordered_and_named():
    assert [p.__name__ for p in C.PASSES] == [
        "resolve_consts", "compile_schemas", "build_dispatch", "classify_risk", "route_categories",
        "compile_checks", "fold_tool_tests", "unknown_tools", "apply_modes", "link", "alias_tools"]


def test_resolve_consts(ctx):
    C.resolve_consts(ctx)
    g = ctx.graph
    assert g.consts == {"LIMIT": 100}
    assert g.first_route["name"] == "team"
    assert g.routes["fin"] == {"name": "fin", "approvers": ["fm"], "quorum": 1, "timeout": None, "on_timeout": None}


def test_build_dispatch_indexes_declared_tools_with_their_modes(ctx):
    g = run_until(ctx, C.build_dispatch)
    assert {n: t.mode for n, t in g.tools.items()} == {"refund": "autonomous", "lookup": "assisted"}


def test_classify_risk_builds_ordered_edges(ctx):
    g = run_until(ctx, C.classify_risk)
    edges = g.tools["refund"].risk
    assert [(e.level, e.cond is None) for e in edges] == [("medium", False), ("high", True)]
    assert edges[0].cond({"args": {"amount": 100}}, None) is True
    assert edges[0].cond({"args": {"amount": 101}}, None) is False


def test_route_categories(ctx):
    g = run_until(ctx, C.route_categories)
    med = g.tools["refund"].categories["medium"]
    assert [e.reason.outcome for e in med.edges] == ["allow", "require_approval"]
    assert med.edges[1].reason.route["name"] == "team"


def test_compile_checks_files_checks_under_their_tools_in_load_order(ctx):
    g = run_until(ctx, C.compile_checks)
    refund = g.tools["refund"].checks
    assert [type(c) for c in refund] == [BudgetNode, RequireNode]
    assert [c.check for c in refund] == ["cap", "everything"]
    assert [c.check for c in g.tools["lookup"].checks] == ["everything"]
    assert not g.tools["ghost_tool"].known and [c.check for c in g.tools["ghost_tool"].checks] == ["everything", "ghost"]
    assert [c.check for c in g.default.checks] == ["everything"]
    assert refund[0].keys[0]({"tenant": {"id": "acme"}}, None) == "acme"  # `tenant` means tenant.id


def test_fold_tool_tests_drops_lines_that_always_hold_for_the_node(tmp_path):
    p = tmp_path / "p.policy"
    p.write_text('policy "f"\nconst BLOCKED = ["drop_db"]\ntool drop_db { risk low }\ntool lookup { risk low }\n'
                 'category low { allow }\n'
                 'check blocked on * { require tool not in BLOCKED else deny "blocked" }\n'
                 'check named on * { require lower(tool) != "x" and args.n present else deny }\n'
                 'check prefix on * { require tool starts_with "look" or tool == "drop_db" else deny }\n')
    ctx = C.Context(load(str(p)))
    g = run_until(ctx, C.fold_tool_tests)
    # `blocked` holds for lookup (dropped) and fails for drop_db (kept); `named` reads args (kept);
    # `prefix` holds for both; the default node (any other name) keeps everything
    assert [c.check for c in g.tools["lookup"].checks] == ["named"]
    assert [c.check for c in g.tools["drop_db"].checks] == ["blocked", "named"]
    assert [c.check for c in g.default.checks] == ["blocked", "named", "prefix"]
    C.unknown_tools(ctx), C.apply_modes(ctx), C.link(ctx)
    outcome, _, reasons = g.tools["drop_db"].run({"tool": "drop_db", "args": {"n": 1}}, 0.0, None)
    assert outcome == "deny" and [r.rule for r in reasons if r.outcome == "deny"] == ["check blocked"]


def test_alias_tools_decide_as_their_tool_and_show_it_the_tools_name(tmp_path):
    p = tmp_path / "p.policy"
    p.write_text('policy "a"\ntool send_email { risk low when args.n <= 3 risk high }\ntool gmail_send as send_email\n'
                 'category low { allow }\ncategory high { deny "many" }\n'
                 'check named on * { require tool == "send_email" else deny "other tool" }\n')
    ctx = C.Context(load(str(p)))
    g = run_until(ctx, C.alias_tools)
    node = g.tools["gmail_send"]
    # `named` reads only `tool`, always send_email here: folded away for both names
    assert node.known and node.name == "gmail_send" and node.checks == g.tools["send_email"].checks == []
    assert node.run({"tool": "gmail_send", "args": {"n": 2}}, 0.0, None)[0] == "allow"  # `tool` reads send_email
    assert node.run({"tool": "gmail_send", "args": {"n": 9}}, 0.0, None)[0] == "deny"
    assert g.tools["send_email"].run({"tool": "send_email", "args": {"n": 2}}, 0.0, None)[0] == "allow"


def test_unknown_tools_outcome(ctx):
    g = run_until(ctx, C.unknown_tools)
    r = g.default.unknown_reason
    assert (r.rule, r.outcome, r.route["name"]) == ("unknown tools", "require_approval", "team")


def test_apply_modes_relaxes_category_approvals_for_autonomous_tools_only(ctx):
    g = run_until(ctx, C.apply_modes)
    assert [e.reason.outcome for e in g.tools["refund"].categories["medium"].edges] == ["allow", "allow"]
    assert g.tools["lookup"].mode_reason.rule == "mode assisted"
    assert g.tools["lookup"].mode_reason.route["name"] == "team"


def test_link_gives_every_node_a_closure(ctx):
    g = run_until(ctx, C.link)
    outcome, category, reasons = g.tools["refund"].run({"tool": "refund", "args": {"amount": 300},
                                                        "tenant": {"id": "a"}}, 0.0, None)
    assert (outcome, category) == ("allow", "high")
    assert [r.rule for r in reasons] == ["category high"]


def test_dispatch_cost_follows_the_tool_not_the_policy(tmp_path):
    """A 2,000-tool policy gives each tool node only its own rules."""
    lines = ['policy "big"'] + [f"tool t{i} {{ risk low when args.n > {i}; risk high }}" for i in range(2000)]
    lines += ["category low { allow }", "category high { deny }"]
    lines += [f"check c{i} on t{i} {{ require args.n < {i + 10} else deny }}" for i in range(2000)]
    p = tmp_path / "big.policy"
    p.write_text("\n".join(lines))
    g = C.compile_program(load(str(p)))
    assert len(g.tools["t1234"].risk) == 2 and [c.check for c in g.tools["t1234"].checks] == ["c1234"]
