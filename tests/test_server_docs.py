"""docs/server.md's newcomer flow, run as written: the server started with its one command, identities made
with the CLI, the refund proposed and claimed with curl, approved in the inbox in Chromium as two people."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

from server_helpers import LISTENING, ROOT, Server, call

DOC = ROOT / "docs" / "server.md"
DOC_URL = "http://127.0.0.1:8000"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def steps() -> List[Tuple[str, List[str]]]:
    """(command, expected output lines) of every `$ ` line in the ```text blocks between the newcomer markers."""
    text = DOC.read_text(encoding="utf-8")
    part = text[text.index("<!-- newcomer:start -->"):text.index("<!-- newcomer:end -->")]
    out: List[Tuple[str, List[str]]] = []
    for block in re.findall(r"^```text\n(.*?)^```", part, flags=re.S | re.M):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            elif out:
                out[-1][1].append(line)
    return out


def matches(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(p) for p in expected.split("..."))
    return re.fullmatch(pattern, actual) is not None


def test_the_doc_holds_the_whole_flow():
    cmds = [c for c, _ in steps()]
    assert cmds[0].startswith("signoff serve ") and sum(c.startswith("signoff identities add") for c in cmds) == 3
    assert any("/v1/proposals" in c for c in cmds) and any("/claim" in c for c in cmds) and \
        any("/complete" in c for c in cmds)
    assert "/inbox/" in DOC.read_text(encoding="utf-8")


def test_newcomer_flow_as_documented(tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not os.path.exists(CHROMIUM):
        if os.environ.get("SIGNOFF_BROWSER_TESTS") == "1":
            pytest.fail("SIGNOFF_BROWSER_TESTS=1 but playwright or chromium is missing: sh tests/install-browser.sh")
        pytest.skip("playwright or chromium not installed (set SIGNOFF_BROWSER_TESTS=1 to require it)")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    flow = steps()
    serve_cmd, serve_out = flow[0]
    argv = shlex.split(serve_cmd)[1:]
    srv = Server(Path(argv[1]), tmp_path / argv[3], cwd=tmp_path) if argv[2] == "--store" else None
    assert srv is not None, "the doc's serve command is `signoff serve POLICY --store STORE`"
    try:
        assert matches(serve_out[0].replace(DOC_URL, srv.url), f"listening on {srv.url}") and LISTENING.match(
            f"listening on {srv.url}")
        env = {"URL": srv.url}
        browser_done = False
        for cmd, expected in flow[1:]:
            if "/claim" in cmd and not browser_done:
                approve_in_the_browser(sync_playwright, srv.url, env)
                browser_done = True
            text = cmd.replace(DOC_URL, srv.url)
            for k, v in env.items():
                text = text.replace("$" + k, v)
            args = shlex.split(text)
            if args[0] == "signoff":
                args = [sys.executable, "-m", "cli"] + args[1:]
            else:
                assert args[0] == "curl", cmd
            r = subprocess.run(args, cwd=str(tmp_path), capture_output=True, text=True, timeout=120,
                               env=dict(os.environ, PYTHONPATH=str(ROOT)))
            assert r.returncode == 0, (cmd, r.stdout, r.stderr)
            lines = r.stdout.strip().splitlines()
            assert len(lines) == len(expected), (cmd, lines, expected)
            for e, a in zip(expected, lines):
                assert matches(e, a), (cmd, e, a)
            if "identities add" in cmd:
                env[args[args.index("add") + 1].upper() + "_KEY"] = lines[-1]
            elif "/v1/proposals" in cmd:
                env["DRAFT"] = json.loads(lines[0])["id"]
            elif "/claim" in cmd:
                env["LEASE"] = json.loads(lines[0])["lease"]
        assert browser_done
        final = call("GET", f"{srv.url}/v1/drafts/{env['DRAFT']}", env["BOT_KEY"]).json
        assert final["state"] == "executed" and final["result"] == {"refund_id": "re_1"}
        approvers = [e["actor"] for e in final["events"] if e["kind"] == "approved"]
        assert approvers == ["fiona", "carl"]
    finally:
        srv.stop()


def approve_in_the_browser(sync_playwright, url, env):
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(url + "/inbox/")
            for who, progress, state in (("FIONA", "1 of 2", "drafted"), ("CARL", "2 of 2", "approved")):
                page.fill("#token", env[who + "_KEY"])
                page.click("#sign-in")
                page.click(f"a.draft-link:text('{env['DRAFT']}')")
                assert "require approval via finance_review" in page.locator("#reasons").inner_text()
                assert "support.policy:49" in page.locator("#reasons").inner_text()
                page.click("#approve")
                assert f"finance_review (finance_manager, cfo): {progress}" in page.locator("#routes").inner_text()
                assert page.locator("#state").inner_text() == state
                page.click("text=sign out")
        finally:
            browser.close()
