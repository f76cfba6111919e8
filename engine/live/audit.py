"""The audit log guards the state (spec §6, v1.1): what the log justifies, what replaying it yields, signed checkpoints."""
from __future__ import annotations

import base64
import json
import logging
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

from ..decide.actions import format_timestamp, parse_timestamp
from .identity import id_key, role_keys
from .patch import PatchError, apply_patch, canonical, same
from .records import args_hash, route_progress
from .store import EVENT_KINDS, GENESIS, Tx, event_hash

__all__ = ["DraftLog", "GrantLog", "check_record", "draft_log", "grant_log", "replay_problems",
           "CheckpointError", "generate_keypair", "load_private_key", "load_public_key", "make_checkpoint",
           "verify_checkpoint", "CHECKPOINT_FORMAT", "log"]

log = logging.getLogger("signoff.audit")

# the times the workflow writes in the log are microsecond ISO strings of the floats in the state tables
_TIME_SLACK = 1e-3


def _t(text: Any) -> Optional[float]:
    try:
        return parse_timestamp(text).timestamp()
    except (ValueError, TypeError, OverflowError):
        return None


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) else repr(v)


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= _TIME_SLACK


# ---------------------------------------------------------------- one record

def check_record(tx: Tx, row: dict, head: Tuple[int, str]) -> Optional[str]:
    """Why one record cannot be trusted, or None: its hash, the link from the record before it, the link of the
    record after it (or the head, for the last one) and its JSON. A record forged into the middle of the log
    fails here without a walk of the whole chain; a tail re-hashed whole does not (signed checkpoints do)."""
    seq = row["seq"]
    if row["kind"] not in EVENT_KINDS:
        return f"record {seq} has unknown kind `{row['kind']}`"
    if event_hash(row["prev"], seq, row["action_id"], row["kind"], row["actor"], row["at"], row["policy"],
                  row["payload"]) != row["hash"]:
        return f"record {seq} was edited: its hash does not match"
    before = GENESIS if seq == 1 else (tx.event(seq - 1) or {}).get("hash")
    if row["prev"] != before:
        return f"record {seq} does not link to record {seq - 1}"
    after = tx.event(seq + 1)
    if after is None:
        if head != (seq, row["hash"]):
            return f"record {seq} is the last record but not the log's head"
    elif after["prev"] != row["hash"]:
        return f"record {seq + 1} does not link to record {seq}"
    try:
        json.loads(row["payload"])
    except ValueError:
        return f"record {seq} has a payload that is not JSON"
    return None


def _decoded(row: dict) -> dict:
    out = dict(row)
    out["payload"] = json.loads(row["payload"])
    out["t"] = _t(row["at"])
    return out


# ---------------------------------------------------------------- grants

@dataclass
class GrantLog:
    """A grant as its records make it: the `granted` record, the amount spent by the approvals it gave."""
    grant_id: str
    granted: Optional[dict] = None
    spent: float = 0.0
    uses: Dict[str, float] = field(default_factory=dict)   # draft id -> amount, from the `approved` records
    problems: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the grant's row agrees with its records (then it may count)."""
        return not self.problems


_GRANT_FIELDS = ("id", "tenant", "grantor", "route", "tool", "spend_path")


def grant_log(tx: Tx, row: Optional[dict], grant_id: str) -> GrantLog:
    """Check one grant's row (None: the row is missing) against the log. Spending counts every `approved`
    record that names the grant, trusted or not: a record the check cannot trust only lowers what is left."""
    out = GrantLog(grant_id)
    head = tx.head()
    for r in tx.grant_events(grant_id):
        bad = check_record(tx, r, head)
        if r["kind"] == "approved":
            try:
                p = json.loads(r["payload"])
                amount = float(p.get("spent") or 0)
            except (ValueError, TypeError, AttributeError):
                amount = 0.0
            if math.isfinite(amount):
                out.spent += amount
                out.uses[r["action_id"]] = out.uses.get(r["action_id"], 0.0) + amount
            continue
        if bad is not None:
            out.problems.append(f"grant `{grant_id}`: {bad}")
        elif out.granted is None:
            out.granted = _decoded(r)
            if not isinstance(out.granted["payload"], dict):
                out.problems.append(f"grant `{grant_id}`: record {r['seq']} is not a grant")
                out.granted = None
                return out
    if out.granted is None:
        out.problems.append(f"grant `{grant_id}` has no `granted` record in the audit log")
        return out
    if row is None:
        out.problems.append(f"grant `{grant_id}` (record {out.granted['seq']}) is missing from the grants table")
        return out
    ev = out.granted["payload"]
    diff = [k for k in _GRANT_FIELDS if ev.get(k) != row.get(k)]
    if not same(sorted(ev.get("roles") or []), sorted(row.get("roles") or [])):
        diff.append("roles")
    if not same(ev.get("constraints"), row.get("constraints")):
        diff.append("constraints")
    if ev.get("spend_cap") != row.get("spend_cap"):
        diff.append("spend_cap")
    for k in ("expires_at", "created_at"):
        if not _close(_t(ev.get(k)), row.get(k)):
            diff.append(k)
    if id_key(out.granted["actor"]) != id_key(row.get("grantor")):
        diff.append("grantor")
    if diff:
        out.problems.append(f"grant `{grant_id}` differs from its record {out.granted['seq']} in "
                            + ", ".join(f"`{d}`" for d in dict.fromkeys(diff)))
    return out


