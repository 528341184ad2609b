"""The budget: every memory figure the sources reported, reconciled into the Node container's memory.

Rules (AWS: task_definition_parameters `memory`/`memoryReservation`; research in docs/how-it-decides):
- the Node container's own hard limit, if it has one;
- else (and also as a second bound) the task limit minus what the other long-running containers
  may hold: NODE_HEAP_SIBLING_MIB if given, else their hard limit, else their reservation, else a
  guess (sizing/siblings.py: a known image's footprint, else NODE_HEAP_SIBLING_DEFAULT_MIB); the
  init container exits before Node starts;
- a limit above the init container's own cgroup (the task cgroup) is a ceiling too;
- a reservation (soft limit) is never a ceiling: Docker lets a container grow past it;
- MemTotal bounds everything (a machine cannot give more than it has), but is never a limit by
  itself: without a limit from ECS or a cgroup there is no trustworthy budget (no heap flag).
Where sources disagree about the same figure, the most current wins: TMDS reports the running
task, DescribeTasks includes run-time overrides, the task definition has neither.
Pure: candidates in, a Budget with a verdict for every candidate out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sidecar.sizing.candidates import Candidate, Kind, Notice, Origin, Outcome, Verdict
from sidecar.sizing.siblings import Rule, SiblingEstimate
from sidecar.sizing.task import ContainerFacts
from sidecar.sources.cgroup import CgroupMemory
from sidecar.sources.ecs_api import ApiResult, ContainerSpec
from sidecar.sources.metadata import TaskMetadata
from sidecar.units import MIB, mib

PRECEDENCE = (Origin.TMDS, Origin.DESCRIBE_TASKS, Origin.DESCRIBE_TASK_DEFINITION)
_WHY_LATER_LOSES = {
    Origin.DESCRIBE_TASKS: "DescribeTasks answered first and includes run-time overrides",
    Origin.TMDS: "TMDS reports the running task",
}

Judge = Callable[[Candidate, Outcome, str], None]
_ESTIMATE_KINDS = {
    Rule.OVERRIDE: (Kind.SIDECAR_OVERRIDE, Origin.SETTING),
    Rule.CATALOGUE: (Kind.SIDECAR_FOOTPRINT, Origin.CATALOGUE),
    Rule.DEFAULT: (Kind.SIDECAR_FOOTPRINT, Origin.SETTING),
}
_SIDECAR_KINDS = (Kind.SIDECAR_OVERRIDE, Kind.SIDECAR_LIMIT, Kind.SIDECAR_RESERVATION, Kind.SIDECAR_FOOTPRINT)
COUNTED_AS = {
    Kind.SIDECAR_OVERRIDE: "the figure NODE_HEAP_SIBLING_MIB gives",
    Kind.SIDECAR_LIMIT: "its hard limit",
    Kind.SIDECAR_RESERVATION: "its reservation (no hard limit)",
    Kind.SIDECAR_FOOTPRINT: "a guess (no hard limit or reservation)",
}


@dataclass(frozen=True, slots=True)
class Budget:
    memory_bytes: int | None  # the Node container's effective memory; None: no limit found
    chosen: Verdict | None  # the candidate that bound it
    arithmetic: str  # how memory_bytes was reached, in one line
    verdicts: tuple[Verdict, ...]  # every candidate, with what happened to it and why
    warnings: tuple[Notice, ...]
    container_limit_bytes: int | None  # the Node container's own hard limit (what Node sees itself)
    sidecars: tuple[Verdict, ...] = ()  # per container beside Node, the candidate it is counted for


def collect_candidates(
    *,
    target: str | None,
    others: Sequence[ContainerFacts],
    target_facts: ContainerFacts | None,
    metadata: TaskMetadata | None,
    api: ApiResult | None,
    cgroup: CgroupMemory | None,
    mem_total_bytes: int | None,
    mem_total_where: str = "/proc/meminfo MemTotal",
    estimates: Sequence[SiblingEstimate] = (),
) -> list[Candidate]:
    """Turn what the sources read into candidates, each with the exact field it came from.

    `estimates` (sizing/siblings.py) are the figures for the containers beside Node that are not
    their own memory settings: the user's override, and the guess used when they set none.
    """
    found: list[Candidate] = []
    if target_facts is not None:
        found += _container_candidates(target_facts, Kind.CONTAINER_LIMIT, Kind.CONTAINER_RESERVATION)
    for facts in others:
        found += _container_candidates(facts, Kind.SIDECAR_LIMIT, Kind.SIDECAR_RESERVATION)
        for estimate in (e for e in estimates if e.container == facts.name):
            kind, origin = _ESTIMATE_KINDS[estimate.rule]
            found.append(Candidate(kind, origin, mib(estimate.mib), estimate.where, facts.name))
    if metadata is not None:
        found.append(
            Candidate(Kind.TASK_LIMIT, Origin.TMDS, _mib(metadata.memory_mib), f"{metadata.url} Limits.Memory")
        )
    if api is not None and api.task is not None:
        found.append(
            Candidate(
                Kind.TASK_LIMIT,
                Origin.DESCRIBE_TASKS,
                _mib(api.task.memory_mib),
                "DescribeTasks tasks[0].memory",
            )
        )
    if api is not None and api.task_definition is not None:
        found.append(
            Candidate(
                Kind.TASK_LIMIT,
                Origin.DESCRIBE_TASK_DEFINITION,
                _mib(api.task_definition.memory_mib),
                "DescribeTaskDefinition taskDefinition.memory",
            )
        )
    if cgroup is not None:
        origin = Origin.CGROUP_V1 if cgroup.version == 1 else Origin.CGROUP_V2
        found.append(Candidate(Kind.INIT_LIMIT, origin, cgroup.own_limit_bytes, cgroup.own_where))
        found.append(Candidate(Kind.TASK_CEILING, origin, cgroup.ceiling_bytes, cgroup.ceiling_where))
    if mem_total_bytes is not None:
        found.append(Candidate(Kind.HOST_MEMORY, Origin.MEMINFO, mem_total_bytes, mem_total_where))
    return found


def _container_candidates(facts: ContainerFacts, hard: Kind, soft: Kind) -> list[Candidate]:
    name = facts.name
    found: list[Candidate] = []
    if facts.tmds is not None:
        found.append(
            Candidate(
                hard,
                Origin.TMDS,
                _mib(facts.tmds.memory_mib),
                f"TMDS Containers[Name={name}].Limits.Memory",
                name,
            )
        )
    for origin, spec, label in (
        (Origin.DESCRIBE_TASKS, facts.described, "DescribeTasks containers"),
        (Origin.DESCRIBE_TASK_DEFINITION, facts.defined, "DescribeTaskDefinition containerDefinitions"),
    ):
        if isinstance(spec, ContainerSpec):
            found.append(Candidate(hard, origin, _mib(spec.memory_mib), f"{label}[name={name}].memory", name))
            found.append(
                Candidate(soft, origin, _mib(spec.reservation_mib), f"{label}[name={name}].memoryReservation", name)
            )
    return found


def explicit_budget(memory_mib: int, variable: str = "NODE_HEAP_MEMORY_MIB") -> Budget:
    """The budget when the user gave the memory: nothing is detected."""
    candidate = Candidate(Kind.EXPLICIT, Origin.SETTING, mib(memory_mib), variable)
    verdict = Verdict(candidate, Outcome.CHOSEN, f"given by {variable}; detection skipped")
    return Budget(mib(memory_mib), verdict, f"{variable} = {memory_mib} MiB", (verdict,), (), None)


def choose_budget(candidates: Iterable[Candidate]) -> Budget:
    """Reconcile the candidates into the Node container's memory, with a verdict for each."""
    candidates = list(candidates)
    verdicts: dict[int, Verdict] = {}
    warnings: list[Notice] = []

    def judge(candidate: Candidate, outcome: Outcome, reason: str) -> None:
        verdicts[id(candidate)] = Verdict(candidate, outcome, reason)

    for c in candidates:
        if c.kind is Kind.CONTAINER_RESERVATION:
            judge(c, Outcome.NOT_A_CEILING, "a soft limit: the container may use more when the host has it")
        elif c.kind is Kind.INIT_LIMIT:
            judge(c, Outcome.NOT_A_CEILING, "the init container's own limit, not the Node container's")

    container = _first_set(candidates, Kind.CONTAINER_LIMIT, judge, "no hard limit on the Node container")
    task = _first_set(candidates, Kind.TASK_LIMIT, judge, "no task-level memory")

    # What the other long-running containers may hold: the user's figure, else hard limit, else
    # reservation, else a guess.
    sidecar_terms: list[tuple[str, int, Candidate]] = []
    names = list(dict.fromkeys(c.container for c in candidates if c.kind in _SIDECAR_KINDS and c.container))
    for name in names:
        own = [c for c in candidates if c.container == name]
        override = _first_set(own, Kind.SIDECAR_OVERRIDE, judge, "no figure given")
        hard = _first_set(own, Kind.SIDECAR_LIMIT, judge, "no hard limit")
        soft = _first_set(own, Kind.SIDECAR_RESERVATION, judge, "no reservation")
        guess = _first_set(own, Kind.SIDECAR_FOOTPRINT, judge, "no guess")
        share = override or hard or soft or guess
        if share is None:
            warnings.append(
                Notice(
                    "sidecar_unbounded",
                    f"container {name!r} has neither a hard limit nor a reservation: it can take memory "
                    "the heap plan counts on; give it a memory limit",
                )
            )
            continue
        assert share.value_bytes is not None
        sidecar_terms.append((name, share.value_bytes, share))
        if override is not None and hard is not None:
            judge(hard, Outcome.SUPERSEDED, f"NODE_HEAP_SIBLING_MIB gives {name} {_m(override.value_bytes)}")
        if soft is not None and share is not soft:
            judge(soft, Outcome.NOT_A_CEILING, f"{name} is counted for {COUNTED_AS[share.kind]} instead")
        if guess is not None and share is not guess:
            judge(guess, Outcome.NOT_NEEDED, f"a guess; {name} is counted for {COUNTED_AS[share.kind]} instead")

    options: list[tuple[int, Candidate, str]] = []
    if container is not None:
        assert container.value_bytes is not None
        options.append((container.value_bytes, container, f"container limit {_m(container.value_bytes)}"))
    if task is not None:
        assert task.value_bytes is not None
        available = task.value_bytes - sum(term for _, term, _ in sidecar_terms)
        text = f"task {_m(task.value_bytes)}" + _minus(sidecar_terms)
        if sidecar_terms:
            text += f" = {_m(available)}"
        options.append((available, task, text))
    for c in candidates:
        if c.kind is Kind.TASK_CEILING:
            if c.value_bytes is None:
                judge(c, Outcome.UNLIMITED, "no limit visible above the init container's cgroup")
            else:
                options.append((c.value_bytes, c, f"task cgroup ceiling {_m(c.value_bytes)}"))

    hosts = [c for c in candidates if c.kind is Kind.HOST_MEMORY and c.value_bytes is not None]
    host = hosts[0] if hosts else None
    if not options:
        # MemTotal is the machine's memory (on Fargate the microVM's: a 4096 MiB task was seen with
        # 7806 MiB), not a limit of this task: a heap sized from it is the OOM kill this tool prevents.
        for _, _, share in sidecar_terms:
            judge(
                share,
                Outcome.NOT_A_CEILING,
                f"runs beside Node; no task limit is shared with it; counted: {COUNTED_AS[share.kind]}",
            )
        arithmetic = "no limit found"
        if host is not None:
            assert host.value_bytes is not None
            judge(host, Outcome.NOT_TRUSTED, "the machine's memory, not a limit of the task or container")
            arithmetic = f"no limit from ECS or cgroups (MemTotal {_m(host.value_bytes)} is the machine's)"
            warnings.append(
                Notice(
                    "only_host_memory",
                    f"no limit from ECS or cgroups, only the machine's MemTotal {_m(host.value_bytes)}, which is "
                    "not a limit of the task (on Fargate it is the microVM's): no heap flag is sized from it; "
                    "give the task or the Node container a memory limit",
                )
            )
        return Budget(None, None, arithmetic, _ordered(candidates, verdicts), tuple(warnings), None)
    if host is not None:
        assert host.value_bytes is not None
        lowest = min(value for value, _, _ in options)
        if host.value_bytes < lowest:
            # The machine has less memory than ECS promised (a microVM's kernel keeps some back).
            options.append((host.value_bytes, host, f"MemTotal {_m(host.value_bytes)}"))
            warnings.append(
                Notice(
                    "host_memory_below_limit",
                    f"MemTotal {_m(host.value_bytes)} is below every ECS/cgroup limit: the machine has "
                    "less memory than the task asked for",
                )
            )
        else:
            judge(host, Outcome.NOT_NEEDED, f"the machine's memory; {_m(lowest)} from ECS/cgroups is lower")

    for _, _, share in sidecar_terms:
        counted = COUNTED_AS[share.kind]
        if task is not None:
            judge(
                share,
                Outcome.SUBTRACTED,
                f"runs beside Node, so its share of the task is not Node's; counted: {counted}",
            )
        else:
            judge(
                share, Outcome.NOT_A_CEILING, f"runs beside Node; no task limit is shared with it; counted: {counted}"
            )

    value, winner, _ = min(options, key=lambda option: option[0])
    arithmetic = options[0][2]
    if len(options) > 1:
        arithmetic = "min(" + ", ".join(text for _, _, text in options) + f") = {_m(value)}"
    for other_value, candidate, _ in options:
        if candidate is winner:
            continue
        if other_value == value:
            judge(candidate, Outcome.AGREES, f"same bound as {winner.origin.value}")
        else:
            judge(candidate, Outcome.NOT_BINDING, f"{_m(other_value)} is higher than {_m(value)}")
    reason = {
        Kind.CONTAINER_LIMIT: "the Node container's own hard limit",
        Kind.TASK_LIMIT: "the task limit, less what the containers beside Node may hold",
        Kind.TASK_CEILING: "a limit on a cgroup above the init container (the task's)",
        Kind.HOST_MEMORY: "MemTotal: the machine's memory",
    }[winner.kind]
    judge(winner, Outcome.CHOSEN, reason)
    if value <= 0:
        warnings.append(Notice("sidecars_take_everything", f"the containers beside Node take all of {arithmetic}"))
    return Budget(
        value,
        verdicts[id(winner)],
        arithmetic,
        _ordered(candidates, verdicts),
        tuple(warnings),
        container.value_bytes if container is not None else None,
        tuple(verdicts[id(share)] for _, _, share in sidecar_terms),
    )


