"""The init job's reading: every memory source, at the locations the settings inject, within one deadline.

Each source reports what it found or why it found nothing (a `SourceReport`); a failure is recorded,
never raised, and costs only what failed: a task limit read from `/task` survives a failed `${uri}`,
DescribeTasks survives a DescribeTaskDefinition that never answers. The local files (meminfo,
cgroups) are read in the background while the network is asked; everything stops at the deadline
(`NODE_HEAP_DEADLINE_S`), and what had not answered by then is reported as such.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sidecar.deadline import Background, Bounded, Deadline, within
from sidecar.errors import SourceError
from sidecar.notices import Notice
from sidecar.settings import EcsApi, Settings
from sidecar.sizing.decide import Observed
from sidecar.sources.cgroup import read_cgroup_memory
from sidecar.sources.ecs_api import ApiResult, fetch_task_from_api
from sidecar.sources.meminfo import read_mem_total
from sidecar.sources.metadata import TaskMetadata, fetch_own_container, fetch_task, make_session
from sidecar.sources.report import SourceReport, SourceStatus
from sidecar.text import first_line, size_text

T = TypeVar("T")
_PROBLEMS_SHOWN = 5  # a report names this many failed fields, then counts the rest
OK, PARTIAL, FAILED, SKIPPED, NONE = (
    SourceStatus.OK,
    SourceStatus.PARTIAL,
    SourceStatus.FAILED,
    SourceStatus.SKIPPED,
    SourceStatus.NONE,
)


@dataclass(frozen=True, slots=True)
class Gathered:
    """What the sources said (for the decision) and how each went (for the log)."""

    reports: tuple[SourceReport, ...]
    observed: Observed


ApiFetcher = Callable[..., ApiResult]


def gather(
    settings: Settings,
    *,
    deadline: Deadline | None = None,
    fetch_api: ApiFetcher = fetch_task_from_api,
) -> Gathered:
    """Read every memory source within the deadline; each one's failure is recorded, never raised."""
    if settings.memory_mib is not None:
        detail = f"NODE_HEAP_MEMORY_MIB={settings.memory_mib}: detection skipped"
        return Gathered((SourceReport("setting", OK, detail, 0),), Observed())
    deadline = deadline or Deadline(settings.deadline_s)
    local: dict[str, tuple[SourceReport, Any]] = {}
    reader = Background(lambda: _read_local(settings, local), name="local-files")

    metadata, self_name, tmds_report = _read_tmds(settings, deadline)
    api, api_report = _read_api(settings, deadline, metadata, fetch_api)

    reader.wait(deadline)
    snapshot = dict(local)  # what the reader had by now; later writes are not seen
    reports = [tmds_report, api_report]
    values: dict[str, Any] = {}
    for source, path in (("proc_meminfo", "meminfo"), ("cgroup", "self/mountinfo")):
        if source in snapshot:
            report, values[source] = snapshot[source]
        else:
            report = _too_late(source, f"reading {settings.proc_root / path}", deadline)
        reports.append(report)
    observed = Observed(
        metadata=metadata,
        task=api.task if api is not None else None,
        definition=api.task_definition if api is not None else None,
        cgroup=values.get("cgroup"),
        mem_total_bytes=values.get("proc_meminfo"),
        mem_total_where=f"{settings.proc_root / 'meminfo'} MemTotal",
        self_name=self_name,
        metadata_id=settings.metadata_uri.rsplit("/", 1)[-1] if settings.metadata_uri else None,
        problems=source_notices(reports, settings.deadline_s),
    )
    return Gathered(tuple(reports), observed)


def source_notices(reports: list[SourceReport], deadline_s: float) -> tuple[Notice, ...]:
    """What failed while reading, named: the decision is only as good as what answered."""
    notices = []
    late = [r.source for r in reports if r.timed_out]
    if late:
        notices.append(
            Notice(
                "deadline_reached",
                f"NODE_HEAP_DEADLINE_S={deadline_s:g} passed before {', '.join(late)} answered in full: "
                "decided with what was read by then",
            )
        )
    for report in reports:
        if report.status in (PARTIAL, FAILED):
            notices.append(Notice("source_incomplete", f"{report.source} {report.status.value}: {report.detail}"))
    return tuple(notices)


def _read_tmds(settings: Settings, deadline: Deadline) -> tuple[TaskMetadata | None, str | None, SourceReport]:
    """`${uri}/task`, then `${uri}` (this container's name): each kept without the other."""
    source = "task_metadata_v4"
    if settings.metadata_uri is None:
        return None, None, SourceReport(source, SKIPPED, "ECS_CONTAINER_METADATA_URI_V4 is not set", 0)
    uri = settings.metadata_uri
    started = time.monotonic()
    # Both at once, each with its own session: a stall on one costs the other nothing.
    sessions = (make_session(deadline), make_session(deadline))
    task_reader = Background(lambda: fetch_task(uri, sessions[0], deadline), name="tmds-task")
    own_reader = Background(lambda: fetch_own_container(uri, sessions[1], deadline), name="tmds-self")
    task_step, own_step = task_reader.wait(deadline), own_reader.wait(deadline)
    # A session whose request was abandoned is left open: its thread may still be in it.
    if task_step.finished:
        sessions[0].clear()
    if own_step.finished:
        sessions[1].clear()

    parts: list[str] = []
    failed: list[str] = []
    task = _value(task_step, f"GET {uri}/task", deadline, failed)
    own = _value(own_step, f"GET {uri}", deadline, failed)
    if task is not None:
        limit = f"{task.memory_mib} MiB" if task.memory_mib else "absent"
        parts.append(f"{task.url}: {len(task.containers)} containers, task Limits.Memory {limit}")
        failed += task.problems
    if own is not None:
        parts.append(f"this container is {own.name!r}")
    status = OK if not failed else PARTIAL if parts else FAILED
    detail = "; ".join(parts + _summarised(failed))
    # Cut short by the deadline: abandoned, or failed with the budget spent (timeouts are cut to it).
    timed_out = not (task_step.finished and own_step.finished) or (bool(failed) and deadline.expired())
    report = SourceReport(source, status, detail, _ms(started), timed_out=timed_out)
    return task, own.name if own is not None else None, report


