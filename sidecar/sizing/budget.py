"""The budget: every memory figure the sources reported, reconciled into the Node container's memory.

Rules (AWS: task_definition_parameters `memory`/`memoryReservation`; docs/design.md):
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
task, DescribeTasks includes run-time overrides, the task definition has neither. No figure is ever
negative: containers beside Node counted at more than the task leave it 0 MiB, and say so.

Pure: candidates in, a Budget out, with exactly one judgement for every candidate (`_Ledger`).
The steps, in `choose_budget`'s order: what is never a ceiling; the Node container's and the task's
limits; what each container beside Node is counted for; the bounds; MemTotal; the binding bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sidecar.notices import Notice, Severity
from sidecar.sizing.candidates import Candidate, Judgement, Kind, Origin, Outcome
from sidecar.sizing.containers import ContainerFacts
from sidecar.sizing.siblings import Rule, SiblingEstimate
from sidecar.sources.cgroup import CgroupMemory
from sidecar.sources.ecs_api import ContainerSpec, TaskDefinition, TaskDescription
from sidecar.sources.metadata import TaskMetadata
from sidecar.text import size_text
from sidecar.units import mib

PRECEDENCE = (Origin.TMDS, Origin.DESCRIBE_TASKS, Origin.DESCRIBE_TASK_DEFINITION)
_WHY_LATER_LOSES = {
    Origin.DESCRIBE_TASKS: "DescribeTasks answered first and includes run-time overrides",
    Origin.TMDS: "TMDS reports the running task",
}
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
_WHY_CHOSEN = {
    Kind.CONTAINER_LIMIT: "the Node container's own hard limit",
    Kind.TASK_LIMIT: "the task limit, less what the containers beside Node may hold",
    Kind.TASK_CEILING: "a limit on a cgroup above the init container (the task's)",
    Kind.HOST_MEMORY: "MemTotal: the machine's memory",
}


@dataclass(frozen=True, slots=True)
class Budget:
    memory_bytes: int | None  # the Node container's effective memory (never negative); None: no limit found
    chosen: Judgement | None  # the candidate that bound it
    arithmetic: str  # how memory_bytes was reached, in one line
    judgements: tuple[Judgement, ...]  # every candidate, with what happened to it and why
    warnings: tuple[Notice, ...]
    container_limit_bytes: int | None  # the Node container's own hard limit (what Node sees itself)
    sidecars: tuple[Judgement, ...] = ()  # per container beside Node, the candidate it is counted for


def collect_candidates(
    *,
    target_facts: ContainerFacts | None,
    others: Sequence[ContainerFacts],
    metadata: TaskMetadata | None,
    task: TaskDescription | None,
    definition: TaskDefinition | None,
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
        where = f"{metadata.url} Limits.Memory"
        found.append(Candidate(Kind.TASK_LIMIT, Origin.TMDS, _bytes(metadata.memory_mib), where))
    if task is not None:
        where = "DescribeTasks tasks[0].memory"
        found.append(Candidate(Kind.TASK_LIMIT, Origin.DESCRIBE_TASKS, _bytes(task.memory_mib), where))
    if definition is not None:
        where = "DescribeTaskDefinition taskDefinition.memory"
        found.append(Candidate(Kind.TASK_LIMIT, Origin.DESCRIBE_TASK_DEFINITION, _bytes(definition.memory_mib), where))
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
        where = f"TMDS Containers[Name={name}].Limits.Memory"
        found.append(Candidate(hard, Origin.TMDS, _bytes(facts.tmds.memory_mib), where, name))
    for origin, spec, label in (
        (Origin.DESCRIBE_TASKS, facts.described, "DescribeTasks containers"),
        (Origin.DESCRIBE_TASK_DEFINITION, facts.defined, "DescribeTaskDefinition containerDefinitions"),
    ):
        if isinstance(spec, ContainerSpec):
            found.append(Candidate(hard, origin, _bytes(spec.memory_mib), f"{label}[name={name}].memory", name))
            where = f"{label}[name={name}].memoryReservation"
            found.append(Candidate(soft, origin, _bytes(spec.reservation_mib), where, name))
    return found


def explicit_budget(memory_mib: int, variable: str = "NODE_HEAP_MEMORY_MIB") -> Budget:
    """The budget when the user gave the memory: nothing is detected."""
    candidate = Candidate(Kind.EXPLICIT, Origin.SETTING, mib(memory_mib), variable)
    judgement = Judgement(candidate, Outcome.CHOSEN, f"given by {variable}; detection skipped")
    return Budget(
        memory_bytes=mib(memory_mib),
        chosen=judgement,
        arithmetic=f"{variable} = {memory_mib} MiB",
        judgements=(judgement,),
        warnings=(),
        container_limit_bytes=None,
    )


class _Ledger:
    """One judgement per candidate: judging one twice, or leaving one unjudged, is a bug and raises."""

    def __init__(self, candidates: Sequence[Candidate]) -> None:
        self._candidates = candidates
        self._judged: dict[int, Judgement] = {}
        self._index = {id(candidate): index for index, candidate in enumerate(candidates)}

    def judge(self, candidate: Candidate, outcome: Outcome, reason: str) -> Judgement:
        index = self._index[id(candidate)]
        if index in self._judged:
            raise AssertionError(f"candidate judged twice: {candidate} ({self._judged[index].outcome}, {outcome})")
        self._judged[index] = Judgement(candidate, outcome, reason)
        return self._judged[index]

    def all(self) -> tuple[Judgement, ...]:
        missing = [c for i, c in enumerate(self._candidates) if i not in self._judged]
        if missing:
            raise AssertionError(f"candidates without a judgement: {missing}")
        return tuple(self._judged[i] for i in range(len(self._candidates)))


@dataclass(frozen=True, slots=True)
class _Share:
    """What one container beside Node is counted for."""

    name: str
    bytes: int
    candidate: Candidate


@dataclass(frozen=True, slots=True)
class _Bound:
    """One upper bound on the Node container's memory, and how it reads in the arithmetic."""

    bytes: int
    candidate: Candidate
    text: str


