"""`signoff approvals list|show|approve|reject|edit|grant|grants`: the approval inbox on a store file, for the terminal."""
from __future__ import annotations

import difflib
import json
import math
import sys
from datetime import datetime, timedelta, timezone
from typing import Any, List, Optional, Tuple

import click

from engine import (Approval, Gate, GateError, Grant, InputError, Store, StoreError, counted_approvals,
                    draft_progress, parse_timestamp)
from engine import open_store as open_store_spec

from .output import echo, field, json_text

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """`error: MESSAGE` on stderr and exit; the message is one line, shown escaped."""
    echo(f"error: {field(message)}", err=True)
    sys.exit(code)


def open_store(path: str) -> Store:
    """Open an existing approval store, or exit with the reason (a mistyped path never creates an empty one)."""
    # never create a store from a mistyped path: an empty inbox would look like nothing to do
    try:
        return open_store_spec(path, create=False)
    except StoreError as e:
        fail(str(e))
        raise


def parse_now(value: Optional[str]) -> Optional[datetime]:
    """The `--now` time, or None for the clock; a malformed timestamp exits with its reason."""
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError as e:
        fail(str(e))
        raise


def store_option(fn):
    """The `--store STORE` option (or SIGNOFF_STORE) that every approvals command takes."""
    return click.option("--store", "store_path", required=True, envvar="SIGNOFF_STORE", metavar="STORE",
                        help="The approval store: an SQLite file or a `postgresql://` URL.")(fn)


def now_option(fn):
    """The hidden `--now` option: tests and replays act at a fixed time, people use the clock."""
    # hidden: lets tests and replays act at a fixed time; people use the clock
    return click.option("--now", "now_text", hidden=True, default=None)(fn)


def format_option(fn):
    """The `--format text|json` option of the commands that print a table."""
    return click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                        help="Print a table (text) or JSON.")(fn)


def now_seconds(now_text: Optional[str]) -> float:
    """`--now` (or the clock) as epoch seconds."""
    return (parse_now(now_text) or datetime.now(timezone.utc)).timestamp()


