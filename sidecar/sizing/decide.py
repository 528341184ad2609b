"""The decision, pure: what the sources read (`Observed`) and the settings -> the heap plan of each Node
container, with where every figure came from.

The init job (sidecar/job/) reads the sources into an `Observed` and writes what this decides; the
fleet commands (sidecar/fleet/) build an `Observed` from a task definition alone and ask the same
question. The steps, in `decide`'s order:
1. identify: which container this init container is, and which one is Node (sizing/containers.py);
2. budget: the Node container's memory, from the settings or from every source (sizing/budget.py);
3. plan: the heap flags for that memory and Node version (sizing/plan.py);
4. status: planned, pinned by the app, too small, or no limit.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from sidecar.errors import NoLimitError, PinError, TooSmallError
from sidecar.notices import Notice
from sidecar.outputs.envfile import how_node_reads
from sidecar.settings import OnError, Settings
from sidecar.sizing.budget import Budget, choose_budget, collect_candidates, explicit_budget
from sidecar.sizing.containers import (
    ContainerFacts,
    choose_target,
    find_init_container,
    hard_limit_mib,
    list_containers,
    long_running_others,
)
from sidecar.sizing.node_profile import parse_version, profile_for, version_from_image
from sidecar.sizing.nodeopts import HeapPins, find_heap_pins
from sidecar.sizing.plan import Component, HeapPlan, Knobs, plan_heap
from sidecar.sizing.siblings import Rule, SiblingEstimate, estimate_siblings, guess_notices
from sidecar.sources.cgroup import CgroupMemory
from sidecar.sources.ecs_api import TaskDefinition, TaskDescription
from sidecar.sources.metadata import TaskMetadata
from sidecar.units import floor_mib


@dataclass(frozen=True, slots=True)
class Observed:
    """Everything the sources read for one task: the decision's whole input besides the settings."""

    metadata: TaskMetadata | None = None  # task metadata v4 `/task`
    task: TaskDescription | None = None  # DescribeTasks
    definition: TaskDefinition | None = None  # DescribeTaskDefinition
    cgroup: CgroupMemory | None = None
    mem_total_bytes: int | None = None
    mem_total_where: str = "/proc/meminfo MemTotal"
    self_name: str | None = None  # this init container's name, from `${uri}`
    metadata_id: str | None = None  # the id at the end of ECS_CONTAINER_METADATA_URI_V4
    problems: tuple[Notice, ...] = ()  # what went wrong while reading (deadline, incomplete sources)

    @property
    def launch_type(self) -> str | None:
        if self.metadata is not None and self.metadata.launch_type:
            return self.metadata.launch_type
        return self.task.launch_type if self.task is not None else None


class Status(enum.Enum):
    PLANNED = "planned"  # a heap flag is written
    NO_LIMIT = "no_limit"  # nothing limits the container: no heap flag
    TOO_SMALL = "too_small"  # the container cannot hold NODE_HEAP_MIN_MIB of heap
    PINNED = "pinned"  # the app sets its own heap size: respected


@dataclass(frozen=True, slots=True)
class TaskIdentity:
    """Which task a decision is for (each field absent when no source said it)."""

    task_arn: str | None = None
    cluster: str | None = None
    family: str | None = None
    revision: str | None = None
    launch_type: str | None = None
    service: str | None = None


@dataclass(frozen=True, slots=True)
class Identification:
    """Step 1: the task's containers, this init container, and the Node container with how it was chosen."""

    containers: Mapping[str, ContainerFacts]
    self_name: str | None
    target: str | None
    reason: str
    notices: tuple[Notice, ...] = ()

    @property
    def facts(self) -> ContainerFacts | None:
        return self.containers.get(self.target) if self.target else None


