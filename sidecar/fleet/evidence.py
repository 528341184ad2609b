"""What stopped tasks say about memory: OOM kills, and the exit codes 137, 134 and 139.

Sources (research/ecs.md, sections 4 and "Other ECS facts"; botocore's `Task` and `Container` shapes):
the agent reports an OOM kill as the container `reason` `OutOfMemoryError: Container killed due to
memory usage` (also seen as the task's `stoppedReason`); exit code 137 is SIGKILL, which is also what
a container gets when it does not exit within `stopTimeout` (default 30 s) after ECS asked the task
to stop (`stopCode` UserInitiated, ServiceSchedulerInitiated, SpotInterruption, TerminationNotice);
134 is SIGABRT, V8's "Reached heap limit" abort among others; 139 is SIGSEGV, which is also how
that abort ends when Node runs as PID 1 without an init. ECS keeps stopped tasks visible for a
limited time ("at least one hour": botocore's DescribeTasks documentation), so the window can only
reach back that far. Pure.

Two kinds of window: since a time (the table and JSON: what stopped lately, a task still stopping
counted by when it began to stop), or `[since, until)` by `stoppedAt` alone (the metrics: windows
that tile time, so each stopped task falls in exactly one, and a task still stopping is counted in
the window where it stops).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

OOM_REASON = "outofmemoryerror"
STOP_REQUESTED = frozenset({"UserInitiated", "ServiceSchedulerInitiated", "SpotInterruption", "TerminationNotice"})
DEFAULT_STOP_TIMEOUT_S = 30


class Exit(enum.Enum):
    """How a container of a stopped task ended, as far as memory is concerned."""

    OOM_KILLED = "oom_killed"
    KILLED_AT_STOP_TIMEOUT = "exit_137_stop_timeout"
    KILLED = "exit_137"
    ABORTED = "exit_134"
    SEGFAULT = "exit_139"


@dataclass(slots=True)
class Evidence:
    """One container of one service (or task family) over the window."""

    stopped_tasks: int = 0
    counts: dict[Exit, int] = field(default_factory=dict)
    example: dict[Exit, str] = field(default_factory=dict)  # one reason line per kind

    def count(self, kind: Exit) -> int:
        return self.counts.get(kind, 0)


GroupKey = tuple[str, str]  # (cluster ARN, task group: "service:<name>" or "family:<family>")
StopTimeout = Callable[[GroupKey, str], int | None]


def classify_task(task: Mapping[str, Any], stop_timeout: Callable[[str], int | None]) -> list[tuple[str, Exit, str]]:
    """(container, how it ended, why we say so) for each container of a stopped task that ended badly."""
    containers = [c for c in task.get("containers") or [] if isinstance(c, Mapping) and isinstance(c.get("name"), str)]
    found: list[tuple[str, Exit, str]] = []
    oom_named = False
    for container in containers:
        reason = str(container.get("reason") or "")
        if reason.lower().startswith(OOM_REASON):
            found.append((container["name"], Exit.OOM_KILLED, reason))
            oom_named = True
    stopped_reason = str(task.get("stoppedReason") or "")
    if not oom_named and stopped_reason.lower().startswith(OOM_REASON):
        killed = [c for c in containers if c.get("exitCode") == 137] or containers
        found += [(c["name"], Exit.OOM_KILLED, f"task stoppedReason: {stopped_reason}") for c in killed]
        oom_named = bool(killed)
    already = {name for name, kind, _ in found if kind is Exit.OOM_KILLED}
    for container in containers:
        name, code = container["name"], container.get("exitCode")
        if name in already:
            continue
        if code == 137:
            found.append((name, *_explain_137(task, stop_timeout(name))))
        elif code == 134:
            found.append(
                (
                    name,
                    Exit.ABORTED,
                    _with_reason("exit 134 (SIGABRT: V8's heap-limit abort or another abort)", container),
                )
            )
        elif code == 139:
            found.append((name, Exit.SEGFAULT, _with_reason("exit 139 (SIGSEGV, or V8's abort as PID 1)", container)))
    return found


def stopped_since(task: Mapping[str, Any], since: datetime) -> bool:
    """Whether a stopped task stopped at or after `since` (a task without any time counts)."""
    when = task.get("stoppedAt") or task.get("stoppingAt") or task.get("createdAt")
    return not isinstance(when, datetime) or when >= since


def stopped_within(task: Mapping[str, Any], since: datetime, until: datetime) -> bool:
    """Whether a task stopped in `[since, until)`, by `stoppedAt` (a task without one is still stopping)."""
    when = task.get("stoppedAt")
    return isinstance(when, datetime) and since <= when < until


def counted(task: Mapping[str, Any], since: datetime, until: datetime | None) -> bool:
    """`stopped_within` when the window has an end, else `stopped_since`."""
    return stopped_since(task, since) if until is None else stopped_within(task, since, until)


def collect_evidence(
    tasks: Iterable[Mapping[str, Any]],
    *,
    since: datetime,
    until: datetime | None = None,
    stop_timeout: StopTimeout,
) -> dict[GroupKey, dict[str, Evidence]]:
    """Evidence per (cluster, group) and container, from the tasks that stopped since `since` (and before `until`)."""
    found: dict[GroupKey, dict[str, Evidence]] = {}
    for task in tasks:
        if not counted(task, since, until):
            continue
        key = (str(task.get("clusterArn") or ""), str(task.get("group") or ""))
        per_container = found.setdefault(key, {})
        for container in task.get("containers") or []:
            if isinstance(container, Mapping) and isinstance(container.get("name"), str):
                per_container.setdefault(container["name"], Evidence()).stopped_tasks += 1

        def timeout_of(container: str, key: GroupKey = key) -> int | None:
            return stop_timeout(key, container)

        for name, kind, detail in classify_task(task, timeout_of):
            evidence = per_container.setdefault(name, Evidence())
            evidence.counts[kind] = evidence.counts.get(kind, 0) + 1
            evidence.example.setdefault(kind, detail)
    return found


def _explain_137(task: Mapping[str, Any], timeout_s: int | None) -> tuple[Exit, str]:
    timeout = timeout_s if timeout_s is not None else DEFAULT_STOP_TIMEOUT_S
    stop_code = str(task.get("stopCode") or "")
    if stop_code not in STOP_REQUESTED:
        return Exit.KILLED, f"exit 137 (SIGKILL) without an OOM reason; stopCode {stop_code or 'none'}"
    asked, stopped = task.get("stoppingAt"), task.get("executionStoppedAt") or task.get("stoppedAt")
    if isinstance(asked, datetime) and isinstance(stopped, datetime):
        waited = (stopped - asked).total_seconds()
        if waited + 1 < timeout:
            return Exit.KILLED, (
                f"exit 137 (SIGKILL) {waited:.0f} s after the stop ({stop_code}), before stopTimeout {timeout} s"
            )
        return Exit.KILLED_AT_STOP_TIMEOUT, (
            f"exit 137: did not exit within stopTimeout {timeout} s of the stop ({stop_code}), so ECS sent SIGKILL"
        )
    return Exit.KILLED_AT_STOP_TIMEOUT, f"exit 137 after a stop ({stop_code}): SIGKILL at stopTimeout {timeout} s"


def _with_reason(text: str, container: Mapping[str, Any]) -> str:
    reason = str(container.get("reason") or "").strip()
    return f"{text}: {reason}" if reason else text