# ---------------------------------------------------------------- one draft

@dataclass
class DraftLog:
    """A draft as its records make it. `fatal`: the row disagrees with the log on what the action is (proposed
    action, tool, tenant, proposer, arguments): it must not run. `approvals`: the approval rows the log
    justifies, the only ones that count. `routes`: the routes the logged decisions require."""
    action_id: str
    problems: List[str] = field(default_factory=list)
    fatal: bool = False
    approvals: List[dict] = field(default_factory=list)
    routes: List[dict] = field(default_factory=list)
    state: Optional[str] = None
    args: Any = None
    args_hash: Optional[str] = None
    attempts: int = 0
    executed_args: Any = None
    logged_approvals: List[dict] = field(default_factory=list)

    def problem(self, text: str, fatal: bool = False) -> None:
        """Note a discrepancy; `fatal` when it means the draft must not run."""
        self.problems.append(f"draft `{self.action_id}`: {text}")
        self.fatal = self.fatal or fatal

    def report(self) -> None:
        """Log every discrepancy to the `signoff.audit` logger."""
        for p in self.problems:
            log.warning("the store disagrees with the audit log: %s", p)


def _logged_routes(decision: Any) -> List[dict]:
    if not isinstance(decision, dict) or decision.get("outcome") != "require_approval":
        return []
    out: List[dict] = []
    for r in decision.get("reasons") or []:
        route = r.get("route") if isinstance(r, dict) else None
        if r.get("outcome") != "require_approval" or r.get("advisory") or not isinstance(route, dict):
            continue
        if all(x["name"] != route.get("name") for x in out):
            out.append({"name": route.get("name"), "approvers": list(route.get("approvers") or []),
                        "quorum": route.get("quorum") or 1})
    return out


def _approval_matches(row: dict, ev: dict) -> bool:
    return (id_key(row["approver"]) == id_key(ev["approver"]) and row["args_hash"] == ev["args_hash"]
            and row.get("grant_id") == ev["grant_id"]
            and role_keys(row.get("roles") or []) == role_keys(ev["roles"])
            and _close(row["at"], ev["at"])
            and (row["expires_at"] <= ev["expires_at"] + _TIME_SLACK if ev.get("bounded")
                 else _close(row["expires_at"], ev["expires_at"])))


def draft_log(tx: Tx, rec: dict, approvals: Optional[List[dict]] = None) -> DraftLog:
    """Replay one draft's records (each checked with `check_record`; one that fails is ignored and reported)
    and compare the row with them. Runs inside the caller's transaction, so what it justifies is what counts."""
    out = DraftLog(rec["id"])
    try:
        return _replay(tx, rec, approvals, out)
    except (TypeError, KeyError, ValueError, AttributeError, IndexError):
        # records with the right hashes but shapes the workflow never writes: forged, so nothing counts
        fresh = DraftLog(rec["id"], problems=out.problems)
        fresh.problem("its records hold values the workflow never writes", fatal=True)
        return fresh