@dataclass(frozen=True, slots=True)
class Decision:
    status: Status
    identity: TaskIdentity
    target: str | None
    target_reason: str
    budget: Budget
    plan: HeapPlan | None
    node_version: str | None
    node_version_origin: str
    pins: HeapPins
    pins_origin: str | None
    notices: tuple[Notice, ...]
    env_file: PurePath
    on_error: OnError = OnError.OPEN
    not_beside: tuple[tuple[str, str], ...] = ()  # (container, why it is not counted beside Node)
    task_cpu_vcpus: float | None = None  # task metadata Limits.CPU: the CPU the task may use
    container_cpu_units: int | None = None  # the Node container's Limits.CPU (1024 per vCPU; a share)
    argv: tuple[str, ...] = field(default=())  # the Node container's entryPoint + command, as defined

    @property
    def memory_mib(self) -> int | None:
        return None if self.budget.memory_bytes is None else floor_mib(self.budget.memory_bytes)


def decide_all(observed: Observed, settings: Settings) -> tuple[Decision, ...]:
    """One Decision per Node container in NODE_HEAP_TARGET (one when it names one, or none).

    Several Node containers share the task: each is sized on its own, and the others are counted
    beside it. One with a hard limit is counted for it; those without one split what is left of
    the task equally (NODE_HEAP_MEMORY_MIB, when given, is each one's memory).
    """
    names = settings.target or ()
    if len(names) <= 1:
        return (decide(observed, settings),)
    containers = list_containers(observed.metadata, observed.task, observed.definition)
    unbounded = [name for name in names if hard_limit_mib(containers.get(name)) is None]
    shares: dict[str, int] = {}
    if len(unbounded) > 1 and settings.memory_mib is None:
        # What the task leaves for the containers without a limit, all together: size the first with
        # the others counted as nothing, then split it.
        pool = decide(observed, settings, target=unbounded[0], shares=dict.fromkeys(unbounded[1:], 0))
        if pool.budget.memory_bytes is not None:
            shares = dict.fromkeys(unbounded, floor_mib(pool.budget.memory_bytes) // len(unbounded))
    return tuple(
        decide(
            observed,
            settings,
            target=name,
            shares={fellow: share for fellow, share in shares.items() if fellow != name},
            env_file=env_file_for(settings.env_file, names, name),
        )
        for name in names
    )


def env_file_for(env_file: PurePath, targets: Sequence[str], container: str) -> PurePath:
    """The file the init job writes for `container`: NODE_HEAP_ENV_FILE itself for one target; for several,
    one per container beside it (`/shared/node-heap.env` -> `/shared/node-heap.web.env`). The init job,
    audit and adopt all name files with this."""
    if len(targets) <= 1:
        return env_file
    return env_file.with_name(f"{env_file.stem}.{container}{env_file.suffix}")


def decide(
    observed: Observed,
    settings: Settings,
    *,
    target: str | None = None,
    shares: Mapping[str, int] | None = None,
    env_file: PurePath | None = None,
) -> Decision:
    """Everything between reading and writing for one Node container.

    `target` is one name of NODE_HEAP_TARGET (default: its only one); `shares` the MiB counted for
    the other Node containers without a hard limit (see `decide_all`).
    Raises TargetError when the Node container cannot be identified.
    """
    name = target if target is not None else (settings.target[0] if settings.target else None)
    if settings.memory_mib is not None:
        # Nothing is detected; what the sources did read (a task definition, for audit) still says
        # which container is Node, its image and its NODE_OPTIONS.
        found = identify(observed, name) if _lists_containers(observed) else Identification({}, None, name, "given")
        budget = explicit_budget(settings.memory_mib)
        not_beside: tuple[tuple[str, str], ...] = ()
        notices: list[Notice] = []
    else:
        found = identify(observed, name)
        budget, not_beside, notices = detect_budget(observed, settings, found, shares or {})
    facts = found.facts
    version, version_origin = node_version_for(settings, facts)
    profile = profile_for(version)
    pins, pins_origin = _pins(facts)
    plan = None
    if budget.memory_bytes is not None:
        plan = plan_heap(
            floor_mib(budget.memory_bytes),
            _knobs(settings, facts),
            profile,
            pins,
            # Node sizes a percentage from its own cgroup: its own hard limit, else the machine.
            percent_base_mib=_percent_base(budget, observed),
        )
    notices = [*observed.problems, *found.notices, *notices, *budget.warnings]
    notices += plan.warnings if plan is not None else [_no_limit_notice(budget, settings)]
    notices += _env_file_notices(facts)
    return Decision(
        status=_status(plan, pins),
        identity=_identity(observed),
        target=found.target,
        target_reason=found.reason,
        budget=budget,
        plan=plan,
        node_version=_version_text(version),
        node_version_origin=version_origin,
        pins=pins,
        pins_origin=pins_origin,
        notices=tuple(notices),
        env_file=env_file or settings.env_file,
        on_error=settings.on_error,
        not_beside=not_beside,
        task_cpu_vcpus=observed.metadata.cpu_vcpus if observed.metadata else None,
        container_cpu_units=facts.tmds.cpu_units if facts and facts.tmds else None,
        argv=(facts.defined.entry_point + facts.defined.command) if facts and facts.defined else (),
    )


def identify(observed: Observed, setting: str | None) -> Identification:
    """Step 1: this init container and the Node container. Raises TargetError (exit 3) when the Node
    container cannot be told, or NODE_HEAP_TARGET names none of the task's containers."""
    containers = list_containers(observed.metadata, observed.task, observed.definition)
    notices: list[Notice] = []
    self_name = observed.self_name
    if self_name is None:
        inferred = find_init_container(containers, observed.metadata_id)
        if inferred is not None:
            self_name, how = inferred
            notices.append(
                Notice(
                    "init_container_inferred",
                    f"this container's name was not read from task metadata; taken to be {self_name!r}: {how}",
                )
            )
    if not containers and setting is None:
        reason = "no source lists the task's containers"
        notices.append(
            Notice("target_unknown", f"the Node container is unknown ({reason}); only task-wide limits apply")
        )
        return Identification(containers, self_name, None, reason, tuple(notices))
    target, reason = choose_target(
        containers,
        self_name,
        setting,
        definition_known=observed.definition is not None,
        launch_type=observed.launch_type,
    )
    if target is None:
        notices.append(
            Notice("target_unknown", f"the Node container is unknown ({reason}); only task-wide limits apply")
        )
    elif target not in containers:
        notices.append(
            Notice(
                "target_not_listed",
                f"container {target!r} is not listed by any source yet; its own limit is unknown "
                "(allow ecs:DescribeTaskDefinition to read it)",
            )
        )
    return Identification(containers, self_name, target, reason, tuple(notices))


def _target_unknown(reason: str) -> Notice:
    return Notice("target_unknown", f"the Node container is unknown ({reason}); only task-wide limits apply")


def detect_budget(
    observed: Observed, settings: Settings, found: Identification, shares: Mapping[str, int]
) -> tuple[Budget, tuple[tuple[str, str], ...], list[Notice]]:
    """Step 2 (detection): the Node container's memory from every source, the containers not counted
    beside it (and why), and the notices about what beside it was guessed."""
    others, not_beside = long_running_others(dict(found.containers), found.self_name, found.target)
    estimates, notices = estimate_siblings(others, settings.sibling_mib, settings.sibling_default_mib)
    estimates = [e for e in estimates if e.container not in shares] + [
        SiblingEstimate(
            fellow,
            share,
            Rule.OVERRIDE,
            f"an equal share of what the task leaves for the {len(shares) + 1} Node containers without a "
            "memory limit (NODE_HEAP_TARGET)",
            "its share of the task",
            f"{fellow}=<MiB>",
        )
        for fellow, share in shares.items()
    ]
    budget = choose_budget(
        collect_candidates(
            target_facts=found.facts,
            others=others,
            metadata=observed.metadata,
            task=observed.task,
            definition=observed.definition,
            cgroup=observed.cgroup,
            mem_total_bytes=observed.mem_total_bytes,
            mem_total_where=observed.mem_total_where,
            estimates=estimates,
        )
    )
    return budget, tuple(not_beside), [*notices, *guess_notices(budget.sidecars, estimates)]


def _lists_containers(observed: Observed) -> bool:
    return bool(list_containers(observed.metadata, observed.task, observed.definition))


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


def check_policy(decision: Decision) -> None:
    """In `closed` mode, turn "no limit", "too small" and a pin that does not fit into errors (nothing
    gets written)."""
    if decision.on_error is not OnError.CLOSED:
        return
    if decision.status is Status.NO_LIMIT:
        problems = "; ".join(n.text for n in decision.notices if n.code in ("source_incomplete", "deadline_reached"))
        raise NoLimitError(
            f"no trustworthy memory limit for the Node container ({decision.budget.arithmetic}) and "
            "NODE_HEAP_ON_ERROR=closed" + (f": {problems}" if problems else "")
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


def _knobs(settings: Settings, facts: ContainerFacts | None) -> Knobs:
    return Knobs(
        processes=settings.processes,
        reserve_mib=settings.reserve_mib,
        headroom_ratio=settings.headroom_ratio,
        ratio=settings.ratio,
        min_mib=settings.min_mib,
        max_mib=settings.max_mib,
        semi_space=settings.semi_space,
        fixed=_memory_files(settings, facts),
    )


def _memory_files(settings: Settings, facts: ContainerFacts | None) -> tuple[Component, ...]:
    """tmpfs mounts and /dev/shm of the Node container: files there are charged to its memory cgroup.
    From the task definition when it was read, else NODE_HEAP_TMPFS_MIB (adopt writes it from the same
    definition)."""
    spec = facts.defined if facts is not None else None
    if spec is not None:
        where = f"containerDefinitions[name={spec.name}].linuxParameters"
        found = [Component(f"tmpfs {path}", size, f"{where}.tmpfs") for path, size in spec.tmpfs]
        if spec.shared_memory_mib:
            found.append(Component("shared memory /dev/shm", spec.shared_memory_mib, f"{where}.sharedMemorySize"))
        return tuple(found)
    return tuple(Component(f"tmpfs {path}", size, "NODE_HEAP_TMPFS_MIB") for path, size in settings.tmpfs_mib)


def _pins(facts: ContainerFacts | None) -> tuple[HeapPins, str | None]:
    node_options = facts.node_options if facts is not None else None
    if node_options is None or facts is None:
        return HeapPins(), None
    overridden = facts.described is not None and facts.described.node_options is not None
    return find_heap_pins(node_options), "DescribeTasks overrides" if overridden else "task definition environment"


def _percent_base(budget: Budget, observed: Observed) -> int | None:
    base = budget.container_limit_bytes or observed.mem_total_bytes
    return floor_mib(base) if base else None


def _status(plan: HeapPlan | None, pins: HeapPins) -> Status:
    if plan is None:
        return Status.NO_LIMIT
    if plan.too_small:
        return Status.TOO_SMALL
    return Status.PINNED if pins.pins_old_space else Status.PLANNED


def _no_limit_notice(budget: Budget, settings: Settings) -> Notice:
    return Notice(
        "no_limit_found",
        f"no trustworthy memory limit for the Node container ({budget.arithmetic}): the env file sets "
        f"no heap flag (NODE_HEAP_ON_ERROR={settings.on_error.value})",
    )


def _env_file_notices(facts: ContainerFacts | None) -> list[Notice]:
    if facts is None or facts.defined is None:
        return []
    notices = []
    if how_node_reads(facts.defined.entry_point + facts.defined.command).loses_flags_with(facts.node_options):
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


def _identity(observed: Observed) -> TaskIdentity:
    metadata, task = observed.metadata, observed.task
    service = metadata.service_name if metadata else None
    if service is None and task is not None and task.group and task.group.startswith("service:"):
        service = task.group.split(":", 1)[1]
    return TaskIdentity(
        task_arn=metadata.task_arn if metadata else None,
        cluster=_short(metadata.cluster) if metadata else None,
        family=metadata.family if metadata else None,
        revision=metadata.revision if metadata else None,
        launch_type=observed.launch_type,
        service=service,
    )


def _short(arn: str | None) -> str | None:
    """A cluster ARN's name (`arn:aws:ecs:...:cluster/default` -> `default`)."""
    if arn is None:
        return None
    return arn.rsplit("/", 1)[-1] if arn.startswith("arn:") else arn


def _version_text(version: tuple[int, int | None] | None) -> str | None:
    return ".".join(str(part) for part in version if part is not None) if version else None
