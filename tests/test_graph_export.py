"""`signoff graph` renders the compiled graph in DOT, Mermaid and SVG."""
import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner

from cli.main import cli

EX = Path(__file__).resolve().parent.parent / "examples" / "support-ops" / "support.policy"


def run(*args):
    return CliRunner().invoke(cli, ["graph", str(EX), *args])


def test_dot_shows_the_decision_path_of_a_tool():
    r = run("--tool", "issue_refund", "--format", "dot")
    assert r.exit_code == 0, r.output
    out = r.output
    assert out.startswith("digraph signoff {")
    assert 't0_risk0 [label="args.amount <= 100"' in out
    assert 't0_risk0 -> t0_lvl_medium [label="yes"];' in out
    assert 't0_risk0 -> t0_lvl_high [label="otherwise"];' in out
    assert '"check refund_budget\\nbudget sum(args.amount) per tenant.id per 1d <= 2000"' in out
    assert "send_email" not in out  # only the requested tool


def test_advisory_checks_do_not_feed_the_combination():
    out = run("--tool", "issue_refund", "--format", "dot").output
    adv = [l for l in out.splitlines() if "fails (reported only)" in l]
    assert len(adv) == 1
    leaf = adv[0].split("->")[1].split("[")[0].strip()
    assert f"{leaf} -> t0_combine;" not in out


def test_output_is_deterministic():
    assert run("--format", "mermaid").output == run("--format", "mermaid").output


def test_mermaid_escapes_labels():
    out = run("--tool", "send_email", "--format", "mermaid").output
    assert out.startswith("flowchart LR")
    assert "domain(args.to) not in INTERNAL_DOMAINS" in out
    assert "&lt;" not in out or "<=" not in out.split("flowchart", 1)[1].replace("&lt;", "")


def test_svg_is_well_formed_and_self_contained(tmp_path):
    target = tmp_path / "g.svg"
    r = run("--format", "svg", "--out", str(target))
    assert r.exit_code == 0
    root = ET.parse(target).getroot()
    assert root.tag.endswith("svg")
    text = target.read_text()
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "tool issue_refund" in text and "unknown tools" in text


def test_unknown_tool_is_a_usage_error():
    r = run("--tool", "issue_refnd")
    assert r.exit_code == 2 and "did you mean `issue_refund`?" in r.output


def test_an_alias_is_one_node_pointing_at_its_tool(tmp_path):
    p = tmp_path / "a.policy"
    p.write_text('policy "a"\ntool send_email {\n  schema {"type": "object"}\n  risk low\n}\n'
                 'tool gmail_send as send_email\ncategory low { allow }\n')
    full = CliRunner().invoke(cli, ["graph", str(p), "--format", "dot"]).output
    assert 'a1 [label="tool gmail_send\\nas send_email"' in full and "a1 -> t0;" in full
    assert "schema gmail_send" not in full and full.count("tool send_email") == 1
    one = CliRunner().invoke(cli, ["graph", str(p), "--tool", "gmail_send", "--format", "dot"]).output
    assert "tool send_email" in one and "as send_email" in one and "unknown tools" not in one
