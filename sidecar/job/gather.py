"""The init job's reading: every memory source, at the locations the settings inject.

Each source reports what it found or why it found nothing (a `SourceReport`); a source's failure
is recorded, never raised, so the pure `decide` step sees everything that was read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from sidecar.errors import SourceError
from sidecar.job.settings import EcsApi, Settings
from sidecar.sources.cgroup import CgroupMemory, read_cgroup_memory
from sidecar.sources.ecs_api import ApiResult, fetch_task_from_api
from sidecar.sources.meminfo import read_mem_total
from sidecar.sources.metadata import TaskMetadata, fetch_task_metadata


@dataclass(frozen=True, slots=True)
class SourceReport:
    """How one source went, for the `source_read` event and `explain`."""

    source: str
    status: str  # ok | failed | skipped | none
    detail: str
    elapsed_ms: int


@dataclass(frozen=True, slots=True)
class Gathered:
    reports: tuple[SourceReport, ...]
    metadata: TaskMetadata | None = None
    api: ApiResult | None = None
    cgroup: CgroupMemory | None = None
    mem_total_bytes: int | None = None
    mem_total_where: str = "/proc/meminfo MemTotal"


ApiFetcher = Callable[..., ApiResult]


def gather(
    settings: Settings,
    *,
    session: requests.Session | None = None,
    fetch_api: ApiFetcher = fetch_task_from_api,
) -> Gathered:
    """Read every memory source; each one's failure is recorded, never raised."""
    if settings.memory_mib is not None:
        return Gathered(
            (SourceReport("setting", "ok", f"NODE_HEAP_MEMORY_MIB={settings.memory_mib}: detection skipped", 0),)
        )
    reports: list[SourceReport] = []

    def timed(source: str, read: Callable[[], Any], describe: Callable[[Any], str]) -> Any:
        started = time.monotonic()
        try:
            value = read()
        except SourceError as exc:
            reports.append(SourceReport(source, "failed", str(exc), _ms(started)))
            return None
        status = "ok" if value is not None else "none"
        reports.append(SourceReport(source, status, describe(value), _ms(started)))
        return value

    metadata: TaskMetadata | None = None
    if settings.metadata_uri is None:
        reports.append(SourceReport("task_metadata_v4", "skipped", "ECS_CONTAINER_METADATA_URI_V4 is not set", 0))
    else:
        uri = settings.metadata_uri
        metadata = timed(
            "task_metadata_v4",
            lambda: fetch_task_metadata(uri, session),
            lambda m: f"{m.url}: {len(m.containers)} containers, task Limits.Memory={m.memory_mib}",
        )

    api: ApiResult | None = None
    if settings.ecs_api is EcsApi.OFF:
        reports.append(SourceReport("ecs_api", "skipped", "NODE_HEAP_ECS_API=off", 0))
    elif metadata is None:
        reports.append(SourceReport("ecs_api", "skipped", "no task ARN (task metadata unavailable)", 0))
    else:
        task = metadata
        started = time.monotonic()
        definition = f"{task.family}:{task.revision}" if task.family and task.revision else None
        api = fetch_api(task_arn=task.task_arn, cluster=task.cluster, task_definition=definition)
        if api.skipped:
            reports.append(SourceReport("ecs_api", "skipped", api.skipped, _ms(started)))
        else:
            answered = [
                n for n, part in (("DescribeTasks", api.task), ("DescribeTaskDefinition", api.task_definition)) if part
            ]
            detail = "; ".join([f"answered: {', '.join(answered) or 'none'}", *api.errors])
            reports.append(SourceReport("ecs_api", "ok" if answered else "failed", detail, _ms(started)))

    mem_total = timed(
        "proc_meminfo",
        lambda: read_mem_total(settings.proc_root),
        lambda value: f"{settings.proc_root / 'meminfo'}: MemTotal {value} bytes",
    )
    cgroup = timed(
        "cgroup",
        lambda: read_cgroup_memory(
            proc_root=settings.proc_root, cgroup_root=settings.cgroup_root, mem_total_bytes=mem_total
        ),
        lambda c: (
            "no memory controller mounted"
            if c is None
            else f"v{c.version} {c.directory}: own {c.own_limit_bytes} ({c.own_where}), "
            f"ceiling {c.ceiling_bytes} ({c.ceiling_where})" + "".join(f"; {note}" for note in c.notes)
        ),
    )
    return Gathered(tuple(reports), metadata, api, cgroup, mem_total, f"{settings.proc_root / 'meminfo'} MemTotal")


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