def _replay(tx: Tx, rec: dict, approvals: Optional[List[dict]], out: DraftLog) -> DraftLog:
    head = tx.head()
    evs = []
    for row in tx.events(rec["id"]):
        bad = check_record(tx, row, head)
        if bad is not None:
            out.problem(f"{bad}: the record is ignored", fatal=True)
            continue
        evs.append(_decoded(row))
    proposed = [e for e in evs if e["kind"] == "proposed"]
    if len(proposed) != 1:
        out.problem("the audit log holds no `proposed` record for it" if not proposed
                    else f"the audit log holds {len(proposed)} `proposed` records for it", fatal=True)
        return out
    pe = proposed[0]
    action = pe["payload"].get("action") if isinstance(pe["payload"], dict) else None
    if not isinstance(action, dict) or not same(action, rec["proposed"]):
        out.problem(f"its proposed action is not the one record {pe['seq']} holds", fatal=True)
        return out
    tool = action.get("tool")
    if tool != rec["tool"]:
        out.problem(f"its tool `{rec['tool']}` is not `{tool}` of record {pe['seq']}", fatal=True)
    if ((action.get("tenant") or {}).get("id") or "") != rec["tenant"]:
        out.problem(f"its tenant is not the one of record {pe['seq']}", fatal=True)
    if id_key(pe["actor"]) != id_key(rec["proposer"]):
        out.problem(f"its proposer `{rec['proposer']}` is not `{pe['actor']}` of record {pe['seq']}", fatal=True)
    args = action.get("args") or {}
    h = args_hash(tool, args)
    logged: List[dict] = []
    state: Optional[str] = None
    for e in evs:
        p = e["payload"] if isinstance(e["payload"], dict) else {}
        kind = e["kind"]
        if e["seq"] < pe["seq"] and kind != "notified":
            out.problem(f"record {e['seq']} comes before its `proposed` record", fatal=True)
        if kind == "decided":
            state = p.get("state")
            if p.get("stage") != "execution" or state == "drafted":
                for r in _logged_routes(p.get("decision")):
                    if all(x["name"] != r["name"] for x in out.routes):
                        out.routes.append(r)
        elif kind == "edited":
            if p.get("from_hash") != h:
                out.problem(f"edit record {e['seq']} starts from other arguments", fatal=True)
            try:
                args = apply_patch(args, p.get("patch"))
            except PatchError:
                out.problem(f"edit record {e['seq']} holds a patch that does not apply", fatal=True)
            h = args_hash(tool, args)
            if p.get("args_hash") != h:
                out.problem(f"edit record {e['seq']} names other arguments than its patch makes", fatal=True)
        elif kind == "approved":
            gid = p.get("grant")
            if gid is not None and not isinstance(gid, str):
                out.problem(f"approval record {e['seq']} names no grant id: ignored")
                continue
            if gid is not None:
                g = grant_log(tx, tx.get_grant(gid), gid)
                if g.granted is None or not g.ok:
                    out.problems.extend(f"draft `{rec['id']}`: approval record {e['seq']}: {x}" for x in g.problems)
                    continue
                gp = g.granted["payload"]
                roles = list(gp.get("roles") or [])
                grant_end = _t(gp.get("expires_at"))
                # records written before they held `expires_at`: the grant's end bounds the approval
                bounded = "expires_at" not in p
                expires = grant_end if bounded else _t(p["expires_at"])
                if expires is not None and grant_end is not None:
                    expires = min(expires, grant_end)
            else:
                roles = list(p.get("roles") or [])
                expires = _t(p.get("expires_at"))
                bounded = False
            if expires is None or e["t"] is None:
                out.problem(f"approval record {e['seq']} has no valid times: ignored")
                continue
            logged.append({"approver": e["actor"], "roles": roles, "args_hash": p.get("args_hash"), "at": e["t"],
                           "expires_at": expires, "bounded": bounded, "grant_id": gid, "seq": e["seq"],
                           "comment": p.get("comment")})
            if "state" in p:
                state = p["state"]
            elif state == "drafted" and route_progress(rec["routes"], logged, h, e["t"])[0]:
                state = "approved"   # written before approval records held the state they led to
        elif kind == "rejected":
            state = "rejected"
        elif kind == "expired":
            state = p.get("state", "expired")
        elif kind == "escalated":
            state = "escalated"
        elif kind == "executing":
            state = "executing"
            out.attempts = max(out.attempts, p.get("attempt") or 0)
            out.executed_args = p.get("args")
        elif kind in ("executed", "failed") and not p.get("superseded"):
            state = kind
    out.args, out.args_hash, out.state, out.logged_approvals = args, h, state, logged
    if not same(args, rec["args"]) or h != rec["args_hash"]:
        out.problem("its arguments are not the ones its records make", fatal=True)
    rows = tx.approvals(rec["id"]) if approvals is None else approvals
    latest: Dict[Tuple[Any, Any], dict] = {}
    for ev in logged:
        latest[(id_key(ev["approver"]), ev["args_hash"])] = ev
    for row in rows:
        if any(_approval_matches(row, ev) for ev in logged):
            out.approvals.append(row)
        else:
            out.problem(f"approval by `{row['approver']}` has no record in the audit log: it does not count")
    for (who, hash_), ev in latest.items():
        if not any(_approval_matches(row, ev) for row in rows):
            out.problem(f"approval record {ev['seq']} by `{ev['approver']}` has no approval row")
    return out


