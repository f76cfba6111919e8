"""The standard library (`use stdlib.NAME`, stdlib_policies/): it lints clean, its policy tests
pass, every module loads alone and with the others, what the mission says must always carry a
human never runs alone, routine work still does, and users can override it piece by piece."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.inputs import load_yaml
from cli.main import cli
from engine import MemoryLedger, Policy
from policy_lang import PolicyError
from policy_lang.checker import load
from policy_lang.lint import lint_file, lint_paths
from policy_lang.loader import STDLIB_DIR, stdlib_modules
from policy_lang.printer import format_source

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
TESTS = STDLIB_DIR / "tests"
MODULES = stdlib_modules()
AREAS = [m for m in MODULES if m != "base"]
ALL_STDLIB = DATA / "all_stdlib.policy"
POLICY_FILES = sorted(STDLIB_DIR.glob("*.policy")) + sorted(TESTS.glob("*.policy"))
TEST_FILES = sorted(TESTS.glob("*.test.yaml"))


def test_the_standard_library_has_its_modules():
    assert MODULES == ["access_control", "base", "billing", "data_deletion", "deploys", "external_comms",
                       "key_accounts", "publishing", "regulated_comms"]


# ---------------------------------------------------------------- (1) lint, format, schemas

@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.relative_to(STDLIB_DIR).as_posix())
def test_every_file_lints_clean(path):
    """No error, warning or info: a module on its own (where its own diagnostics are reported) and
    every test wrapper (where the modules' names resolve)."""
    diags = lint_file(str(path))
    assert diags == [], "\n".join(f"{d.span.at()}: {d.code} {d.message}" for d in diags)


def test_the_whole_folder_lints_clean_through_the_cli():
    r = CliRunner().invoke(cli, ["lint", "--strict", str(STDLIB_DIR)])
    assert r.exit_code == 0, r.output
    assert lint_paths([str(STDLIB_DIR), str(ALL_STDLIB)]) == []


@pytest.mark.parametrize("path", POLICY_FILES + [ALL_STDLIB], ids=lambda p: p.name)
def test_every_file_is_formatted(path):
    text = path.read_text(encoding="utf-8")
    assert format_source(text, path.name) == text, f"run `signoff fmt {path}`"


def test_every_module_opens_with_a_comment_stating_its_purpose():
    for name in MODULES:
        first = (STDLIB_DIR / f"{name}.policy").read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith(f"# stdlib.{name} — "), first


def test_schemas_are_draft_2020_12_and_each_is_used(tmp_path):
    schemas = sorted((STDLIB_DIR / "schemas").glob("*.json"))
    assert schemas
    used = set()
    for name in MODULES:
        program = load(str(tmp_path / "p.policy"), f'policy "t"\nuse stdlib.{name}\n')
        for tool in program.tools.values():
            assert tool.schema is not None, f"tool `{tool.name}` of stdlib.{name} has no schema"
            if tool.schema.file:
                used.add(Path(tool.schema.file).name)
    for path in schemas:
        value = json.loads(path.read_text(encoding="utf-8"))
        assert value.get("$schema") == "https://json-schema.org/draft/2020-12/schema", path.name
        jsonschema.Draft202012Validator.check_schema(value)
        assert value.get("title") and value.get("type") == "object", path.name
        assert path.name in used, f"{path.name} is not used by any module"
        assert path.stem == value["title"].split()[2], "a schema is named after its tool"


def test_docs_have_a_section_per_module():
    text = (ROOT / "docs" / "stdlib.md").read_text(encoding="utf-8")
    program = load(str(TESTS / "assisted.policy"))
    for name in MODULES:
        assert f"\n## stdlib.{name}\n" in text, name
        section = text.split(f"\n## stdlib.{name}\n", 1)[1].split("\n## ", 1)[0]
        assert "**Tighten**" in section and "**Loosen**" in section, name
        for check in program.checks.values():
            if check.span.file == f"stdlib/{name}.policy":
                assert f"`{check.name}`" in section, f"docs/stdlib.md does not explain check `{check.name}`"


# ---------------------------------------------------------------- (2) the policy tests

def test_every_module_has_a_test_file():
    for name in MODULES:
        assert (TESTS / f"{name}.test.yaml").is_file(), name
    assert (TESTS / "assisted.test.yaml").is_file() and (TESTS / "autonomous.test.yaml").is_file()


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_policy_tests_pass(path):
    r = CliRunner().invoke(cli, ["test", str(path)])
    last = r.output.strip().splitlines()[-1]
    assert r.exit_code == 0 and last.endswith(" 0 failed"), r.output


def test_every_rule_of_a_module_fires_in_its_own_tests():
    """`signoff test --coverage`: each area's test file makes every line of its module fire, but
    for risk lines only reachable through a const that is empty by default."""
    only_with_overrides = {"stdlib/external_comms.policy": {"risk low (tool send_sms)"}}
    for name in MODULES:
        r = CliRunner().invoke(cli, ["test", "--coverage", "--format", "json", str(TESTS / f"{name}.test.yaml")])
        out = json.loads(r.output)
        missed = [u for u in out["coverage"]["uncovered"] if u["at"].startswith(f"stdlib/{name}.policy:")]
        missed = [u for u in missed if u["rule"] not in only_with_overrides.get(f"stdlib/{name}.policy", set())]
        assert missed == [], missed


# ---------------------------------------------------------------- (4) loading

@pytest.mark.parametrize("name", MODULES)
def test_each_module_loads_on_its_own(tmp_path, name):
    path = tmp_path / "p.policy"
    path.write_text(f'policy "only-{name}"\nuse stdlib.{name}\n')
    program = load(str(path))
    rels = [f.rel for f in program.files]
    assert rels.count("stdlib/base.policy") == 1 and rels[0] == "stdlib/base.policy"
    assert program.first_route.name == "team_review"
    assert set(program.categories) == {"low", "medium", "high"}


def test_all_modules_load_together_in_any_order(tmp_path):
    forward = load(str(ALL_STDLIB))
    rels = [f.rel for f in forward.files]
    assert sorted(r for r in rels if r.startswith("stdlib/")) == sorted(f"stdlib/{m}.policy" for m in MODULES)
    assert len(rels) == len(set(rels)), "a module reached twice (a diamond) is loaded once"
    backward = tmp_path / "p.policy"
    backward.write_text('policy "backward"\n' + "".join(f"use stdlib.{m}\n" for m in reversed(MODULES)))
    other = load(str(backward))
    assert set(other.tools) == set(forward.tools) and set(other.checks) == set(forward.checks)
    assert set(other.routes) == set(forward.routes) and other.first_route.name == "team_review"


def test_all_stdlib_policy_uses_every_module():
    text = ALL_STDLIB.read_text(encoding="utf-8")
    assert {line.split("stdlib.")[1] for line in text.splitlines() if line.startswith("use stdlib.")} == set(MODULES)
    assert 'policy "all-stdlib"' in text and "mode guarded" in text


# ---------------------------------------------------------------- (3) always gated

def _merge(defaults: dict, action: dict) -> dict:
    out = copy.deepcopy(defaults)
    for k, v in copy.deepcopy(action).items():
        if k == "context" and isinstance(out.get(k), dict):
            out[k].update(v)
        else:
            out[k] = v
    return out


def _load_data(name: str):
    data = load_yaml(str(DATA / name))   # the strict loader test files get (no aliases, size cap)
    return [dict(e, action=_merge(data["defaults"], e["action"])) for e in data["actions"]]


ALWAYS = _load_data("always_gate.yaml")
ROUTINE = _load_data("routine_actions.yaml")


def _policy(mode: str = "guarded", extra: str = "") -> Policy:
    text = ALL_STDLIB.read_text(encoding="utf-8").replace("mode guarded", f"mode {mode}") + extra
    return Policy(load(str(ALL_STDLIB), text))


GUARDED = _policy()
AUTONOMOUS = _policy("autonomous")


def test_always_gate_covers_every_area():
    for area in AREAS:
        assert sum(e["area"] == area for e in ALWAYS) >= 4, area
    assert {e["area"] for e in ALWAYS} == set(AREAS)
    for e in ALWAYS:
        assert e["action"]["confidence"] == 1.0 and e["action"]["tenant"]["plan"] == "enterprise"


@pytest.mark.parametrize("entry", ALWAYS, ids=lambda e: f"{e['area']}: {e['name']}")
def test_always_gated_actions_get_a_human(entry):
    d = GUARDED.decide(entry["action"], MemoryLedger()).to_dict()
    assert d["outcome"] != "allow"
    for key, want in entry["expect"].items():
        assert d[key] == want, (key, d)
    if d["outcome"] == "require_approval":
        assert d["route"]["name"] == entry["expect"]["routes"][0]
    assert all(r["rule"] != "error" for r in d["reasons"]), "gated by design, not by an evaluation error"


@pytest.mark.parametrize("entry", ALWAYS, ids=lambda e: f"{e['area']}: {e['name']}")
def test_always_gated_actions_stay_gated_in_autonomous_mode(entry):
    """Autonomous mode waives category reviews only; every stdlib gate is a check, so it holds."""
    d = AUTONOMOUS.decide(entry["action"], MemoryLedger()).to_dict()
    assert d["outcome"] != "allow", d
    if entry["expect"]["outcome"] != "require_approval":
        assert d["outcome"] == entry["expect"]["outcome"]
    else:
        assert set(d["routes"]) <= set(entry["expect"]["routes"]) and d["routes"]


def _set_path(action: dict, path: str, factor: float) -> None:
    parts = path.split(".")
    node = action["args"]
    if parts[0] == "context":
        node, parts = action["context"], parts[1:]
    for p in parts[:-1]:
        node = node[p]
    old = node[parts[-1]]
    node[parts[-1]] = int(round(old * factor)) if isinstance(old, int) else round(old * factor, 2)


PLANS = st.sampled_from(["free", "starter", "pro", "business", "enterprise"]) | st.text(max_size=12)
TIMES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31),
                     timezones=st.just(timezone.utc))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(ALWAYS) - 1), confidence=st.floats(0, 1), factor=st.floats(1, 20),
       plan=PLANS, agent=st.text(min_size=1, max_size=20), role=st.sampled_from(["support", "billing", "ops", "admin"]),
       when=TIMES, autonomous=st.booleans())