def choose_budget(candidates: Iterable[Candidate]) -> Budget:
    """Reconcile the candidates into the Node container's memory, with one judgement for each."""
    candidates = list(candidates)
    ledger = _Ledger(candidates)
    warnings: list[Notice] = []

    _judge_never_ceilings(candidates, ledger)
    container = _most_current(candidates, Kind.CONTAINER_LIMIT, ledger, "no hard limit on the Node container")
    task = _most_current(candidates, Kind.TASK_LIMIT, ledger, "no task-level memory")
    shares = _count_beside_node(candidates, ledger, warnings)
    bounds = _bounds(candidates, container=container, task=task, shares=shares, ledger=ledger, warnings=warnings)
    host = _most_current(candidates, Kind.HOST_MEMORY, ledger, "MemTotal not read")

    if not bounds:
        return _no_limit(shares, host, ledger, warnings)
    _judge_shares(shares, ledger, task_shared=task is not None)
    if host is not None:
        bounds += _host_bound(host, bounds, ledger, warnings)
    winner = min(bounds, key=lambda bound: bound.bytes)
    arithmetic = bounds[0].text
    if len(bounds) > 1:
        arithmetic = "min(" + ", ".join(bound.text for bound in bounds) + f") = {size_text(winner.bytes)}"
    for bound in bounds:
        if bound is winner:
            continue
        if bound.bytes == winner.bytes:
            ledger.judge(bound.candidate, Outcome.AGREES, f"same bound as {winner.candidate.origin.value}")
        else:
            reason = f"{size_text(bound.bytes)} is higher than {size_text(winner.bytes)}"
            ledger.judge(bound.candidate, Outcome.NOT_BINDING, reason)
    chosen = ledger.judge(winner.candidate, Outcome.CHOSEN, _WHY_CHOSEN[winner.candidate.kind])
    if winner.bytes <= 0 and not any(w.code == "siblings_exceed_task" for w in warnings):
        warnings.append(
            Notice(
                "sidecars_take_everything", f"the containers beside Node take all of {arithmetic}", Severity.CRITICAL
            )
        )
    judgements = ledger.all()
    by_candidate = {id(j.candidate): j for j in judgements}
    return Budget(
        memory_bytes=winner.bytes,
        chosen=chosen,
        arithmetic=arithmetic,
        judgements=judgements,
        warnings=tuple(warnings),
        container_limit_bytes=container.value_bytes if container is not None else None,
        sidecars=tuple(by_candidate[id(share.candidate)] for share in shares),
    )


