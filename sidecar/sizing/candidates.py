"""The budget's vocabulary: where a memory figure came from, what it means, and what the budget did with it."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Origin(enum.Enum):
    """Which source reported a value."""

    SETTING = "setting"
    TMDS = "task_metadata_v4"
    DESCRIBE_TASKS = "ecs_describe_tasks"
    DESCRIBE_TASK_DEFINITION = "ecs_describe_task_definition"
    CGROUP_V1 = "cgroup_v1"
    CGROUP_V2 = "cgroup_v2"
    MEMINFO = "proc_meminfo"
    CATALOGUE = "footprint_catalogue"  # sidecar/sizing/siblings.py: a known image's footprint


class Kind(enum.Enum):
    """What a value means for the Node container."""

    EXPLICIT = "explicit"  # NODE_HEAP_MEMORY_MIB
    CONTAINER_LIMIT = "container_limit"  # the Node container's hard `memory`
    CONTAINER_RESERVATION = "container_reservation"  # its soft `memoryReservation`
    TASK_LIMIT = "task_limit"  # the task's `memory`
    SIDECAR_LIMIT = "sidecar_limit"  # another long-running container's hard limit
    SIDECAR_RESERVATION = "sidecar_reservation"  # ... or its reservation
    SIDECAR_FOOTPRINT = "sidecar_footprint"  # ... else a known footprint or the default (a guess)
    SIDECAR_OVERRIDE = "sidecar_override"  # NODE_HEAP_SIBLING_MIB: the user's figure, wins over all
    TASK_CEILING = "task_ceiling"  # a limit above the init container's own cgroup
    INIT_LIMIT = "init_limit"  # the init container's own cgroup limit
    HOST_MEMORY = "host_memory"  # MemTotal


class Outcome(enum.Enum):
    """What the budget did with a candidate."""

    CHOSEN = "chosen"
    AGREES = "agrees"  # same value as the chosen one from another source
    SUPERSEDED = "superseded"  # a more current source said otherwise
    NOT_BINDING = "not_binding"  # higher than the binding limit
    NOT_A_CEILING = "not_a_ceiling"  # a reservation or another container's limit
    SUBTRACTED = "subtracted"  # a sidecar's share taken off the task limit
    NOT_NEEDED = "not_needed"  # a bound that is higher than a real limit
    NOT_TRUSTED = "not_trusted"  # MemTotal alone: the machine's memory, not the task's limit
    UNLIMITED = "unlimited"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One number a source reported, with where exactly it was read.

    `value_bytes` is None when the source says "no limit" (absent, 0, `max`, unlimited).
    """

    kind: Kind
    origin: Origin
    value_bytes: int | None
    where: str
    container: str | None = None


@dataclass(frozen=True, slots=True)
class Judgement:
    """A candidate and what the budget decided about it, in one line."""

    candidate: Candidate
    outcome: Outcome
    reason: str
