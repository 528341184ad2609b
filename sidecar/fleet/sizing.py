"""The one adapter between the fleet commands and `sidecar.sizing`: what the init job would decide.

Given a task definition as DescribeTaskDefinition returns it, this runs the init job's own decision
(`sidecar.job.decide`) on what the definition alone says, with the init container's settings read
by `load_settings` (job/settings.py). No task metadata, cgroup or MemTotal exists for a definition,
so those candidates are absent. Every fleet command calls the sizing code through here only, so a
change of those signatures is made in one place. Pure.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sidecar.errors import SettingsError, TargetError
from sidecar.fleet.wiring import InitContainer
from sidecar.job.decide import Decision, decide, decide_all, node_version_for
from sidecar.job.gather import Gathered
from sidecar.settings import Settings, load_settings
from sidecar.sizing.budget import Budget
from sidecar.sizing.node_profile import NodeProfile, profile_for
from sidecar.sizing.nodeopts import HeapPins
from sidecar.sizing.plan import HeapPlan
from sidecar.sizing.task import list_containers
from sidecar.sources.ecs_api import ApiResult, ContainerSpec, TaskDefinition, parse_task_definition
from sidecar.units import floor_mib


@dataclass(frozen=True, slots=True)
class Sizing:
    """The init job's budget and plan for one container of a task definition."""

    container: str
    spec: ContainerSpec
    budget: Budget
    plan: HeapPlan | None  # None: no limit found
    pins: HeapPins  # heap flags in the container's own NODE_OPTIONS
    profile: NodeProfile
    node_version: tuple[int, int | None] | None
    settings: Settings | None  # the init container's settings (None: defaults, or invalid)
    settings_problem: str | None  # why the init job would refuse its settings (exit 2)

    @property
    def memory_mib(self) -> int | None:
        return None if self.budget.memory_bytes is None else floor_mib(self.budget.memory_bytes)


def parse_definition(raw: Mapping[str, Any]) -> TaskDefinition:
    """A task definition (the `taskDefinition` of DescribeTaskDefinition) as the init job reads it.

    Raises SourceError for a malformed one.
    """
    return parse_task_definition({"taskDefinition": dict(raw)})


def size_container(definition: TaskDefinition, container: str, *, init: InitContainer | None) -> Sizing:
    """What the init job would plan for `container`, with `init`'s settings when it is wired.

    The init job's own decision (`sidecar.job.decide`), fed what the definition alone says: the
    containers beside Node counted as the job counts them, several Node containers split as it
    splits them, the same plan.
    """
    facts = list_containers(None, ApiResult(None, definition, ()))
    target = facts[container]
    assert target.defined is not None
    settings, problem = _settings(init)
    effective = settings or load_settings({}, check_env_file=False)
    gathered = Gathered(reports=(), api=ApiResult(None, definition, ()), self_name=init.name if init else None)
    names = effective.target or ()
    decisions: tuple[Decision, ...] = ()
    if container in names and len(names) > 1:
        with contextlib.suppress(TargetError):  # a listed name the definition lacks: size this one alone
            decisions = decide_all(gathered, effective)
    decision = next((d for d in decisions if d.target == container), None) or decide(
        gathered, effective, target=container
    )
    version, _ = node_version_for(effective, target)
    return Sizing(
        container,
        target.defined,
        decision.budget,
        decision.plan,
        decision.pins,
        profile_for(version),
        version,
        settings,
        problem,
    )


def check_settings(environment: Mapping[str, str]) -> str | None:
    """Why the init job would refuse these settings (one line), or None when it accepts them."""
    _, problem = _settings_from(environment)
    return problem


def _settings(init: InitContainer | None) -> tuple[Settings | None, str | None]:
    if init is None:
        return None, None
    return _settings_from(init.environment)


def _settings_from(environment: Mapping[str, str]) -> tuple[Settings | None, str | None]:
    relevant = {k: v for k, v in environment.items() if k.startswith("NODE_HEAP_")}
    try:
        return load_settings(relevant, check_env_file=False), None
    except SettingsError as exc:
        return None, str(exc)