def _first_set(candidates: Sequence[Candidate], kind: Kind, judge: Judge, absent: str) -> Candidate | None:
    """The most current candidate of `kind` that has a value; judge the rest of that kind."""
    of_kind = sorted((c for c in candidates if c.kind is kind), key=_precedence)
    chosen = next((c for c in of_kind if c.value_bytes is not None), None)
    for c in of_kind:
        if c is chosen:
            continue
        if c.value_bytes is None:
            judge(c, Outcome.UNLIMITED, absent)
        elif chosen is not None and c.value_bytes == chosen.value_bytes:
            judge(c, Outcome.AGREES, f"same as {chosen.origin.value}")
        else:
            assert chosen is not None
            why = _WHY_LATER_LOSES.get(chosen.origin, "a more current source")
            judge(c, Outcome.SUPERSEDED, f"{_m(c.value_bytes)} differs from {_m(chosen.value_bytes)}: {why}")
    return chosen


def _precedence(candidate: Candidate) -> int:
    """Rank by source currency; a setting's or the catalogue's figure has one candidate of its kind."""
    return PRECEDENCE.index(candidate.origin) if candidate.origin in PRECEDENCE else len(PRECEDENCE)


def _ordered(candidates: Sequence[Candidate], verdicts: dict[int, Verdict]) -> tuple[Verdict, ...]:
    return tuple(verdicts[id(c)] for c in candidates if id(c) in verdicts)


def _minus(sidecar_terms: Sequence[tuple[str, int, Candidate]]) -> str:
    """` - log_router 100 MiB (guess) - envoy 64 MiB`."""
    return "".join(
        f" - {name} {_m(term)}" + (" (guess)" if share.kind is Kind.SIDECAR_FOOTPRINT else "")
        for name, term, share in sidecar_terms
    )


def _mib(value_mib: int | None) -> int | None:
    return None if value_mib is None else mib(value_mib)


def _m(value_bytes: int | None) -> str:
    if value_bytes is None:
        return "unlimited"
    if value_bytes % MIB == 0:
        return f"{value_bytes // MIB} MiB"
    return f"{value_bytes / MIB:.1f} MiB"
