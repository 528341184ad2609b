"""The init job's decision, pure: what was read -> target, budget, heap plan, env-file text.

The data path, top to bottom: settings -> memory sources (`sidecar.job.gather`) -> budget ->
heap plan -> env file + log (`sidecar.job.run`). `explain` shares `gather` and `decide` and
writes nothing.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sidecar import __version__
from sidecar.errors import NoLimitError, PinError, TooSmallError
from sidecar.job.gather import Gathered, SourceReport
from sidecar.outputs.envfile import render_env_file
from sidecar.settings import OnError, Settings
from sidecar.sizing.budget import Budget, choose_budget, collect_candidates, explicit_budget
from sidecar.sizing.candidates import Notice
from sidecar.sizing.node_profile import parse_version, profile_for, version_from_image
from sidecar.sizing.nodeopts import HeapPins, find_heap_pins
from sidecar.sizing.plan import HeapPlan, Knobs, plan_heap
from sidecar.sizing.siblings import Rule, SiblingEstimate, estimate_siblings, guess_notices
from sidecar.sizing.task import (
    ContainerFacts,
    choose_target,
    infer_init_container,
    list_containers,
    long_running_others,
)
from sidecar.sources.ecs_api import ApiResult
from sidecar.sources.metadata import TaskMetadata
from sidecar.units import floor_mib


class Status(enum.Enum):
    PLANNED = "planned"  # a heap flag is written
    NO_LIMIT = "no_limit"  # nothing limits the container: no heap flag
    TOO_SMALL = "too_small"  # the container cannot hold NODE_HEAP_MIN_MIB of heap
    PINNED = "pinned"  # the app sets its own heap size: respected


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
    not_beside: tuple[tuple[str, str], ...] = ()  # (container, why it is not counted beside Node)
    task_cpu_vcpus: float | None = None  # task metadata Limits.CPU: the CPU the task may use
    container_cpu_units: int | None = None  # the Node container's Limits.CPU (1024 per vCPU; a share)

    @property
    def memory_mib(self) -> int | None:
        return None if self.budget.memory_bytes is None else floor_mib(self.budget.memory_bytes)


def decide_all(gathered: Gathered, settings: Settings) -> tuple[Decision, ...]:
    """One Decision per Node container in NODE_HEAP_TARGET (one when it names one, or none).

    Several Node containers share the task: each is sized on its own, and the others are counted
    beside it. One with a hard limit is counted for it; those without one split what is left of
    the task equally (NODE_HEAP_MEMORY_MIB, when given, is each one's memory). Pure.
    """
    names = settings.target or ()
    if len(names) <= 1:
        return (decide(gathered, settings),)
    containers = list_containers(gathered.metadata, gathered.api)
    unbounded = [name for name in names if _hard_limit_mib(containers.get(name)) is None]
    shares: dict[str, int] = {}
    if len(unbounded) > 1 and settings.memory_mib is None:
        # What the task leaves for the containers without a limit, all together: size the first with
        # the others counted as nothing, then split it.
        first = unbounded[0]
        pool = decide(gathered, settings, target=first, shares=dict.fromkeys(unbounded[1:], 0))
        if pool.budget.memory_bytes is not None:
            share = max(floor_mib(pool.budget.memory_bytes), 0) // len(unbounded)
            shares = dict.fromkeys(unbounded, share)
    return tuple(
        decide(
            gathered,
            settings,
            target=name,
            shares={fellow: mib for fellow, mib in shares.items() if fellow != name},
            env_file=env_file_for(settings.env_file, name),
        )
        for name in names
    )


def env_file_for(env_file: Path, container: str) -> Path:
    """`/shared/node-heap.env` -> `/shared/node-heap.web.env`: the file of one of several Node containers."""
    return env_file.with_name(f"{env_file.stem}.{container}{env_file.suffix}")


def _hard_limit_mib(facts: ContainerFacts | None) -> int | None:
    if facts is None:
        return None
    figures = [facts.tmds.memory_mib if facts.tmds else None]
    figures += [spec.memory_mib for spec in (facts.described, facts.defined) if spec is not None]
    return next((figure for figure in figures if figure), None)


def decide(
    gathered: Gathered,
    settings: Settings,
    *,
    target: str | None = None,
    shares: Mapping[str, int] | None = None,
    env_file: Path | None = None,
) -> Decision:
    """Everything between reading and writing: target, budget, plan, env-file text. Pure.

    `target` is one name of NODE_HEAP_TARGET (default: its only one); `shares` the MiB counted for
    the other Node containers without a hard limit (see `decide_all`).
    Raises TargetError when the Node container cannot be identified.
    """
    setting_target = target if target is not None else (settings.target[0] if settings.target else None)
    shares = shares or {}
    metadata, api = gathered.metadata, gathered.api
    notices: list[Notice] = _source_notices(gathered)
    containers = list_containers(metadata, api)
    self_name = gathered.self_name
    if self_name is None and settings.memory_mib is None:
        metadata_id = settings.metadata_uri.rsplit("/", 1)[-1] if settings.metadata_uri else None
        inferred = infer_init_container(containers, metadata_id)
        if inferred is not None:
            self_name, how = inferred
            notices.append(
                Notice(
                    "init_container_inferred",
                    f"this container's name was not read from task metadata; taken to be {self_name!r}: {how}",
                )
            )
    definition_known = api is not None and api.task_definition is not None
    if containers or setting_target is not None:
        launch_type = (metadata.launch_type if metadata else None) or (
            api.task.launch_type if api is not None and api.task is not None else None
        )
        target, target_reason = choose_target(
            containers, self_name, setting_target, definition_known=definition_known, launch_type=launch_type
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

    not_beside: list[tuple[str, str]] = []
    if settings.memory_mib is not None:
        budget = explicit_budget(settings.memory_mib)
    else:
        others, not_beside = long_running_others(containers, self_name, target)
        estimates, override_notices = estimate_siblings(others, settings.sibling_mib, settings.sibling_default_mib)
        notices += override_notices
        estimates = [e for e in estimates if e.container not in shares] + [
            SiblingEstimate(
                fellow,
                mib,
                Rule.OVERRIDE,
                f"an equal share of what the task leaves for the {len(shares) + 1} Node containers without a "
                "memory limit (NODE_HEAP_TARGET)",
                "its share of the task",
                f"{fellow}=<MiB>",
            )
            for fellow, mib in shares.items()
        ]
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
                estimates=estimates,
            )
        )
        notices += guess_notices(budget.sidecars, estimates)
    notices += budget.warnings

    version, version_origin = node_version_for(settings, target_facts)
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
                f"no trustworthy memory limit for the Node container ({budget.arithmetic}): the env file sets "
                f"no heap flag (NODE_HEAP_ON_ERROR={settings.on_error.value})",
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
                semi_space=settings.semi_space,
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
        env_file=str(env_file or settings.env_file),
        on_error=settings.on_error,
        not_beside=tuple(not_beside),
        task_cpu_vcpus=metadata.cpu_vcpus if metadata else None,
        container_cpu_units=target_facts.tmds.cpu_units if target_facts and target_facts.tmds else None,
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
            f"no trustworthy memory limit for the Node container ({decision.budget.arithmetic}) and "
            "NODE_HEAP_ON_ERROR=closed: " + "; ".join(f"{r.source} {r.status}: {r.detail}" for r in decision.reports)
        )
    if decision.status is Status.TOO_SMALL and decision.plan is not None:
        raise TooSmallError(too_small_message(decision.plan))
    if decision.plan is not None and decision.plan.pin_does_not_fit:
        raise PinError(
            f"the app's own {decision.pins.text} ({decision.pins_origin}) gives {decision.plan.heap_mib} MiB of "
            f"old space, more than the {decision.plan.fit_mib} MiB that fit in {decision.plan.memory_mib} MiB, "
            "and NODE_HEAP_ON_ERROR=closed: remove it to let the sidecar size the heap"
        )


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


def _source_notices(gathered: Gathered) -> list[Notice]:
    """What failed while reading, named: the decision is only as good as what answered."""
    notices = []
    late = [r.source for r in gathered.reports if r.timed_out]
    if late:
        notices.append(
            Notice(
                "deadline_reached",
                f"NODE_HEAP_DEADLINE_S={gathered.deadline_s:g} passed before {', '.join(late)} answered in full: "
                "decided with what was read by then",
            )
        )
    for report in gathered.reports:
        if report.status in ("partial", "failed"):
            notices.append(Notice("source_incomplete", f"{report.source} {report.status}: {report.detail}"))
    return notices


def node_version_for(settings: Settings, facts: ContainerFacts | None) -> tuple[tuple[int, int | None] | None, str]:
    """The Node version the plan is for (NODE_HEAP_NODE_VERSION, else the image's tag), and where it came from."""
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
