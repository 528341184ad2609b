"""How reading one source went: what it found, or why it found nothing, and how long it took.

The init job's `gather` makes one per source; the `source_read` events, the `decision` line and
`explain` show them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class SourceStatus(enum.Enum):
    OK = "ok"
    PARTIAL = "partial"  # some of it was read
    FAILED = "failed"
    SKIPPED = "skipped"
    NONE = "none"  # nothing there (no memory controller mounted)


@dataclass(frozen=True, slots=True)
class SourceReport:
    """How one source went, for the `source_read` event and `explain`."""

    source: str
    status: SourceStatus
    detail: str
    elapsed_ms: int
    timed_out: bool = False  # the deadline passed before (all of) it answered