def _judge_never_ceilings(candidates: Sequence[Candidate], ledger: _Ledger) -> None:
    """A reservation is a soft limit; the init container's own limit is another container's."""
    for c in candidates:
        if c.kind is Kind.CONTAINER_RESERVATION:
            ledger.judge(c, Outcome.NOT_A_CEILING, "a soft limit: the container may use more when the host has it")
        elif c.kind is Kind.INIT_LIMIT:
            ledger.judge(c, Outcome.NOT_A_CEILING, "the init container's own limit, not the Node container's")


def _most_current(candidates: Sequence[Candidate], kind: Kind, ledger: _Ledger, absent: str) -> Candidate | None:
    """The most current candidate of `kind` that has a value (left for a later step to judge); the rest
    of that kind are judged here."""
    of_kind = sorted((c for c in candidates if c.kind is kind), key=_precedence)
    chosen = next((c for c in of_kind if c.value_bytes is not None), None)
    for c in of_kind:
        if c is chosen:
            continue
        if c.value_bytes is None:
            ledger.judge(c, Outcome.UNLIMITED, absent)
        elif chosen is not None and c.value_bytes == chosen.value_bytes:
            ledger.judge(c, Outcome.AGREES, f"same as {chosen.origin.value}")
        else:
            assert chosen is not None  # c has a value, so the first with a value exists
            why = _WHY_LATER_LOSES.get(chosen.origin, "a more current source")
            reason = f"{size_text(c.value_bytes)} differs from {size_text(chosen.value_bytes)}: {why}"
            ledger.judge(c, Outcome.SUPERSEDED, reason)
    return chosen


def _count_beside_node(candidates: Sequence[Candidate], ledger: _Ledger, warnings: list[Notice]) -> list[_Share]:
    """What each long-running container beside Node is counted for: the user's figure, else its hard
    limit, else its reservation, else a guess. The figure it is counted for is judged later."""
    shares: list[_Share] = []
    beside = [c for c in candidates if c.kind in _SIDECAR_KINDS]
    for container in dict.fromkeys(c.container for c in beside):
        own = [c for c in beside if c.container == container]
        name = container or "(unnamed)"
        override = _most_current(own, Kind.SIDECAR_OVERRIDE, ledger, "no figure given")
        hard = _most_current(own, Kind.SIDECAR_LIMIT, ledger, "no hard limit")
        soft = _most_current(own, Kind.SIDECAR_RESERVATION, ledger, "no reservation")
        guess = _most_current(own, Kind.SIDECAR_FOOTPRINT, ledger, "no guess")
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
        assert share.value_bytes is not None  # _most_current only picks a candidate with a value
        shares.append(_Share(name, share.value_bytes, share))
        if override is not None and hard is not None:
            reason = f"NODE_HEAP_SIBLING_MIB gives {name} {size_text(override.value_bytes)}"
            ledger.judge(hard, Outcome.SUPERSEDED, reason)
        counted = f"{name} is counted for {COUNTED_AS[share.kind]} instead"
        if soft is not None and share is not soft:
            ledger.judge(soft, Outcome.NOT_A_CEILING, counted)
        if guess is not None and share is not guess:
            ledger.judge(guess, Outcome.NOT_NEEDED, f"a guess; {counted}")
    return shares


def _bounds(
    candidates: Sequence[Candidate],
    *,
    container: Candidate | None,
    task: Candidate | None,
    shares: Sequence[_Share],
    ledger: _Ledger,
    warnings: list[Notice],
) -> list[_Bound]:
    """Every upper bound: the container's own limit, the task less what runs beside Node, cgroup ceilings."""
    bounds: list[_Bound] = []
    if container is not None:
        assert container.value_bytes is not None
        bounds.append(_Bound(container.value_bytes, container, f"container limit {size_text(container.value_bytes)}"))
    if task is not None:
        assert task.value_bytes is not None
        beside = sum(share.bytes for share in shares)
        available = max(task.value_bytes - beside, 0)
        text = f"task {size_text(task.value_bytes)}" + _minus(shares)
        if shares:
            text += f" = {size_text(available)}"
        if beside > task.value_bytes:
            counted = ", ".join(f"{share.name} {size_text(share.bytes)}" for share in shares)
            warnings.append(
                Notice(
                    "siblings_exceed_task",
                    f"the containers beside Node are counted at {size_text(beside)} ({counted}), more than the "
                    f"task's {size_text(task.value_bytes)}: these figures cannot all be right (ECS refuses such a "
                    "task definition); Node is left 0 MiB of the task",
                    Severity.CRITICAL,
                )
            )
        bounds.append(_Bound(available, task, text))
    for c in candidates:
        if c.kind is not Kind.TASK_CEILING:
            continue
        if c.value_bytes is None:
            ledger.judge(c, Outcome.UNLIMITED, "no limit visible above the init container's cgroup")
        else:
            bounds.append(_Bound(c.value_bytes, c, f"task cgroup ceiling {size_text(c.value_bytes)}"))
    return bounds


