"""What a history is made of: its records, their limits, the errors and statistics of reading one."""
from __future__ import annotations

from itertools import islice
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

FORMATS = ("auto", "jsonl", "csv", "parquet")
ON_ERROR = ("skip", "fail")
# columns of a CSV / Parquet history whose cells hold JSON objects
OBJECT_COLUMNS = ("args", "tenant", "agent", "context", "human")
# columns kept as text as written (never read as JSON numbers or booleans)
TEXT_COLUMNS = ("id", "tool", "timestamp")
MAX_EXAMPLES = 50
RUN_SIZE = 100_000          # records per sorted run of the external sort
REORDER_WINDOW = 2_048      # records held back per source to absorb local disorder (more costs cache misses)
BATCH = 1024                # records handed on together: one generator step per batch, not per record
# the largest record (one JSON line, one CSV row, one Parquet row) read: enforced while reading and
# decompressing, so a small gzip with one 2 GiB line cannot exhaust memory (`--max-record-bytes`)
MAX_RECORD_BYTES = 1024 * 1024

# A record is a plain tuple, the cheapest thing to build and to compare in the replay loop:
# (time, seq, action, source, line, problem, checked). `problem` is an input-error message (duplicate
# keys, NaN…): the action is then decided as `deny`, never skipped. seq orders equal times by reading
# order. `checked` is True when the action came from the fast JSON path (so it holds no NaN, infinity
# or integer past 64 bits) and its timestamp is absent or valid RFC 3339 read into `time`.
Record = Tuple[float, int, Any, str, int, Optional[str], bool]
SEQ_SHIFT = 40              # seq = source index << 40 | position: equal times keep file, then line order


class HistoryError(Exception):
    """An unreadable history, or a malformed line with `on_error=fail`; `where` is FILE[:LINE[:COL]]."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


class OutOfOrder(Exception):
    """A record older than one already replayed: the disorder is larger than the reorder window."""

    def __init__(self, where: str, t: float, last: float):
        super().__init__(f"{where}: history is not in timestamp order beyond the reorder window")
        self.where, self.t, self.last = where, t, last


class Stats:
    """What the readers saw: counts and the first malformed lines, so nothing is dropped silently."""

    def __init__(self) -> None:
        self.lines = 0            # records read (blank lines not counted)
        self.malformed = 0
        self.skipped = 0
        self.input_errors = 0
        self.filtered = 0         # left out by --since/--until/--filter
        self.sampled_out = 0
        self.examples: List[Dict[str, str]] = []
        self.sources: List[str] = []
        self.sorted_externally = False
        self._handles: List[Any] = []
        self._sizes: List[int] = []

    def note(self, kind: str, where: str, message: str) -> None:
        """Keep a malformed line's kind, place and message as an example (the first MAX_EXAMPLES)."""
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append({"kind": kind, "where": where, "message": message})

    def progress(self) -> Tuple[int, int]:
        """(bytes read, bytes in total) over the files opened so far; stdin counts 0 of 0."""
        done = 0
        for h in self._handles:
            try:
                done += h.tell()
            except (OSError, ValueError):
                pass
        return done, sum(self._sizes)

    def to_dict(self) -> Dict[str, Any]:
        """The counts and examples, JSON-ready."""
        return {"lines": self.lines, "malformed": self.malformed, "skipped": self.skipped,
                "input": self.input_errors, "filtered": self.filtered, "sampled_out": self.sampled_out,
                "examples": list(self.examples)}


def batched(items: Iterable[Any], size: Optional[int] = None) -> Iterator[List[Any]]:
    """Items in lists of `size` (BATCH by default), the last one shorter."""
    it = iter(items)
    n = size or BATCH
    while True:
        chunk = list(islice(it, n))
        if not chunk:
            return
        yield chunk
