"""The signoff engine's public API: everything a user, the CLI, the service and the adapters import.

Import these names from `engine` itself (`from engine import Gate, SQLiteStore`); the subpackages
(decide, replay, diff, live, report) are the implementation and may move. What lives where and what
each subpackage may import is in their own docstrings and in docs/design.md ("The map of the house").
Reports for people (simulate text/HTML, diff Markdown, graph export) are `engine.report`'s public names.

Names that would shadow a subpackage or a deprecated module of the same name (`diff`, `simulate`,
`history`, `recommend`) are exported under the names the CLI already used: `run_diff`, `run_simulation`,
`event_history`, `run_recommend`.

Constants (values carry no docstrings of their own):
- `OUTCOMES`: the decision outcomes in their order, most permissive first (allow ... deny).
- `EPOCH`: 1970-01-01T00:00:00Z, the default clock of the test runner and `decide`.
- `MAX_RECORD_BYTES`: the largest history record (one JSON line or CSV row) a reader accepts.
- `FORMATS`: the history formats a reader accepts (`auto`, `jsonl`, `csv`, `parquet`).
- `ENGINES`: the replay engines of `signoff simulate --engine` (`row`, the default; `columnar`; `spark`).
- `SIGNATURE_HEADER`: `Signoff-Signature`, the header of a signed webhook (`t=…,v1=…`, see `sign_body`).
"""
# deciding one action
from .decide.actions import (EPOCH, ActionError, InputSyntaxError, format_timestamp, loads_action,
                             parse_timestamp)
from .decide.decision import OUTCOMES, Decision, Reason
from .decide.evaluator import Policy, load_policy
from .decide.jsonout import OutputError, dumps
from .decide.ledger import Ledger, MemoryLedger
# replaying histories
from .replay.history import FORMATS, MAX_RECORD_BYTES, History, HistoryError, parse_filters, parse_when
from .replay.simulate import Simulation
from .replay.simulate import simulate as run_simulation
from .replay.spark import SparkError, simulate_spark
from .replay.columnar import EngineUnavailable, simulate_columnar
# comparing two versions
from .diff import structural_diff, semantic_diff
from .diff import diff as run_diff
# recommendations from the record (`signoff recommend`)
from .recommend import RecommendError, check_written as check_recommended, policy_text as recommended_policy
from .recommend import report as recommend_report, search as run_recommend
# live use: the gate, its store and audit log
from .live.audit import (CheckpointError, DraftLog, draft_log, generate_keypair, load_private_key, load_public_key,
                         make_checkpoint, read_checkpoint, replay_problems, required_routes, verify_checkpoint)
from .live.channels import (SIGNATURE_HEADER, Channel, ConsoleChannel, Delivery, DeliveryError, EmailChannel,
                            LogChannel, MemoryChannel, Notification, SlackChannel, WebhookChannel, draft_link,
                            sign_body, slack_escape, verify_signature)
from .live.dispatch import Dispatcher, Target
from .live.handles import ExecutionContext, Executor, Handle, Pending, current_execution
from .live.identity import IdentityError, canonical_id
from .live.patch import PatchError, json_value
from .live.sdk import acting
from .live.store import Identity, SQLiteStore, Store, StoreError, Tx, VerifyResult, verify_events
from .live.opening import is_postgres_url, open_store
from .live.migrate import MigrateResult, copy_store
from .live.workflow import (Gate, GateError, InputError, NotFound, PermissionDenied, StateError, TamperError,
                            route_progress)
from .live.workflow import history as event_history
from .live.records import Approval, Draft, Grant, Route
from .live.views import counted_approvals, draft_detail, draft_progress, draft_summary, may_act
from .live.leases import Claim, ReportedFailure, claim_draft, complete_draft, settle_leases

ENGINES = ("row", "columnar", "spark")

__all__ = [
    # deciding one action
    "ActionError", "InputSyntaxError", "loads_action", "parse_timestamp", "format_timestamp", "EPOCH",
    "OUTCOMES", "Decision", "Reason", "Policy", "load_policy", "Ledger", "MemoryLedger", "OutputError", "dumps",
    # replaying histories
    "History", "HistoryError", "FORMATS", "MAX_RECORD_BYTES", "parse_filters", "parse_when", "Simulation",
    "run_simulation", "simulate_spark", "SparkError",
    "simulate_columnar", "EngineUnavailable", "ENGINES",
    # comparing two versions
    "run_diff", "structural_diff", "semantic_diff",
    # recommendations from the record
    "run_recommend", "recommend_report", "recommended_policy", "check_recommended", "RecommendError",
    # live use
    "Gate", "GateError", "InputError", "PermissionDenied", "StateError", "NotFound", "TamperError",
    "route_progress", "event_history", "Draft", "Approval", "Grant", "Route", "draft_progress", "counted_approvals",
    "draft_summary", "draft_detail", "may_act", "Identity", "IdentityError", "canonical_id", "Store", "Tx", "SQLiteStore", "open_store", "is_postgres_url", "copy_store", "MigrateResult",
    "StoreError", "VerifyResult", "verify_events", "Handle", "Pending", "Executor", "ExecutionContext", "current_execution", "acting", "PatchError", "json_value",
    "Channel", "ConsoleChannel", "LogChannel", "MemoryChannel", "Notification", "WebhookChannel",
    # notifications that leave the machine: signed webhooks, Slack, email, delivered off the request path
    "SlackChannel", "EmailChannel", "Delivery", "DeliveryError", "Dispatcher", "Target", "sign_body",
    "verify_signature", "SIGNATURE_HEADER", "draft_link", "slack_escape",
    # executors outside the gate's process (the HTTP service's agents): claim for a lease, complete
    "Claim", "claim_draft", "complete_draft", "settle_leases", "ReportedFailure",
    # the audit log: views of a draft's records and signed checkpoints
    "DraftLog", "draft_log", "required_routes", "replay_problems", "CheckpointError", "generate_keypair",
    "load_private_key", "load_public_key", "make_checkpoint", "read_checkpoint", "verify_checkpoint",
]
