"""The simulation report's renderers, which live in `engine.report.simulate` (this name stays for the CLI's callers)."""
from __future__ import annotations

from engine.report import SECTIONS, html_report, plain_report, text_report

__all__ = ["SECTIONS", "html_report", "plain_report", "text_report"]
