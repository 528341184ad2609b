"""The one adapter between the fleet commands and the init job's rules: what the job would do with a
task definition.

No task metadata, cgroup or MemTotal exists for a definition, so the job's own pure decision
(`sidecar.sizing.decide`) is asked with the definition alone (`Observed(definition=...)`), and the
init container's settings are read by the job's own `load_settings`. Which containers the job sizes,
which file it writes for each, when it exits 3 (an unknown or ambiguous target) or 2 (bad settings):
audit and adopt learn all of it here, so they cannot disagree with the job. Pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from sidecar.errors import SettingsError, TargetError
from sidecar.settings import Settings, load_settings
from sidecar.sizing.budget import Budget
from sidecar.sizing.containers import list_containers
from sidecar.sizing.decide import Decision, Observed, decide, decide_all, node_version_for
from sidecar.sizing.node_profile import NodeProfile, profile_for
from sidecar.sizing.nodeopts import HeapPins
from sidecar.sizing.plan import HeapPlan
from sidecar.sources.ecs_api import ContainerSpec, TaskDefinition, parse_task_definition
from sidecar.units import floor_mib


@dataclass(frozen=True, slots=True)
class JobView:
    """What an init container of this sidecar would do in this task: whom it sizes, which files it writes,
    or why it would fail."""

    init: str  # the init container's name
    settings: Settings | None  # None: the job would refuse them (exit 2)
    settings_problem: str | None
    target_problem: str | None  # why the job would exit 3 (an unknown or ambiguous target), else None
    env_files: Mapping[str, str]  # the Node containers it sizes, as the job resolves them -> the file it writes

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self.env_files)


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
    decision: Decision

    @property
    def memory_mib(self) -> int | None:
        return None if self.budget.memory_bytes is None else floor_mib(self.budget.memory_bytes)


def parse_definition(raw: Mapping[str, object]) -> TaskDefinition:
    """A task definition (the `taskDefinition` of DescribeTaskDefinition) as the init job reads it.

    Raises SourceError for a malformed one.
    """
    return parse_task_definition({"taskDefinition": dict(raw)})


def job_view(definition: TaskDefinition, init: str, environment: Mapping[str, str]) -> JobView:
    """What the init job running as container `init` with `environment` would do in this task."""
    settings, problem = read_settings(environment)
    if settings is None:
        return JobView(init, None, problem, None, {})
    observed = Observed(definition=definition, self_name=init)
    try:
        decisions = decide_all(observed, settings)
    except TargetError as exc:
        return JobView(init, settings, None, str(exc), {})
    return JobView(init, settings, None, None, {d.target: str(d.env_file) for d in decisions if d.target is not None})


def size_container(
    definition: TaskDefinition,
    container: str,
    *,
    view: JobView | None = None,
    settings: Settings | None = None,
    node_version: str | None = None,
) -> Sizing:
    """What the init job would plan for `container`: as `view`'s init container does when it sizes it (its
    own settings, several Node containers split as the job splits them), else with its settings, or
    `settings` (default: the defaults), as if it were wired. `node_version` (the image's, which adopt passes
    on) stands in for NODE_HEAP_NODE_VERSION only in that hypothetical plan, never in the job's own."""
    facts = list_containers(None, None, definition)[container]
    assert facts.defined is not None
    given = view.settings if view is not None else None
    effective = given or settings or load_settings({})
    sized_by_view = view is not None and container in view.targets
    if not sized_by_view and effective.node_version is None and node_version is not None:
        effective = dataclasses.replace(effective, node_version=node_version)
    observed = Observed(definition=definition, self_name=view.init if view is not None else None)
    decision: Decision | None = None
    if sized_by_view and view is not None and len(view.targets) > 1:
        decision = next((d for d in decide_all(observed, effective) if d.target == container), None)
    if decision is None:
        decision = decide(observed, effective, target=container, env_file=PurePosixPath(str(effective.env_file)))
    version, _ = node_version_for(effective, facts)
    return Sizing(
        container=container,
        spec=facts.defined,
        budget=decision.budget,
        plan=decision.plan,
        pins=decision.pins,
        profile=profile_for(version),
        node_version=version,
        settings=given,
        settings_problem=view.settings_problem if view is not None else None,
        decision=decision,
    )


def read_settings(environment: Mapping[str, str]) -> tuple[Settings | None, str | None]:
    """The init job's settings from a container's environment, or why it would refuse them (exit 2)."""
    try:
        return load_settings(environment), None
    except SettingsError as exc:
        return None, str(exc)
