"""The init job, top to bottom: settings -> memory sources -> budget -> heap plan -> env file + log.

`gather` does all the reading (network and files, at injected locations); `decide` is pure and
turns what was read into a Decision; `run` writes the env file and logs. `explain` shares
`gather` and `decide` and writes nothing.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from sidecar import __version__
from sidecar.budget import Budget, choose_budget, collect_candidates, explicit_budget
from sidecar.candidates import Notice
from sidecar.cgroup import CgroupMemory, read_cgroup_memory
from sidecar.ecs_api import ApiResult, fetch_task_from_api
from sidecar.envfile import render_env_file
from sidecar.errors import NoLimitError, SourceError, TooSmallError
from sidecar.meminfo import read_mem_total
from sidecar.metadata import TaskMetadata, fetch_task_metadata
from sidecar.node_profile import parse_version, profile_for, version_from_image
from sidecar.nodeopts import HeapPins, find_heap_pins
from sidecar.plan import HeapPlan, Knobs, plan_heap
from sidecar.settings import EcsApi, OnError, Settings
from sidecar.task import ContainerFacts, choose_target, list_containers, long_running_others
from sidecar.units import floor_mib


class Status(enum.Enum):
    PLANNED = "planned"  # a heap flag is written
    NO_LIMIT = "no_limit"  # nothing limits the container: no heap flag
    TOO_SMALL = "too_small"  # the container cannot hold NODE_HEAP_MIN_MIB of heap
    PINNED = "pinned"  # the app sets its own heap size: respected


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


@dataclass(frozen=True, slots=True)
class Decision:
    status: Status
    identity: dict[str, str | None]
    target: str | None
    target_reason: str
    reports: tuple[SourceReport, ...]
    budget: Budget
    plan: HeapPlan | None
    node_version: str | None
    node_version_origin: str
    pins: HeapPins
    pins_origin: str | None
    notices: tuple[Notice, ...]
    env_text: str
    env_file: str
    on_error: OnError = field(default=OnError.OPEN)

    @property
    def memory_mib(self) -> int | None:
        return None if self.budget.memory_bytes is None else floor_mib(self.budget.memory_bytes)


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


def decide(gathered: Gathered, settings: Settings) -> Decision:
    """Everything between reading and writing: target, budget, plan, env-file text. Pure.

    Raises TargetError when the Node container cannot be identified.
    """
    metadata, api = gathered.metadata, gathered.api
    notices: list[Notice] = []
    containers = list_containers(metadata, api)
    self_name = metadata.self_name if metadata else None
    definition_known = api is not None and api.task_definition is not None
    if containers or settings.target is not None:
        launch_type = (metadata.launch_type if metadata else None) or (
            api.task.launch_type if api is not None and api.task is not None else None
        )
        target, target_reason = choose_target(
            containers, self_name, settings.target, definition_known=definition_known, launch_type=launch_type
        )
    else:
        target, target_reason = None, "no source lists the task's containers"
    target_facts = containers.get(target) if target else None
    if settings.memory_mib is None and target is None:
        notices.append(
            Notice("target_unknown", f"the Node container is unknown ({target_reason}); only task-wide limits apply")
        )
    if settings.memory_mib is None and target is not None and target_facts is None:
        notices.append(
            Notice(
                "target_not_listed",
                f"container {target!r} is not listed by any source yet; its own limit is unknown "
                "(allow ecs:DescribeTaskDefinition to read it)",
            )
        )

    if settings.memory_mib is not None:
        budget = explicit_budget(settings.memory_mib)
    else:
        others, _ = long_running_others(containers, self_name, target)
        budget = choose_budget(
            collect_candidates(
                target=target,
                others=others,
                target_facts=target_facts,
                metadata=metadata,
                api=api,
                cgroup=gathered.cgroup,
                mem_total_bytes=gathered.mem_total_bytes,
                mem_total_where=gathered.mem_total_where,
            )
        )
    notices += budget.warnings

    version, version_origin = _node_version(settings, target_facts)
    profile = profile_for(version)
    node_options = target_facts.node_options if target_facts else None
    pins = find_heap_pins(node_options)
    pins_origin = None
    if node_options is not None and target_facts is not None:
        pins_origin = (
            "DescribeTasks overrides"
            if target_facts.described and target_facts.described.node_options
            else "task definition environment"
        )
    notices += _env_file_notices(target_facts)

    plan: HeapPlan | None = None
    if budget.memory_bytes is None:
        status = Status.NO_LIMIT
        notices.append(
            Notice(
                "no_limit_found",
                "no memory limit found for the Node container: the env file sets no heap flag "
                f"(NODE_HEAP_ON_ERROR={settings.on_error.value})",
            )
        )
    else:
        # Node sizes a percentage from its own cgroup: its own hard limit, else the machine.
        percent_base = budget.container_limit_bytes or gathered.mem_total_bytes
        plan = plan_heap(
            max(floor_mib(budget.memory_bytes), 0),  # sidecars may leave nothing: too small, not "no limit"
            Knobs(
                processes=settings.processes,
                reserve_mib=settings.reserve_mib,
                headroom_ratio=settings.headroom_ratio,
                ratio=settings.ratio,
                min_mib=settings.min_mib,
                max_mib=settings.max_mib,
            ),
            profile,
            pins,
            percent_base_mib=floor_mib(percent_base) if percent_base else None,
        )
        notices += plan.warnings
        status = Status.TOO_SMALL if plan.too_small else Status.PINNED if pins.pins_old_space else Status.PLANNED

    identity = _identity(metadata, api)
    decision = Decision(
        status=status,
        identity=identity,
        target=target,
        target_reason=target_reason,
        reports=gathered.reports,
        budget=budget,
        plan=plan,
        node_version=".".join(str(p) for p in version if p is not None) if version else None,
        node_version_origin=version_origin,
        pins=pins,
        pins_origin=pins_origin,
        notices=tuple(notices),
        env_text="",
        env_file=str(settings.env_file),
        on_error=settings.on_error,
    )
    flags = plan.flags if plan is not None else ()
    text = render_env_file(flags, _comments(decision))
    return dataclasses.replace(decision, env_text=text)


def check_policy(decision: Decision) -> None:
    """In `closed` mode, turn "no limit" and "too small" into errors (nothing gets written)."""
    if decision.on_error is not OnError.CLOSED:
        return
    if decision.status is Status.NO_LIMIT:
        raise NoLimitError(
            "no memory limit found for the Node container and NODE_HEAP_ON_ERROR=closed: "
            + "; ".join(f"{r.source} {r.status}: {r.detail}" for r in decision.reports)
        )
    if decision.status is Status.TOO_SMALL and decision.plan is not None:
        raise TooSmallError(too_small_message(decision.plan))


def too_small_message(plan: HeapPlan) -> str:
    """One line listing every component, what is left, and the smallest memory that works."""
    parts = ", ".join(f"{c.name} {c.mib} MiB ({c.origin})" for c in plan.components if c.mib)
    smallest = (
        f"the smallest memory that fits is {plan.smallest_memory_mib} MiB"
        if plan.smallest_memory_mib
        else "no memory size fits these settings"
    )
    return (
        f"container too small: {plan.memory_mib} MiB keeps back {parts}, leaving {plan.fit_mib} MiB "
        f"of old space per isolate, below NODE_HEAP_MIN_MIB; {smallest}"
    )


def _node_version(settings: Settings, facts: ContainerFacts | None) -> tuple[tuple[int, int | None] | None, str]:
    if settings.node_version is not None:
        return parse_version(settings.node_version), "NODE_HEAP_NODE_VERSION"
    image = facts.image if facts is not None else None
    found = version_from_image(image)
    if found is not None:
        return found, f"image {image}"
    where = f"image {image} names none" if image else "no image known"
    return None, f"unknown ({where}); assumed a Node that accepts --max-semi-space-size"


def _env_file_notices(facts: ContainerFacts | None) -> list[Notice]:
    if facts is None or facts.defined is None:
        return []
    notices = []
    command = " ".join(facts.defined.entry_point + facts.defined.command)
    if "--env-file" in command and facts.node_options:
        notices.append(
            Notice(
                "env_file_node_options_ignored",
                f"container {facts.name!r} runs `node --env-file` and sets NODE_OPTIONS in its environment: "
                "Node then ignores the file's NODE_OPTIONS, so the heap flags are lost; move its flags to "
                "the node command line or source the file with sh instead",
            )
        )
    if facts.defined.environment_files:
        notices.append(
            Notice(
                "node_options_unseen",
                f"container {facts.name!r} loads environmentFiles, which the sidecar cannot read: "
                "a NODE_OPTIONS there is respected at run time by the sh route but not checked",
            )
        )
    return notices


def _identity(metadata: TaskMetadata | None, api: ApiResult | None) -> dict[str, str | None]:
    service = metadata.service_name if metadata else None
    if service is None and api is not None and api.task is not None and api.task.group:
        group = api.task.group
        service = group.split(":", 1)[1] if group.startswith("service:") else None
    return {
        "task_arn": metadata.task_arn if metadata else None,
        "cluster": _short(metadata.cluster) if metadata else None,
        "family": metadata.family if metadata else None,
        "revision": metadata.revision if metadata else None,
        "launch_type": (metadata.launch_type if metadata else None)
        or (api.task.launch_type if api and api.task else None),
        "service": service,
    }


def _short(arn: str | None) -> str | None:
    """A cluster ARN's name (`arn:aws:ecs:...:cluster/default` -> `default`)."""
    if arn is None:
        return None
    return arn.rsplit("/", 1)[-1] if arn.startswith("arn:") else arn


def _comments(decision: Decision) -> list[str]:
    lines = [f"node-heap-sidecar {__version__}, generated - do not edit (the decision is logged as event decision)"]
    ident = decision.identity
    if ident.get("family"):
        lines.append(f"task {ident['family']} revision {ident.get('revision')}, container {decision.target}")
    if decision.plan is None:
        lines.append(f"no heap flag - {decision.budget.arithmetic}")
        return lines
    plan = decision.plan
    lines.append(f"memory {plan.memory_mib} MiB from {decision.budget.arithmetic}")
    lines.append(
        f"old space {plan.heap_mib} MiB per isolate x {plan.processes} ({plan.binding}), "
        f"semi-space {plan.semi_space_mib} MiB, {plan.profile.label}"
    )
    lines.append("kept back " + ", ".join(f"{c.name} {c.mib} MiB" for c in plan.components if c.mib))
    lines.append(f"use  . {decision.env_file} && exec node app.js   or   node --env-file {decision.env_file} app.js")
    return lines


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