def test_always_gated_actions_are_never_allowed(index, confidence, factor, plan, agent, role, when, autonomous):
    entry = ALWAYS[index]
    action = copy.deepcopy(entry["action"])
    action["confidence"] = confidence
    for path in entry.get("amounts", []):
        _set_path(action, path, factor)
    action["tenant"] = dict(action["tenant"], plan=plan)
    action["agent"] = {"id": agent, "role": role}
    action["timestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    d = (AUTONOMOUS if autonomous else GUARDED).decide(action, MemoryLedger())
    assert d.outcome != "allow", (entry["name"], action, d)


def test_the_seed_areas_are_each_gated_by_a_check():
    """Every always-gate entry is gated by at least one binding check (not only by a category), which
    is what makes it hold in autonomous mode."""
    for e in ALWAYS:
        d = GUARDED.decide(e["action"], MemoryLedger()).to_dict()
        assert any(r["rule"].startswith("check ") and r["outcome"] != "allow" for r in d["reasons"]), e["name"]


# ---------------------------------------------------------------- (5) routine work runs

ROUTINE_TOOLS = """
tool lookup_order {
  schema {"type": "object", "required": ["order_id"], "properties": {"order_id": {"type": "string"}}}
  risk low
}
tool search_knowledge_base {
  schema {"type": "object", "required": ["query"], "properties": {"query": {"type": "string"}}}
  risk low
}
"""


@pytest.mark.parametrize("entry", ROUTINE, ids=lambda e: e["name"])
def test_routine_work_runs_alone(entry):
    d = _policy(extra=ROUTINE_TOOLS).decide(entry["action"], MemoryLedger()).to_dict()
    assert d["outcome"] == "allow", d["reasons"]


def test_routine_work_is_most_of_a_realistic_day():
    """A day's mix (mostly reads, notes and internal mail) stays within the mission's 80-95%."""
    policy = _policy(extra=ROUTINE_TOOLS)
    day = [e["action"] for e in ROUTINE] * 4 + [e["action"] for e in ALWAYS[::4]]
    allowed = sum(policy.decide(a, MemoryLedger()).outcome == "allow" for a in day)
    assert 0.80 <= allowed / len(day) <= 0.95, allowed / len(day)


# ---------------------------------------------------------------- (6) overrides

def _decide(make_policy, text: str, action: dict, history=()) -> dict:
    policy = make_policy(text)
    ledger = MemoryLedger()
    for h in history:
        policy.record(h, ledger)
    return policy.decide(action, ledger).to_dict()


TENANT = {"id": "acme", "plan": "business", "email_domain": "acme.com"}
BOT = {"id": "support-bot"}
REFUND_80 = {"tool": "issue_refund", "args": {"customer_id": "cus-17", "invoice_id": "INV-1", "amount": 80},
             "confidence": 0.95, "tenant": TENANT, "agent": BOT, "timestamp": "2026-11-17T10:00:00Z"}


def test_override_const_moves_a_threshold(make_policy):
    base = 'policy "p"\nuse stdlib.billing\n'
    assert _decide(make_policy, base, REFUND_80)["routes"] == ["finance_review"]
    d = _decide(make_policy, base + "override const BILLING_AUTO_REFUND_LIMIT = 100\n", REFUND_80)
    assert d["outcome"] == "allow"


def test_override_route_changes_who_approves(make_policy):
    text = ('policy "p"\nuse stdlib.billing\n'
            'override route finance_review {\n  approvers "cfo", "controller"\n  quorum 2\n'
            '  timeout 1d then escalate to "cfo"\n  grants never\n}\n')
    d = _decide(make_policy, text, REFUND_80)
    assert d["route"] == {"name": "finance_review", "approvers": ["cfo", "controller"], "quorum": 2, "timeout": "1d",
                          "on_timeout": {"outcome": "escalate", "to": "cfo"}}


def test_override_category_changes_the_confidence_bar(make_policy):
    small = dict(REFUND_80, args=dict(REFUND_80["args"], amount=20), confidence=0.85)
    base = 'policy "p"\nuse stdlib.billing\n'
    assert _decide(make_policy, base, small)["routes"] == ["team_review"]
    for extra in ("override const BASE_MEDIUM_CONFIDENCE = 0.80\n",
                  "override category medium {\n  allow when confidence >= 0.8\n"
                  "  require approval via team_review otherwise\n}\n"):
        assert _decide(make_policy, base + extra, small)["outcome"] == "allow"


def test_override_category_high_can_tighten_to_escalation(make_policy):
    text = ('policy "p"\nuse stdlib.access_control\n'
            'override category high {\n  escalate to "security_oncall"\n}\n')
    admin = {"tool": "update_role", "args": {"user_id": "u-42", "role": "admin"}, "confidence": 1.0,
             "tenant": TENANT, "agent": BOT}
    d = _decide(make_policy, text, admin)
    assert d["outcome"] == "escalate" and d["escalate_to"] == "security_oncall"


def test_override_internal_domains_numbers_and_channels(make_policy):
    text = ('policy "p"\nuse stdlib.external_comms\n'
            'override const COMMS_INTERNAL_DOMAINS = ["acme-support.example"]\n'
            'override const COMMS_INTERNAL_NUMBERS = ["+4915112345678"]\n'
            'override const COMMS_INTERNAL_CHANNELS = ["C024BE91L"]\n')
    mail = {"tool": "send_email", "args": {"to": ["desk@acme-support.example", "maria@acme.com"],
                                           "subject": "Handover", "body": "Notes."},
            "confidence": 0.9, "tenant": TENANT, "agent": BOT}
    sms = {"tool": "send_sms", "args": {"to": "+4915112345678", "body": "You are on call tonight."},
           "confidence": 0.9, "tenant": TENANT, "agent": BOT}
    chat = {"tool": "post_message", "args": {"channel": "C024BE91L", "text": "Deployed."},
            "confidence": 0.9, "tenant": TENANT, "agent": BOT}
    for action in (mail, sms, chat):
        d = _decide(make_policy, text, action)
        assert d["outcome"] == "allow" and d["category"] == "low", d
    d = _decide(make_policy, 'policy "p"\nuse stdlib.external_comms\n', mail)
    assert d["routes"] == ["comms_review"]


def test_override_check_changes_a_budget(make_policy):
    sent = [{"tool": "post_message", "agent": BOT, "timestamp": "2026-11-17T09:30:00Z"}] * 60
    mail = {"tool": "send_email", "args": {"to": ["maria@acme.com"], "subject": "Hi", "body": "Hello."},
            "confidence": 0.9, "tenant": TENANT, "agent": BOT, "timestamp": "2026-11-17T10:00:00Z"}
    base = 'policy "p"\nuse stdlib.external_comms\n'
    assert _decide(make_policy, base, mail, sent)["outcome"] == "escalate"
    text = base + ('override check outbound_rate on send_email, send_sms, post_message {\n'
                   '  budget count() per agent per 1h <= 200 else escalate to "comms_oncall"\n}\n')
    assert _decide(make_policy, text, mail, sent)["outcome"] == "allow"


def test_override_tool_changes_a_risk_level(make_policy):
    text = ('policy "p"\nuse stdlib.data_deletion\n'
            'override tool delete_record {\n  schema "stdlib_schema.json"\n  risk high\n}\n')
    schema = (STDLIB_DIR / "schemas" / "delete_record.json").read_text()
    policy = make_policy(text, files={"stdlib_schema.json": schema})
    soft = {"tool": "delete_record", "args": {"object_type": "contact", "record_id": "ct-1", "soft_delete": True},
            "confidence": 0.99, "tenant": TENANT, "agent": BOT}
    d = policy.decide(soft, MemoryLedger()).to_dict()
    assert d["outcome"] == "require_approval" and d["category"] == "high" and d["routes"] == ["team_review"]


def test_override_deploy_window_time_zone(make_policy):
    # 08:30 UTC on a Tuesday is 09:30 in Berlin (CET): inside the window there, outside it in UTC
    deploy = {"tool": "deploy", "args": {"service": "api", "environment": "production", "version": "v1"},
              "confidence": 0.99, "tenant": TENANT, "agent": BOT, "timestamp": "2026-11-17T08:30:00Z"}
    base = 'policy "p"\nuse stdlib.deploys\n'
    assert _decide(make_policy, base, deploy)["outcome"] == "escalate"
    d = _decide(make_policy, base + 'override const DEPLOY_TIMEZONE = "Europe/Berlin"\n', deploy)
    assert d["outcome"] == "require_approval" and d["routes"] == ["release_review"]


def test_override_of_a_module_not_used_is_an_error(tmp_path):
    path = tmp_path / "p.policy"
    path.write_text('policy "p"\nuse stdlib.billing\noverride const DEPLOY_TIMEZONE = "Europe/Berlin"\n')
    with pytest.raises(PolicyError) as e:
        load(str(path))
    assert "E201" in e.value.codes


def test_redefining_without_override_is_an_error(tmp_path):
    path = tmp_path / "p.policy"
    path.write_text('policy "p"\nuse stdlib.billing\nconst BILLING_AUTO_REFUND_LIMIT = 100\n')
    with pytest.raises(PolicyError) as e:
        load(str(path))
    assert "E200" in e.value.codes
