"""Notices: what a user should know about a decision or a task definition, in one vocabulary.

The init job logs each one as an event under its stable `code` (an interface for CloudWatch Logs
Insights: rename a code only with a changelog entry); `audit` reports the same notices as findings,
graded by `severity` (its `--fail-on` compares against it). A notice is one line of plain text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.IntEnum):
    INFO = 1
    WARNING = 2
    CRITICAL = 3  # the kernel may kill Node, or the task will not start

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Notice:
    code: str  # stable snake_case name
    text: str
    severity: Severity = Severity.WARNING
