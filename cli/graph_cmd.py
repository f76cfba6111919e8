"""`signoff graph`: show the compiled decision graph of a policy."""
from __future__ import annotations

import sys
from typing import Optional

import click

from engine.report import build_view, to_dot, to_mermaid, to_svg

from .output import echo, field


@click.command(name="graph")
@click.argument("policy", type=click.Path(dir_okay=False))
@click.option("--tool", "tool", metavar="T", help="Only this tool's part of the graph.")
@click.option("--format", "fmt", type=click.Choice(["dot", "mermaid", "svg"]), default="dot", show_default=True,
              help="Graphviz, a Mermaid flowchart, or a self-contained SVG picture.")
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Write to FILE instead of standard output.")
def graph(policy: str, tool: Optional[str], fmt: str, out: Optional[str]) -> None:
    """Render POLICY's decision graph (dispatch, risk, categories, checks, combination)."""
    from .inputs import load_or_exit
    pol = load_or_exit(policy)
    if tool is not None and tool not in pol.graph.tools:
        from policy_lang import did_you_mean
        hint = did_you_mean(tool, pol.tools)
        echo(f"error: the policy has no tool `{field(tool)}`" + (f"; {field(hint)}" if hint else ""), err=True)
        sys.exit(2)
    view = build_view(pol.graph, tool)
    text = {"dot": to_dot, "mermaid": to_mermaid, "svg": to_svg}[fmt](view)
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        echo(text, nl=False)