def required_routes(rec: dict, dl: DraftLog) -> List[dict]:
    """The row's routes, with every route a logged decision requires added or made as strict as logged."""
    routes = [dict(r) for r in rec["routes"]]
    for lr in dl.routes:
        mine = next((r for r in routes if r["name"] == lr["name"]), None)
        if mine is None:
            routes.append(dict(lr, timeout_seconds=None, grants_never=True))
        elif role_keys(mine["approvers"]) != role_keys(lr["approvers"]) or mine["quorum"] < lr["quorum"]:
            mine.update(approvers=lr["approvers"], quorum=max(mine["quorum"], lr["quorum"]))
    return routes


# ---------------------------------------------------------------- the whole store (audit verify)

def replay_problems(tx: Tx) -> List[str]:
    """Every way the state tables differ from what replaying the log yields: drafts (action, arguments,
    state, approvals, executions), grants (row, spending, uses) and the budget ledger's owners."""
    out: List[str] = []
    recs = tx.list_actions()
    known = {r["id"] for r in recs}
    for rec in recs:
        try:
            _draft_problems(tx, rec, out)
        except (TypeError, KeyError, ValueError, AttributeError, IndexError):
            out.append(f"draft `{rec['id']}`: its row or records hold values the workflow never writes")
    _store_problems(tx, known, out)
    return out


def _draft_problems(tx: Tx, rec: dict, out: List[str]) -> None:
    """Append how one draft's row differs from the replay of its records."""
    dl = draft_log(tx, rec)
    out.extend(dl.problems)
    if dl.fatal:
        return
    if dl.state != rec["state"]:
        out.append(f"draft `{rec['id']}`: its state is {rec['state']} but its records make it {dl.state}")
    closing = rec["closing"] or {}
    rejected = [e for e in tx.events(rec["id"]) if e["kind"] == "rejected"]
    if rec["state"] == "rejected" and rejected and id_key(closing.get("by")) != id_key(rejected[-1]["actor"]):
        out.append(f"draft `{rec['id']}`: it was rejected by `{rejected[-1]['actor']}` (record "
                   f"{rejected[-1]['seq']}), not by `{closing.get('by')}`")
    if dl.attempts != rec["attempts"]:
        out.append(f"draft `{rec['id']}`: it counts {rec['attempts']} execution attempts, its records "
                   f"{dl.attempts}")
    if dl.attempts and not same(dl.executed_args, rec["executed_args"]):
        out.append(f"draft `{rec['id']}`: its executed arguments are not the ones its `executing` record holds")
    if rec["required"] != "require_approval" and dl.routes:
        out.append(f"draft `{rec['id']}`: its records require approval but the row does not")
    for lr in dl.routes:
        mine = next((r for r in rec["routes"] if r["name"] == lr["name"]), None)
        if mine is None or mine["quorum"] < lr["quorum"] or role_keys(mine["approvers"]) != \
                role_keys(lr["approvers"]):
            out.append(f"draft `{rec['id']}`: route `{lr['name']}` is not the one its decision records require")


def _store_problems(tx: Tx, known: set, out: List[str]) -> None:
    """Append the problems of the store as a whole: orphan records, grants, grant uses, ledger owners."""
    for row in tx.events():
        if row["action_id"] is not None and row["action_id"] not in known:
            out.append(f"record {row['seq']} belongs to draft `{row['action_id']}`, which the store does not hold")
    seen_grants = set()
    for row in tx.list_grants():
        gid = row["id"]
        seen_grants.add(gid)
        gl = grant_log(tx, row, gid)
        out.extend(gl.problems)
        if not isinstance(row["spent"], (int, float)) or not math.isclose(gl.spent, row["spent"], abs_tol=1e-9):
            out.append(f"grant `{gid}`: it has spent {_num(row['spent'])}, its records {gl.spent:g}")
        uses = tx.grant_uses(gid)
        for aid in sorted(set(uses) ^ set(gl.uses)):
            out.append(f"grant `{gid}`: its use by draft `{aid}` is " +
                       ("not in the audit log" if aid in uses else "missing from the grant_uses table"))
    for r in tx.events():
        if r["kind"] == "granted":
            try:
                gid = json.loads(r["payload"]).get("id")
            except (ValueError, AttributeError):
                continue
            if gid not in seen_grants:
                out.append(f"grant `{gid}` (record {r['seq']}) is missing from the grants table")
    executing = {r["action_id"] for r in tx.events() if r["kind"] == "executing"}
    for owner in tx.ledger_owners():
        if owner not in executing:
            out.append(f"the budget ledger counts draft `{owner}`, which the audit log never executed")


