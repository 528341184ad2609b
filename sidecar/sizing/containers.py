"""The task's containers as all sources together describe them: which one is this sidecar's init
container, which one is Node, and which run beside Node. The init job and the fleet commands (audit,
adopt) both decide with these functions, so they cannot disagree.

TMDS lists the containers the agent knows (on EC2 not yet the Node container: it is created only
after the init container exits); DescribeTasks and DescribeTaskDefinition list every container of
the task definition. TMDS and DescribeTasks also list containers ECS adds to the task itself (the
Service Connect proxy, `Type` NORMAL), which the task definition does not. Pure: the sources'
results come in, names and facts come out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sidecar.errors import TargetError
from sidecar.imageref import parse_image
from sidecar.sizing.footprints import find_footprint, is_service_connect_proxy
from sidecar.sources.ecs_api import ContainerSpec, TaskDefinition, TaskDescription
from sidecar.sources.metadata import ContainerMetadata, TaskMetadata

NORMAL = "NORMAL"
EXITS_BEFORE = frozenset({"SUCCESS", "COMPLETE"})  # dependsOn conditions met only by exiting
SIDECAR_IMAGE_NAME = "node-heap-sidecar"  # this project's image, under any registry and tag


@dataclass(frozen=True, slots=True)
class ContainerFacts:
    """One container, as each source reported it (None where a source did not list it)."""

    name: str
    tmds: ContainerMetadata | None = None
    described: ContainerSpec | None = None  # DescribeTasks (with run-time overrides)
    defined: ContainerSpec | None = None  # DescribeTaskDefinition
    added_by_ecs: bool = False  # not in the task definition: ECS put it there (the Service Connect proxy)

    @property
    def image(self) -> str | None:
        for source in (self.tmds, self.described, self.defined):
            if source is not None and source.image:
                return source.image
        return None

    @property
    def firelens_type(self) -> str | None:
        """`fluentbit` or `fluentd` for a FireLens log router (only the task definition says so)."""
        return self.defined.firelens_type if self.defined is not None else None

    @property
    def runs_sidecar(self) -> bool:
        """Whether it runs this sidecar: its image, or NODE_HEAP_* settings in its environment."""
        reference = parse_image(self.image)
        return (reference is not None and reference.name == SIDECAR_IMAGE_NAME) or bool(
            self.defined is not None and self.defined.heap_settings
        )

    @property
    def node_options(self) -> str | None:
        """NODE_OPTIONS from its environment: a run-time override wins over the task definition."""
        for spec in (self.described, self.defined):
            if spec is not None and spec.node_options is not None:
                return spec.node_options
        return None


def list_containers(
    metadata: TaskMetadata | None, task: TaskDescription | None, definition: TaskDefinition | None
) -> dict[str, ContainerFacts]:
    """Every container any source listed, by name, in a stable order; those ECS added are marked."""
    facts: dict[str, dict[str, object]] = {}
    if metadata is not None:
        for item in metadata.containers:
            if item.type in (None, NORMAL):  # agent-internal containers are not ours
                facts.setdefault(item.name, {})["tmds"] = item
    if task is not None:
        for spec in task.containers:
            facts.setdefault(spec.name, {})["described"] = spec
    if definition is not None:
        for spec in definition.containers:
            facts.setdefault(spec.name, {})["defined"] = spec
    definition_known = definition is not None
    containers: dict[str, ContainerFacts] = {}
    for name, parts in facts.items():
        found = ContainerFacts(name, **parts)  # type: ignore[arg-type]
        added = (definition_known and found.defined is None) or is_service_connect_proxy(name, found.image)
        containers[name] = dataclasses.replace(found, added_by_ecs=True) if added else found
    return containers


def choose_target(
    containers: dict[str, ContainerFacts],
    self_name: str | None,
    setting: str | None,
    *,
    definition_known: bool,
    launch_type: str | None = None,
) -> tuple[str | None, str]:
    """The Node container's name (None when it cannot be known) and how it was chosen.

    Raises TargetError when the choice is ambiguous, when the setting names the init container
    itself, or when the task's listing is complete (the task definition was read, or a Fargate task's
    metadata) and has no container of the configured name. Without the task definition, only a
    Fargate task's listing is complete enough to guess from: on EC2 the Node container is not listed
    before it is created, so "the only other container" may well be a sidecar.
    """
    # A container ECS added (the Service Connect proxy) is never the Node container.
    others = [name for name, item in containers.items() if name != self_name and not item.added_by_ecs]
    if setting is not None and setting == self_name:
        raise TargetError(
            f"NODE_HEAP_TARGET={setting!r} names this init container: set it to the Node container's name"
        )
    complete = definition_known or launch_type == "FARGATE"
    if setting is not None:
        if setting in containers:
            return setting, "NODE_HEAP_TARGET"
        if complete:
            listing = "the task definition" if definition_known else "the task's metadata (Fargate)"
            raise TargetError(
                f"NODE_HEAP_TARGET={setting!r}: no container of that name in {listing} "
                f"(its containers beside this init container: {', '.join(others) or 'none'})"
            )
        return setting, "NODE_HEAP_TARGET (not listed yet: EC2 creates it after the init container exits)"
    if not complete:
        return None, (
            "not guessed: without the task definition, an EC2 task does not list the Node container before "
            "it is created (set NODE_HEAP_TARGET, or allow ecs:DescribeTaskDefinition)"
        )
    # Nor is a container running a well-known sidecar image (a log router, an agent, a proxy).
    sidecars = [name for name in others if find_footprint(name, containers[name].image, containers[name].firelens_type)]
    others = [name for name in others if name not in sidecars]
    beside = f" (beside known sidecars: {', '.join(sorted(sidecars))})" if sidecars else ""
    if len(others) == 1:
        return others[0], f"the only other container of the task{beside}"
    if len(others) > 1:
        raise TargetError(
            f"NODE_HEAP_TARGET is unset and the task has {len(others)} other containers "
            f"({', '.join(sorted(others))}): set it to the Node container's name"
        )
    return None, f"no other container is listed{beside} (set NODE_HEAP_TARGET, or allow the ECS API)"


def long_running_others(
    containers: dict[str, ContainerFacts], self_name: str | None, target: str | None
) -> tuple[list[ContainerFacts], list[tuple[str, str]]]:
    """Containers that run beside Node, and (name, why) for those that do not.

    The init container itself and any container the Node container waits on with SUCCESS or
    COMPLETE have exited before Node starts, so they take none of its memory.
    """
    target_facts = containers.get(target) if target else None
    finished_before: dict[str, str] = {}
    if target_facts is not None and target_facts.defined is not None:
        for name, condition in target_facts.defined.depends_on:
            if condition.upper() in EXITS_BEFORE:
                finished_before[name] = f"{target} waits for it to exit ({condition.upper()})"
    running: list[ContainerFacts] = []
    skipped: list[tuple[str, str]] = []
    for name, facts in containers.items():
        if name == target:
            continue
        if name == self_name:
            skipped.append((name, "this init container; it exits before Node starts"))
        elif name in finished_before:
            skipped.append((name, finished_before[name]))
        else:
            running.append(facts)
    return running, skipped


def sidecar_containers(containers: dict[str, ContainerFacts]) -> list[str]:
    """The containers that run this sidecar (its image, or NODE_HEAP_* settings), in task order."""
    return [name for name, facts in containers.items() if facts.runs_sidecar]


def find_init_container(
    containers: dict[str, ContainerFacts], metadata_id: str | None = None
) -> tuple[str, str] | None:
    """This sidecar's init container, and how it was found, when `${uri}` did not say it.

    In order: on Fargate the id at the end of ECS_CONTAINER_METADATA_URI_V4 is the container's
    DockerId; else the one container that runs this sidecar (its image or NODE_HEAP_* settings);
    else the one non-essential container the others wait on to exit (SUCCESS or COMPLETE), as a task
    definition wires an init container. Audit and adopt find it the same way.
    """
    if metadata_id:
        by_id = [
            name for name, facts in containers.items() if facts.tmds is not None and facts.tmds.docker_id == metadata_id
        ]
        if len(by_id) == 1:
            return by_id[0], "its DockerId is the id in ECS_CONTAINER_METADATA_URI_V4"
    running_sidecar = sidecar_containers(containers)
    if len(running_sidecar) == 1:
        return running_sidecar[0], "the container that runs node-heap-sidecar (its image or NODE_HEAP_* settings)"
    waited_on = {
        name
        for facts in containers.values()
        if facts.defined is not None
        for name, condition in facts.defined.depends_on
        if condition.upper() in EXITS_BEFORE
    }
    found = sorted(
        name
        for name in waited_on
        if name in containers
        and (spec := containers[name].defined) is not None
        and spec.essential is False
        and (not running_sidecar or name in running_sidecar)
    )
    if len(found) == 1:
        return found[0], "the non-essential container the others wait on to exit"
    return None


def hard_limit_mib(facts: ContainerFacts | None) -> int | None:
    """A container's own hard limit in MiB, from the most current source that gives one."""
    if facts is None:
        return None
    figures = [facts.tmds.memory_mib if facts.tmds else None]
    figures += [spec.memory_mib for spec in (facts.described, facts.defined) if spec is not None]
    return next((figure for figure in figures if figure), None)