def resolve(store: Store, ref: str) -> dict:
    """A draft by id or by a unique prefix of at least 4 characters."""
    with store.snapshot() as tx:
        rec = tx.get_action(ref)
        if rec is not None:
            return rec
        if len(ref) >= 4:
            hits = [r for r in tx.list_actions() if r["id"].startswith(ref)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                fail(f"`{ref}` matches {len(hits)} drafts: give more of the id")
    fail(f"no draft `{ref}`", EXIT_REFUSED)
    raise AssertionError


def load_policy_or_exit(path: Optional[str]):
    """`--policy`: unreadable → exit 2, load errors → exit 1 (the rule of every command)."""
    if path is None:
        return None
    from .inputs import load_or_exit
    return load_or_exit(path, "nothing was changed")


def _iso(t: Optional[float]) -> str:
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M")


def _short(text: str, width: int) -> str:
    """One table cell: escaped first, so the width counts what is printed and an escape is never cut."""
    text = field(text)
    return text if len(text) <= width else text[:width - 1] + "…"


def _reasons(rec: dict) -> str:
    d = rec["last_decision"]
    return "; ".join(r["message"] for r in d.get("reasons", []) if not r.get("advisory")
                     and r["outcome"] == d.get("outcome"))


def _table(rows: List[List[str]], header: List[str]) -> str:
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    for r in rows:
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(out)


def args_diff(before: Any, after: Any) -> str:
    """A unified diff of two argument objects as sorted, indented JSON (`proposed` against `current`)."""
    a = json_text(before, indent=2, sort_keys=True).split("\n")
    b = json_text(after, indent=2, sort_keys=True).split("\n")
    return "\n".join(difflib.unified_diff(a, b, "proposed", "current", lineterm=""))


def _gate(store: Store, policy=None, now: Optional[datetime] = None) -> Gate:
    clock = (lambda: now) if now is not None else None
    return Gate(policy, store, clock=clock)


def _act(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except InputError as e:
        fail(e.message, EXIT_USAGE)
    except (GateError, StoreError) as e:
        fail(str(e), EXIT_REFUSED)


@click.group(name="approvals", context_settings={"help_option_names": ["-h", "--help"]})
def approvals() -> None:
    """The inbox of drafts waiting for humans: list, show, approve, reject, edit, grant."""


@approvals.command(name="list")
@store_option
@click.option("--tenant", default=None, help="Only this tenant's drafts.")
@click.option("--all", "show_all", is_flag=True, help="Every proposal, not only those waiting.")
@format_option
@now_option
def list_cmd(store_path: str, tenant: Optional[str], show_all: bool, fmt: str, now_text: Optional[str]) -> None:
    """Drafts waiting for approval, oldest first, with the policy's reasons."""
    store = open_store(store_path)
    now = now_seconds(now_text)
    with store.snapshot() as tx:
        recs = tx.list_actions(None if show_all else ("drafted",), tenant)
        # a row without its record in the audit log is not shown as counting
        progress = {r["id"]: draft_progress(tx, r, now) for r in recs}
    if fmt == "json":
        echo(json_text([{"id": r["id"], "state": r["state"], "created": _iso(r["created_at"]),
                         "tenant": r["tenant"] or None, "tool": r["tool"], "args": r["args"],
                         "routes": progress[r["id"]], "deadline": _iso(r["deadline"]),
                         "reasons": _reasons(r)} for r in recs], indent=2))
        return
    if not recs:
        echo("no drafts waiting" if not show_all else "no proposals")
        return
    rows = []
    for r in recs:
        need = ", ".join(f"{field(p['name'])} {len(p['approved_by'])}/{p['quorum']}" for p in progress[r["id"]])
        row = [field(r["id"][:12]), _iso(r["created_at"]), field(r["tenant"] or "-"), field(r["tool"]),
               _short(json_text(r["args"], sort_keys=True), 40), need or "-",
               _iso(r["deadline"]), _short(_reasons(r), 60)]
        if show_all:
            row.insert(1, field(r["state"]))
        rows.append(row)
    header = ["ID", "CREATED", "TENANT", "TOOL", "ARGS", "NEEDS", "DEADLINE", "REASONS"]
    if show_all:
        header.insert(1, "STATE")
    echo(_table(rows, header))


@approvals.command(name="show")
@click.argument("draft")
@store_option
@format_option
@now_option
def show_cmd(draft: str, store_path: str, fmt: str, now_text: Optional[str]) -> None:
    """One draft: what was proposed, why, who approved, and after an edit the diff."""
    store = open_store(store_path)
    rec = resolve(store, draft)
    now = now_seconds(now_text)
    with store.snapshot() as tx:
        approvals_ = tx.approvals(rec["id"])
        events = tx.events(rec["id"])
        _, justified = counted_approvals(tx, rec)
        progress = draft_progress(tx, rec, now)
    proposed_args = rec["proposed"].get("args") or {}
    if fmt == "json":
        echo(json_text({
            "id": rec["id"], "state": rec["state"], "tool": rec["tool"], "tenant": rec["tenant"] or None,
            "proposer": rec["proposer"], "created": _iso(rec["created_at"]), "deadline": _iso(rec["deadline"]),
            "args_hash": rec["args_hash"], "proposed_args": proposed_args, "patch": rec["patch"],
            "args": rec["args"], "executed_args": rec["executed_args"], "decision": rec["last_decision"],
            "routes": progress, "closing": rec["closing"], "result": rec["result"], "error": rec["error"],
            "approvals": [{"by": a["approver"], "at": _iso(a["at"]), "args_hash": a["args_hash"],
                           "grant": a["grant_id"], "comment": a["comment"]} for a in approvals_],
            "events": [{"seq": e["seq"], "kind": e["kind"], "actor": e["actor"], "at": e["at"]} for e in events],
        }, indent=2))
        return
    # every value is one field, shown escaped: the tool, ids, tenant and arguments are the agent's
    lines = [f"draft     {field(rec['id'])}",
             f"state     {field(rec['state'])}",
             f"tool      {field(rec['tool'])}",
             f"tenant    {field(rec['tenant'] or '-')}",
             f"proposer  {field(rec['proposer'])}",
             f"created   {_iso(rec['created_at'])}",
             f"deadline  {_iso(rec['deadline'])}",
             f"hash      {field(rec['args_hash'])}",
             "proposed  " + json_text(proposed_args, sort_keys=True)]
    if rec["patch"]:
        lines.append("edited    " + json_text(rec["args"], sort_keys=True))
        lines.append("patch     " + json_text(rec["patch"]))
        lines.append("diff:")
        lines.extend("  " + field(ln) for ln in args_diff(proposed_args, rec["args"]).split("\n"))
    if rec["executed_args"] is not None:
        lines.append("executed  " + json_text(rec["executed_args"], sort_keys=True))
    d = rec["last_decision"]
    lines.append(f"decision  {field(d.get('outcome'))} (category {field(d.get('category'))})")
    for r in d.get("reasons", []):
        adv = " (advisory)" if r.get("advisory") else ""
        lines.append(f"  {field(r['at'])}  {field(r['rule'])} → {field(r['outcome'])}: {field(r['message'])}{adv}")
    for p in progress:
        who = ", ".join(field(x) for x in p["approved_by"]) or "nobody yet"
        lines.append(f"route     {field(p['name'])} ({', '.join(field(x) for x in p['approvers'])}; "
                     f"quorum {field(p['quorum'])}): {who}")
    for a in approvals_:
        stale = "" if a["args_hash"] == rec["args_hash"] else " (for earlier arguments)"
        via = f" via grant {field(a['grant_id'])}" if a["grant_id"] else ""
        note = f": {field(a['comment'])}" if a["comment"] else ""
        if Approval.from_row(a) not in justified:
            stale += " (no record in the audit log: does not count)"
        lines.append(f"approved  by {field(a['approver'])} at {_iso(a['at'])}{via}{stale}{note}")
    if rec["closing"]:
        lines.append("closed    " + json_text(rec["closing"], sort_keys=True))
    if rec["error"]:
        lines.append(f"error     {field(rec['error'])}")
    lines.append("history:")
    lines.extend(f"  {e['seq']:>5}  {field(e['at'])}  {field(e['kind']):<9}  {field(e['actor'])}" for e in events)
    echo("\n".join(lines))


def _report(h) -> None:
    echo(f"{field(h.id)}: {field(h.message)}")


@approvals.command(name="approve")
@click.argument("draft")
@store_option
@click.option("--by", "by", required=True, help="Your identity (registered in the store).")
@click.option("--comment", default=None, metavar="TEXT", help="A note kept with this act in the audit log.")
@click.option("--hash", "expected", default=None, help="Refuse if the draft's arguments changed since this hash.")
@click.option("--policy", "policy_path", default=None, envvar="SIGNOFF_POLICY", type=click.Path(dir_okay=False),
              help="Record the approval under this policy's digest (default: the draft's; env SIGNOFF_POLICY).")
@now_option
def approve_cmd(draft: str, store_path: str, by: str, comment: Optional[str], expected: Optional[str],
                policy_path: Optional[str], now_text: Optional[str]) -> None:
    """Approve DRAFT. It runs in the agent's process once every route's quorum is met."""
    store = open_store(store_path)
    rec = resolve(store, draft)
    gate = _gate(store, load_policy_or_exit(policy_path), parse_now(now_text))
    _report(_act(gate.approve, rec["id"], by, comment=comment, expected_hash=expected))


@approvals.command(name="reject")
@click.argument("draft")
@store_option
@click.option("--by", "by", required=True, help="Your identity (registered in the store).")
@click.option("--reason", required=True, help="Why: the agent and the audit log keep it.")
@now_option
def reject_cmd(draft: str, store_path: str, by: str, reason: str, now_text: Optional[str]) -> None:
    """Reject DRAFT; it never executes."""
    store = open_store(store_path)
    rec = resolve(store, draft)
    gate = _gate(store, None, parse_now(now_text))
    _report(_act(gate.reject, rec["id"], by, reason))


def _parse_sets(sets: Tuple[str, ...]) -> dict:
    out: dict = {}
    for s in sets:
        key, eq, raw = s.partition("=")
        if not eq or not key:
            fail(f"`--set {s}` must be KEY=VALUE")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw   # not JSON: the text itself, so `--set note=refund` needs no quotes
        out[key] = value
    return out


@approvals.command(name="edit")
@click.argument("draft")
@store_option
@click.option("--by", "by", required=True, help="Your identity (registered in the store).")
@click.option("--policy", "policy_path", required=True, envvar="SIGNOFF_POLICY", type=click.Path(dir_okay=False),
              help="The policy the edited action is decided again with.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Set an argument (VALUE is JSON or text).")
@click.option("--unset", "unsets", multiple=True, metavar="KEY", help="Remove an argument.")
@click.option("--patch", "patch_text", default=None, metavar="JSON", help="A JSON Patch (RFC 6902) to apply.")
@click.option("--approve", "and_approve", is_flag=True, help="Approve the edited draft as well.")
@click.option("--comment", default=None, metavar="TEXT", help="A note kept with this act in the audit log.")
@click.option("--hash", "expected", default=None, help="Refuse if the draft's arguments changed since this hash.")
@now_option
def edit_cmd(draft: str, store_path: str, by: str, policy_path: str, sets: Tuple[str, ...],
             unsets: Tuple[str, ...], patch_text: Optional[str], and_approve: bool, comment: Optional[str],
             expected: Optional[str], now_text: Optional[str]) -> None:
    """Change DRAFT's arguments; the edited action is decided again and the stricter decision stands."""
    if patch_text is not None and (sets or unsets):
        fail("give either `--patch` or `--set`/`--unset`, not both")
    if patch_text is not None:
        try:
            edits: Any = json.loads(patch_text)
        except ValueError as e:
            fail(f"`--patch` is not JSON: {str(e).lower()}")
        if not isinstance(edits, list):
            fail("`--patch` must be a JSON list of operations")
    else:
        edits = _parse_sets(sets)
        for k in unsets:
            edits[k] = None   # merge patch: null removes
        if not edits:
            fail("nothing to change: give `--set`, `--unset` or `--patch`")
    store = open_store(store_path)
    rec = resolve(store, draft)
    gate = _gate(store, load_policy_or_exit(policy_path), parse_now(now_text))
    if and_approve:
        h = _act(gate.approve, rec["id"], by, edits=edits, comment=comment, expected_hash=expected)
    else:
        h = _act(gate.edit, rec["id"], by, edits, comment=comment, expected_hash=expected)
    _report(h)
    with store.snapshot() as tx:
        after = tx.get_action(rec["id"])
    if after["patch"]:
        echo(args_diff(after["proposed"].get("args") or {}, after["args"]))


# seconds per unit, as the policy language's durations (`4h`, `30d`)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX_DURATION = 36_500 * 86_400   # 100 years, the language's limit too


def parse_duration(text: str) -> timedelta:
    """`--for 30d`: digits and one unit (s, m, h, d, w), more than 0 and at most 100 years; exits otherwise."""
    digits, unit = text[:-1], text[-1:]
    if unit not in _UNITS or not digits.isascii() or not digits.isdigit() or len(digits) > 12:
        fail(f"`--for {text}` must be a duration like `30d` (units s, m, h, d, w)")
    seconds = int(digits) * _UNITS[unit]
    if seconds <= 0 or seconds > _MAX_DURATION:
        fail(f"`--for {text}` must be more than 0 and at most 100 years")
    return timedelta(seconds=seconds)


def _number(opt: str, item: str, raw: str) -> float:
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        fail(f"`{opt} {item}` needs a number after `=`")
    return value


def parse_constraints(maxes: Tuple[str, ...], mins: Tuple[str, ...], equals: Tuple[str, ...],
                      ins: Tuple[str, ...]) -> dict:
    """`--max/--min FIELD=N`, `--equals FIELD=VALUE`, `--in FIELD=JSONLIST` as Gate.grant's constraints
    (argument -> {max|min|eq|in: value}); a malformed one exits with its reason."""
    out: dict = {}

    def put(opt: str, item: str, op: str, value: Any) -> None:
        key = item.partition("=")[0]
        cond = out.setdefault(key, {})
        if op in cond:
            fail(f"`{opt}` is given twice for `{key}`")
        cond[op] = value

    for opt, op, items in (("--max", "max", maxes), ("--min", "min", mins), ("--equals", "eq", equals),
                           ("--in", "in", ins)):
        for item in items:
            key, eq, raw = item.partition("=")
            if not eq or not key:
                fail(f"`{opt} {item}` must be FIELD=VALUE")
            if op in ("max", "min"):
                put(opt, item, op, _number(opt, item, raw))
            elif op == "in":
                try:
                    value = json.loads(raw)
                except ValueError:
                    value = None
                if not isinstance(value, list):
                    fail(f"`{opt} {item}` needs a JSON list after `=`")
                put(opt, item, op, value)
            else:
                try:
                    value = json.loads(raw)
                except ValueError:
                    value = raw   # not JSON: the text itself, as `--set`
                put(opt, item, op, value)
    return out


@approvals.command(name="grant")
@click.argument("route")
@click.argument("tool")
@store_option
@click.option("--by", "by", required=True, help="Your identity (registered in the store).")
@click.option("--policy", "policy_path", required=True, envvar="SIGNOFF_POLICY", type=click.Path(dir_okay=False),
              help="The policy that declares ROUTE (default: $SIGNOFF_POLICY).")
@click.option("--until", "until", default=None, metavar="TIME", help="When the grant expires (a timestamp).")
@click.option("--for", "for_", default=None, metavar="DURATION", help="How long the grant lasts, e.g. `30d`.")
@click.option("--max", "maxes", multiple=True, metavar="FIELD=N", help="Only actions with args.FIELD <= N.")
@click.option("--min", "mins", multiple=True, metavar="FIELD=N", help="Only actions with args.FIELD >= N.")
@click.option("--equals", "equals", multiple=True, metavar="FIELD=VALUE",
              help="Only actions with args.FIELD equal to VALUE (JSON or text).")
@click.option("--in", "ins", multiple=True, metavar="FIELD=JSON", help="Only actions with args.FIELD in this list.")
@click.option("--spend-cap", "spend_cap", default=None, type=float, metavar="N",
              help="At most N of `--spend-path` summed over every action the grant approves.")
@click.option("--spend-path", "spend_path", default=None, metavar="FIELD", help="The argument the cap sums.")
@click.option("--comment", default=None, metavar="TEXT", help="A note kept with the grant in the audit log.")
@now_option
def grant_cmd(route: str, tool: str, store_path: str, by: str, policy_path: str, until: Optional[str],
              for_: Optional[str], maxes: Tuple[str, ...], mins: Tuple[str, ...], equals: Tuple[str, ...],
              ins: Tuple[str, ...], spend_cap: Optional[float], spend_path: Optional[str], comment: Optional[str],
              now_text: Optional[str]) -> None:
    """A standing grant: approve, as BY for ROUTE, every action of TOOL within the constraints until it expires."""
    if (until is None) == (for_ is None):
        fail("give exactly one of `--until TIME` and `--for DURATION`")
    constraints = parse_constraints(maxes, mins, equals, ins)
    now = parse_now(now_text)
    if until is not None:
        expires = parse_now(until)
    else:
        expires = (now or datetime.now(timezone.utc)) + parse_duration(for_ or "")
    store = open_store(store_path)
    gate = _gate(store, load_policy_or_exit(policy_path), now)
    gid = _act(gate.grant, by, route, tool, expires, constraints=constraints or None, spend_cap=spend_cap,
               spend_path=spend_path, comment=comment)
    echo(f"{field(gid)}: granted by {field(by)} for {field(route)} on {field(tool)} until {_iso(expires.timestamp())}"
         + (f" where {field(json_text(constraints, sort_keys=True))}" if constraints else ""))


@approvals.command(name="grants")
@store_option
@click.option("--tenant", default=None, help="Only this tenant's grants.")
@click.option("--all", "show_all", is_flag=True, help="Expired grants too.")
@format_option
@now_option
def grants_cmd(store_path: str, tenant: Optional[str], show_all: bool, fmt: str, now_text: Optional[str]) -> None:
    """Standing grants in force (with `--all`, expired ones too), oldest first."""
    store = open_store(store_path)
    now = now_seconds(now_text)
    with store.snapshot() as tx:
        rows = [Grant.from_row(r) for r in tx.list_grants()]
    rows = [g for g in rows if (show_all or g.expires_at > now) and (tenant is None or g.tenant == tenant)]
    if fmt == "json":
        echo(json_text([{"id": g.id, "tenant": g.tenant or None, "grantor": g.grantor, "route": g.route,
                         "tool": g.tool, "constraints": g.constraints, "spend_path": g.spend_path,
                         "spend_cap": g.spend_cap, "spent": g.spent, "created": _iso(g.created_at),
                         "expires": _iso(g.expires_at), "expired": g.expires_at <= now, "comment": g.comment}
                        for g in rows], indent=2))
        return
    if not rows:
        echo("no standing grants" + ("" if show_all else " in force"))
        return
    table = [[field(g.id), field(g.tenant or "-"), field(g.grantor), field(g.route), field(g.tool),
              _short(json_text(g.constraints, sort_keys=True), 40),
              "-" if g.spend_cap is None else f"{g.spent:g}/{g.spend_cap:g}", _iso(g.expires_at)] for g in rows]
    echo(_table(table, ["ID", "TENANT", "GRANTOR", "ROUTE", "TOOL", "CONSTRAINTS", "SPENT", "EXPIRES"]))
