"""The one adapter between the fleet commands and `sidecar.sizing`: what the init job would decide.

Given a task definition as DescribeTaskDefinition returns it, this runs the init job's own code on
what the definition alone says: `parse_task_definition` (sources/ecs_api.py), `list_containers` and
`long_running_others` (sizing/task.py), `collect_candidates` and `choose_budget`
(sizing/budget.py), then `plan_heap` (sizing/plan.py) with the init container's settings read by
`load_settings` (job/settings.py). No task metadata, cgroup or MemTotal exists for a definition,
so those candidates are absent. Every fleet command calls the sizing code through here only, so a
change of those signatures is made in one place. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sidecar.errors import SettingsError
from sidecar.fleet.wiring import InitContainer
from sidecar.job.settings import Settings, load_settings
from sidecar.sizing.budget import Budget, choose_budget, collect_candidates, explicit_budget
from sidecar.sizing.node_profile import NodeProfile, parse_version, profile_for, version_from_image
from sidecar.sizing.nodeopts import HeapPins, find_heap_pins
from sidecar.sizing.plan import HeapPlan, Knobs, plan_heap
from sidecar.sizing.task import list_containers, long_running_others
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
    """What the init job would plan for `container`, with `init`'s settings when it is wired."""
    facts = list_containers(None, ApiResult(None, definition, ()))
    target = facts[container]
    assert target.defined is not None
    settings, problem = _settings(init)
    if settings is not None and settings.memory_mib is not None:
        budget = explicit_budget(settings.memory_mib)
    else:
        others, _ = long_running_others(facts, init.name if init else None, container)
        budget = choose_budget(
            collect_candidates(
                target=container,
                others=others,
                target_facts=target,
                metadata=None,
                api=ApiResult(None, definition, ()),
                cgroup=None,
                mem_total_bytes=None,
            )
        )
    version = (
        parse_version(settings.node_version)
        if settings is not None and settings.node_version
        else version_from_image(target.image)
    )
    profile = profile_for(version)
    pins = find_heap_pins(target.node_options)
    plan = None
    if budget.memory_bytes is not None:
        knobs = (
            Knobs(
                processes=settings.processes,
                reserve_mib=settings.reserve_mib,
                headroom_ratio=settings.headroom_ratio,
                ratio=settings.ratio,
                min_mib=settings.min_mib,
                max_mib=settings.max_mib,
            )
            if settings is not None
            else Knobs()
        )
        limit = budget.container_limit_bytes
        plan = plan_heap(
            max(floor_mib(budget.memory_bytes), 0),
            knobs,
            profile,
            pins,
            percent_base_mib=floor_mib(limit) if limit else None,
        )
    return Sizing(container, target.defined, budget, plan, pins, profile, version, settings, problem)


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