# ---------------------------------------------------------------- signed checkpoints

CHECKPOINT_FORMAT = "signoff-checkpoint/1"


class CheckpointError(ValueError):
    """A key or checkpoint file that cannot be read, or a checkpoint whose signature does not verify."""


def generate_keypair(path: str) -> Tuple[str, str]:
    """Write a new Ed25519 private key to `path` (PKCS#8 PEM, mode 0600, never over an existing file) and its
    public key to `path`.pub. Returns both paths."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    pub_path = path + ".pub"
    for p, data, mode in ((path, private, 0o600), (pub_path, public, 0o644)):
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            raise CheckpointError(f"`{p}` already exists: nothing was written over it") from None
        except OSError as e:
            raise CheckpointError(f"cannot write `{p}`: {(e.strerror or 'error').lower()}") from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(p, mode)   # the umask may have narrowed it; never widened past `mode`
    return path, pub_path


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(1 << 16)
    except OSError as e:
        raise CheckpointError(f"cannot read {what} `{path}`: {(e.strerror or 'error').lower()}") from None


def load_private_key(path: str) -> Any:
    """The unencrypted PEM Ed25519 private key at `path`; CheckpointError otherwise."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    try:
        key = serialization.load_pem_private_key(_read(path, "the private key"), password=None)
    except (ValueError, TypeError):
        raise CheckpointError(f"`{path}` is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"`{path}` is not an Ed25519 private key")
    return key


def load_public_key(path: str) -> Any:
    """The PEM Ed25519 public key at `path`; CheckpointError otherwise."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    try:
        key = serialization.load_pem_public_key(_read(path, "the public key"))
    except (ValueError, TypeError):
        raise CheckpointError(f"`{path}` is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError(f"`{path}` is not an Ed25519 public key")
    return key


def _signed_text(seq: int, hash_: str, time: str) -> bytes:
    return canonical({"format": CHECKPOINT_FORMAT, "seq": seq, "hash": hash_, "time": time}).encode("utf-8")


def make_checkpoint(head: Tuple[int, str], key: Any, now: Optional[datetime] = None) -> dict:
    """The log's head (sequence number and hash) and the time, signed with an Ed25519 private key."""
    seq, hash_ = head
    time = format_timestamp((now or datetime.now(timezone.utc)).replace(microsecond=0))
    sig = key.sign(_signed_text(seq, hash_, time))
    return {"format": CHECKPOINT_FORMAT, "seq": seq, "hash": hash_, "time": time,
            "signature": base64.b64encode(sig).decode("ascii")}


def read_checkpoint(path: str) -> dict:
    """The signed checkpoint at `path`, its shape checked (not its signature: `verify_checkpoint`)."""
    try:
        cp = json.loads(_read(path, "the checkpoint").decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"checkpoint `{path}` is not JSON") from None
    if not isinstance(cp, dict) or cp.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"`{path}` is not a signoff checkpoint (format `{CHECKPOINT_FORMAT}`)")
    seq, hash_, time, sig = cp.get("seq"), cp.get("hash"), cp.get("time"), cp.get("signature")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0 or not isinstance(hash_, str) \
            or not isinstance(time, str) or not isinstance(sig, str):
        raise CheckpointError(f"checkpoint `{path}` lacks `seq`, `hash`, `time` or `signature`")
    return cp


def verify_checkpoint(cp: dict, public_key: Any, rows: List[dict]) -> Optional[str]:
    """Why the log (its raw rows, already chain-verified from genesis) does not extend the signed checkpoint,
    or None. Since every record links to the one before, the right hash at the checkpoint's sequence number
    vouches for every record up to it."""
    from cryptography.exceptions import InvalidSignature
    try:
        public_key.verify(base64.b64decode(cp["signature"], validate=True),
                          _signed_text(cp["seq"], cp["hash"], cp["time"]))
    except (InvalidSignature, ValueError):
        return "the checkpoint's signature does not verify with this public key"
    seq = cp["seq"]
    if seq == 0:
        return None
    if len(rows) < seq:
        return (f"the log ends at record {len(rows)} but the checkpoint of {cp['time']} signed record {seq}: "
                "records were deleted")
    if rows[seq - 1]["hash"] != cp["hash"]:
        return (f"record {seq} is not the one the checkpoint of {cp['time']} signed: the log was rewritten "
                "up to it")
    return None