def _read_api(
    settings: Settings, deadline: Deadline, metadata: TaskMetadata | None, fetch_api: ApiFetcher
) -> tuple[ApiResult | None, SourceReport]:
    """DescribeTasks and DescribeTaskDefinition; what answered before the deadline is kept."""
    source = "ecs_api"
    if settings.ecs_api is EcsApi.OFF:
        return None, SourceReport(source, SKIPPED, "NODE_HEAP_ECS_API=off", 0)
    if metadata is None or metadata.task_arn is None:
        return None, SourceReport(source, SKIPPED, "no task ARN (task metadata unavailable)", 0)
    if deadline.expired():
        return None, _too_late(source, "task metadata", deadline)
    task_arn = metadata.task_arn
    definition = f"{metadata.family}:{metadata.revision}" if metadata.family and metadata.revision else None
    progress: list[ApiResult] = []
    started = time.monotonic()
    step = within(
        deadline,
        lambda: fetch_api(
            task_arn=task_arn,
            cluster=metadata.cluster,
            task_definition=definition,
            deadline=deadline,
            on_progress=progress.append,
        ),
        name="ecs-api",
    )
    if step.error is not None:
        errors = (f"unexpected {type(step.error).__name__}: {first_line(step.error)}",)
        return None, SourceReport(source, FAILED, errors[0], _ms(started))
    if step.finished:
        assert step.value is not None
        api = step.value
    else:
        so_far = progress[-1] if progress else ApiResult(None, None, ())
        missing = "DescribeTaskDefinition" if progress else "DescribeTasks"
        api = ApiResult(so_far.task, None, (*so_far.errors, f"{missing}: {_late(deadline)}"))
    if api.skipped:
        return api, SourceReport(source, SKIPPED, api.skipped, _ms(started))
    answered = [n for n, part in (("DescribeTasks", api.task), ("DescribeTaskDefinition", api.task_definition)) if part]
    detail = "; ".join([f"answered: {', '.join(answered) or 'none'}", *_summarised(list(api.errors))])
    status = FAILED if not answered else PARTIAL if api.errors else OK
    timed_out = not step.finished or (bool(api.errors) and deadline.expired())
    return api, SourceReport(source, status, detail, _ms(started), timed_out=timed_out)


def _read_local(settings: Settings, into: dict[str, tuple[SourceReport, Any]]) -> None:
    """MemTotal, then the cgroup (which needs it); each result lands in `into` as soon as it is read."""
    started = time.monotonic()
    mem_total: int | None = None
    try:
        mem_total = read_mem_total(settings.proc_root)
        into["proc_meminfo"] = (
            SourceReport(
                "proc_meminfo", OK, f"{settings.proc_root / 'meminfo'}: MemTotal {mem_total} bytes", _ms(started)
            ),
            mem_total,
        )
    except SourceError as exc:
        into["proc_meminfo"] = (SourceReport("proc_meminfo", FAILED, str(exc), _ms(started)), None)
    started = time.monotonic()
    try:
        cgroup = read_cgroup_memory(
            proc_root=settings.proc_root, cgroup_root=settings.cgroup_root, mem_total_bytes=mem_total
        )
    except SourceError as exc:
        into["cgroup"] = (SourceReport("cgroup", FAILED, str(exc), _ms(started)), None)
        return
    if cgroup is None:
        into["cgroup"] = (SourceReport("cgroup", NONE, "no memory controller mounted", _ms(started)), None)
        return
    detail = (
        f"v{cgroup.version} {cgroup.directory}: own {size_text(cgroup.own_limit_bytes)} ({cgroup.own_where}), "
        f"ceiling {size_text(cgroup.ceiling_bytes)} ({cgroup.ceiling_where})"
    )
    detail = "; ".join([detail, *cgroup.notes[:_PROBLEMS_SHOWN], *_summarised(list(cgroup.problems))])
    status = PARTIAL if cgroup.problems else OK
    into["cgroup"] = (SourceReport("cgroup", status, detail, _ms(started)), cgroup)


def _value(step: Bounded[T], what: str, deadline: Deadline, failed: list[str]) -> T | None:
    """The step's value; its failure (a SourceError, anything unexpected, or the deadline) goes to `failed`."""
    if step.finished and step.error is None:
        return step.value
    if step.error is None:
        failed.append(f"{what}: {_late(deadline)}")
    elif isinstance(step.error, SourceError):
        failed.append(str(step.error))
    else:
        failed.append(f"{what}: unexpected {type(step.error).__name__}: {first_line(step.error)}")
    return None


def _summarised(problems: list[str]) -> list[str]:
    if len(problems) <= _PROBLEMS_SHOWN:
        return problems
    return [*problems[:_PROBLEMS_SHOWN], f"and {len(problems) - _PROBLEMS_SHOWN} more"]


def _too_late(source: str, what: str, deadline: Deadline) -> SourceReport:
    return SourceReport(source, FAILED, f"{what}: {_late(deadline)}", deadline.elapsed_ms(), timed_out=True)


def _late(deadline: Deadline) -> str:
    return f"no answer before the deadline (NODE_HEAP_DEADLINE_S={deadline.seconds:g})"


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