def _judge_shares(shares: Sequence[_Share], ledger: _Ledger, *, task_shared: bool) -> None:
    for share in shares:
        counted = COUNTED_AS[share.candidate.kind]
        if task_shared:
            reason = f"runs beside Node, so its share of the task is not Node's; counted: {counted}"
            ledger.judge(share.candidate, Outcome.SUBTRACTED, reason)
        else:
            reason = f"runs beside Node; no task limit is shared with it; counted: {counted}"
            ledger.judge(share.candidate, Outcome.NOT_A_CEILING, reason)


def _host_bound(host: Candidate, bounds: Sequence[_Bound], ledger: _Ledger, warnings: list[Notice]) -> list[_Bound]:
    """MemTotal as a bound only when it is below every ECS/cgroup bound (the machine has less)."""
    assert host.value_bytes is not None
    lowest = min(bound.bytes for bound in bounds)
    if host.value_bytes >= lowest:
        reason = f"the machine's memory; {size_text(lowest)} from ECS/cgroups is lower"
        ledger.judge(host, Outcome.NOT_NEEDED, reason)
        return []
    # The machine has less memory than ECS promised (a microVM's kernel keeps some back).
    warnings.append(
        Notice(
            "host_memory_below_limit",
            f"MemTotal {size_text(host.value_bytes)} is below every ECS/cgroup limit: the machine has "
            "less memory than the task asked for",
        )
    )
    return [_Bound(host.value_bytes, host, f"MemTotal {size_text(host.value_bytes)}")]


def _no_limit(shares: Sequence[_Share], host: Candidate | None, ledger: _Ledger, warnings: list[Notice]) -> Budget:
    """No limit from ECS or a cgroup. MemTotal is the machine's memory (on Fargate the microVM's: a
    4096 MiB task was seen with 7806 MiB), not a limit of this task: a heap sized from it is the OOM
    kill this tool prevents."""
    _judge_shares(shares, ledger, task_shared=False)
    arithmetic = "no limit found"
    if host is not None:
        assert host.value_bytes is not None
        ledger.judge(host, Outcome.NOT_TRUSTED, "the machine's memory, not a limit of the task or container")
        arithmetic = f"no limit from ECS or cgroups (MemTotal {size_text(host.value_bytes)} is the machine memory)"
        warnings.append(
            Notice(
                "only_host_memory",
                f"no limit from ECS or cgroups, only the machine's MemTotal {size_text(host.value_bytes)}, which "
                "is not a limit of the task (on Fargate it is the microVM's): no heap flag is sized from it; "
                "give the task or the Node container a memory limit",
            )
        )
    return Budget(
        memory_bytes=None,
        chosen=None,
        arithmetic=arithmetic,
        judgements=ledger.all(),
        warnings=tuple(warnings),
        container_limit_bytes=None,
    )


def _precedence(candidate: Candidate) -> int:
    """Rank by source currency; a setting's or the catalogue's figure has one candidate of its kind."""
    return PRECEDENCE.index(candidate.origin) if candidate.origin in PRECEDENCE else len(PRECEDENCE)


def _minus(shares: Sequence[_Share]) -> str:
    """` - log_router 100 MiB (guess) - envoy 64 MiB`."""
    return "".join(
        f" - {share.name} {size_text(share.bytes)}"
        + (" (guess)" if share.candidate.kind is Kind.SIDECAR_FOOTPRINT else "")
        for share in shares
    )


def _bytes(value_mib: int | None) -> int | None:
    return None if value_mib is None else mib(value_mib)
