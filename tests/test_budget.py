"""The budget: candidates from every source reconciled into the Node container's memory."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.notices import Notice, Severity
from sidecar.sizing.budget import choose_budget, collect_candidates, explicit_budget
from sidecar.sizing.candidates import Candidate, Judgement, Kind, Origin, Outcome
from sidecar.sizing.containers import ContainerFacts
from sidecar.sizing.siblings import Rule, SiblingEstimate
from sidecar.sources.cgroup import CgroupMemory
from sidecar.sources.ecs_api import ApiResult, ContainerSpec, TaskDefinition
from sidecar.sources.metadata import ContainerMetadata, TaskMetadata

MIB = 1 << 20
TASK_URL = "http://127.0.0.1/v4/x/task"


def task_limit(mib: int | None, origin: Origin = Origin.TMDS) -> Candidate:
    return Candidate(Kind.TASK_LIMIT, origin, None if mib is None else mib * MIB, f"{origin.value} task memory")


def container(kind: Kind, mib: int | None, origin: Origin, name: str = "app") -> Candidate:
    return Candidate(kind, origin, None if mib is None else mib * MIB, f"{origin.value} {name}", name)


def outcomes(budget_judgements: tuple[Judgement, ...]) -> list[tuple[str, str | None, Outcome]]:
    return [(v.candidate.kind.value, v.candidate.container, v.outcome) for v in budget_judgements]


class TestChooseBudget:
    def test_fargate_task_limit_only(self) -> None:
        """Fargate with only a task size: the Node container gets the task's 512 MiB."""
        app = container(Kind.CONTAINER_LIMIT, None, Origin.TMDS)
        task = task_limit(512)
        budget = choose_budget([app, task])
        assert budget.memory_bytes == 512 * MIB
        assert budget.arithmetic == "task 512 MiB"
        assert budget.judgements == (
            Judgement(app, Outcome.UNLIMITED, "no hard limit on the Node container"),
            Judgement(task, Outcome.CHOSEN, "the task limit, less what the containers beside Node may hold"),
        )
        assert budget.container_limit_bytes is None

    def test_container_limit_below_task(self) -> None:
        """A 256 MiB container limit binds under a 1024 MiB task."""
        app = container(Kind.CONTAINER_LIMIT, 256, Origin.DESCRIBE_TASK_DEFINITION)
        task = task_limit(1024)
        budget = choose_budget([app, task])
        assert budget.memory_bytes == 256 * MIB
        assert budget.arithmetic == "min(container limit 256 MiB, task 1024 MiB) = 256 MiB"
        assert budget.chosen == Judgement(app, Outcome.CHOSEN, "the Node container's own hard limit")
        assert budget.judgements[1] == Judgement(task, Outcome.NOT_BINDING, "1024 MiB is higher than 256 MiB")
        assert budget.container_limit_bytes == 256 * MIB

    def test_sidecars_are_subtracted(self) -> None:
        """envoy's hard limit (256) and log_router's reservation (64) come off a 2048 MiB task."""
        envoy = container(Kind.SIDECAR_LIMIT, 256, Origin.DESCRIBE_TASK_DEFINITION, "envoy")
        envoy_soft = container(Kind.SIDECAR_RESERVATION, 128, Origin.DESCRIBE_TASK_DEFINITION, "envoy")
        router_hard = container(Kind.SIDECAR_LIMIT, None, Origin.DESCRIBE_TASK_DEFINITION, "log_router")
        router = container(Kind.SIDECAR_RESERVATION, 64, Origin.DESCRIBE_TASK_DEFINITION, "log_router")
        budget = choose_budget([envoy, envoy_soft, router_hard, router, task_limit(2048)])
        assert budget.memory_bytes == 1728 * MIB
        assert budget.arithmetic == "task 2048 MiB - envoy 256 MiB - log_router 64 MiB = 1728 MiB"
        assert outcomes(budget.judgements) == [
            ("sidecar_limit", "envoy", Outcome.SUBTRACTED),
            ("sidecar_reservation", "envoy", Outcome.NOT_A_CEILING),
            ("sidecar_limit", "log_router", Outcome.UNLIMITED),
            ("sidecar_reservation", "log_router", Outcome.SUBTRACTED),
            ("task_limit", None, Outcome.CHOSEN),
        ]

    def test_sidecar_without_memory_settings_is_reported(self) -> None:
        """A sidecar with neither limit nor reservation, and no figure from siblings.py: the user is told."""
        xray = container(Kind.SIDECAR_LIMIT, None, Origin.DESCRIBE_TASK_DEFINITION, "xray")
        budget = choose_budget([xray, task_limit(1024)])
        assert budget.memory_bytes == 1024 * MIB
        assert budget.warnings == (
            Notice(
                "sidecar_unbounded",
                "container 'xray' has neither a hard limit nor a reservation: it can take memory the heap plan "
                "counts on; give it a memory limit",
            ),
        )

    def test_describe_tasks_supersedes_the_task_definition(self) -> None:
        """A run-time override (DescribeTasks 1024) wins over the task definition's 512."""
        defined = container(Kind.CONTAINER_LIMIT, 512, Origin.DESCRIBE_TASK_DEFINITION)
        described = container(Kind.CONTAINER_LIMIT, 1024, Origin.DESCRIBE_TASKS)
        budget = choose_budget([defined, described])
        assert budget.memory_bytes == 1024 * MIB
        assert budget.judgements[0] == Judgement(
            defined,
            Outcome.SUPERSEDED,
            "512 MiB differs from 1024 MiB: DescribeTasks answered first and includes run-time overrides",
        )

    def test_sources_that_agree(self) -> None:
        """The same task memory from TMDS and DescribeTasks: one is chosen, the other agrees."""
        tmds, api = task_limit(1024), task_limit(1024, Origin.DESCRIBE_TASKS)
        budget = choose_budget([tmds, api])
        assert outcomes(budget.judgements) == [
            ("task_limit", None, Outcome.CHOSEN),
            ("task_limit", None, Outcome.AGREES),
        ]

    def test_reservation_is_never_a_ceiling(self) -> None:
        """memoryReservation 256 under a 1024 MiB task: the task binds; the reservation is not a ceiling."""
        soft = container(Kind.CONTAINER_RESERVATION, 256, Origin.DESCRIBE_TASK_DEFINITION)
        budget = choose_budget([soft, task_limit(1024)])
        assert budget.memory_bytes == 1024 * MIB
        assert budget.judgements[0] == Judgement(
            soft, Outcome.NOT_A_CEILING, "a soft limit: the container may use more when the host has it"
        )

    def test_cgroup_ceiling_binds(self) -> None:
        """A 512 MiB limit on the task cgroup binds under a 1024 MiB TMDS figure; the init's own limit never does."""
        own = Candidate(Kind.INIT_LIMIT, Origin.CGROUP_V1, 64 * MIB, "/x/memory.limit_in_bytes")
        ceiling = Candidate(Kind.TASK_CEILING, Origin.CGROUP_V1, 512 * MIB, "/x/memory.stat hierarchical_memory_limit")
        budget = choose_budget([own, ceiling, task_limit(1024)])
        assert budget.memory_bytes == 512 * MIB
        assert budget.arithmetic == "min(task 1024 MiB, task cgroup ceiling 512 MiB) = 512 MiB"
        assert outcomes(budget.judgements) == [
            ("init_limit", None, Outcome.NOT_A_CEILING),
            ("task_ceiling", None, Outcome.CHOSEN),
            ("task_limit", None, Outcome.NOT_BINDING),
        ]

    def test_host_memory_alone_is_no_limit(self) -> None:
        """Nothing but MemTotal: it is not trusted (the machine's, or on Fargate the microVM's), so no memory."""
        host = Candidate(Kind.HOST_MEMORY, Origin.MEMINFO, 4096 * MIB, "/proc/meminfo MemTotal")
        budget = choose_budget([task_limit(None), host])
        assert (budget.memory_bytes, budget.chosen, budget.arithmetic) == (
            None,
            None,
            "no limit from ECS or cgroups (MemTotal 4096 MiB is the machine memory)",
        )
        assert budget.judgements[1] == Judgement(
            host, Outcome.NOT_TRUSTED, "the machine's memory, not a limit of the task or container"
        )
        assert [n.code for n in budget.warnings] == ["only_host_memory"]

    def test_host_memory_alone_with_sidecars(self) -> None:
        """A sidecar's figure next to MemTotal alone changes nothing: still no limit, and the sidecar is judged."""
        envoy = container(Kind.SIDECAR_LIMIT, 128, Origin.DESCRIBE_TASK_DEFINITION, "envoy")
        host = Candidate(Kind.HOST_MEMORY, Origin.MEMINFO, 4096 * MIB, "/proc/meminfo MemTotal")
        budget = choose_budget([envoy, host])
        assert (budget.memory_bytes, [v.outcome for v in budget.judgements]) == (
            None,
            [Outcome.NOT_A_CEILING, Outcome.NOT_TRUSTED],
        )

    def test_host_memory_not_needed(self) -> None:
        """With an ECS limit, a larger MemTotal is recorded as not needed and left out of the arithmetic."""
        host = Candidate(Kind.HOST_MEMORY, Origin.MEMINFO, 24000 * MIB, "/proc/meminfo MemTotal")
        budget = choose_budget([task_limit(1024), host])
        assert budget.arithmetic == "task 1024 MiB"
        assert budget.judgements[1] == Judgement(
            host, Outcome.NOT_NEEDED, "the machine's memory; 1024 MiB from ECS/cgroups is lower"
        )

    def test_host_memory_below_the_task(self) -> None:
        """A microVM with less memory than the task asked for: MemTotal binds, with a warning."""
        host = Candidate(Kind.HOST_MEMORY, Origin.MEMINFO, 900 * MIB, "/proc/meminfo MemTotal")
        budget = choose_budget([task_limit(1024), host])
        assert budget.memory_bytes == 900 * MIB
        assert [n.code for n in budget.warnings] == ["host_memory_below_limit"]

    def test_no_limit(self) -> None:
        """Nothing limits the container and no MemTotal: no memory."""
        budget = choose_budget([task_limit(None)])
        assert (budget.memory_bytes, budget.chosen, budget.arithmetic) == (None, None, "no limit found")

    def test_sidecars_take_everything(self) -> None:
        """Sidecars that reserve the whole task leave nothing, and say so."""
        envoy = container(Kind.SIDECAR_LIMIT, 512, Origin.DESCRIBE_TASK_DEFINITION, "envoy")
        budget = choose_budget([envoy, task_limit(512)])
        assert budget.memory_bytes == 0
        assert [n.code for n in budget.warnings] == ["sidecars_take_everything"]

    def test_siblings_counted_beyond_the_task_leave_zero_not_less(self) -> None:
        """A 1536 MiB sibling in a 1024 MiB task (ECS would refuse it): 0 MiB, never -512, and a notice naming it."""
        worker = container(Kind.SIDECAR_LIMIT, 1536, Origin.DESCRIBE_TASK_DEFINITION, "worker")
        budget = choose_budget([worker, task_limit(1024)])
        assert budget.memory_bytes == 0
        assert budget.arithmetic == "task 1024 MiB - worker 1536 MiB = 0 MiB"
        assert budget.warnings == (
            Notice(
                "siblings_exceed_task",
                "the containers beside Node are counted at 1536 MiB (worker 1536 MiB), more than the task's "
                "1024 MiB: these figures cannot all be right (ECS refuses such a task definition); Node is left "
                "0 MiB of the task",
                Severity.CRITICAL,
            ),
        )


def guess(mib: int, name: str, origin: Origin = Origin.CATALOGUE) -> Candidate:
    return Candidate(Kind.SIDECAR_FOOTPRINT, origin, mib * MIB, f"catalogue {name}", name)


def override(mib: int, name: str) -> Candidate:
    return Candidate(Kind.SIDECAR_OVERRIDE, Origin.SETTING, mib * MIB, f"NODE_HEAP_SIBLING_MIB {name}={mib}", name)


SUBTRACTED_BECAUSE = "runs beside Node, so its share of the task is not Node's; counted: "


class TestSidecarFigures:
    def test_a_guess_is_subtracted_and_marked(self) -> None:
        """A log router without memory settings is counted for its catalogue footprint, marked as a guess."""
        unset = container(Kind.SIDECAR_LIMIT, None, Origin.TMDS, "log_router")
        footprint = guess(100, "log_router")
        budget = choose_budget([unset, footprint, task_limit(1024)])
        assert budget.memory_bytes == 924 * MIB
        assert budget.arithmetic == "task 1024 MiB - log_router 100 MiB (guess) = 924 MiB"
        counted = Judgement(
            footprint, Outcome.SUBTRACTED, SUBTRACTED_BECAUSE + "a guess (no hard limit or reservation)"
        )
        assert budget.judgements[:2] == (Judgement(unset, Outcome.UNLIMITED, "no hard limit"), counted)
        assert budget.sidecars == (counted,)
        assert budget.warnings == ()  # siblings.guess_notices words the warning, with the setting to give

    def test_a_reservation_wins_over_a_guess(self) -> None:
        """The FireLens docs' `memoryReservation: 50` is counted; the 100 MiB footprint is not needed."""
        soft = container(Kind.SIDECAR_RESERVATION, 50, Origin.DESCRIBE_TASK_DEFINITION, "log_router")
        footprint = guess(100, "log_router")
        budget = choose_budget([soft, footprint, task_limit(1024)])
        assert budget.arithmetic == "task 1024 MiB - log_router 50 MiB = 974 MiB"
        assert budget.judgements[:2] == (
            Judgement(soft, Outcome.SUBTRACTED, SUBTRACTED_BECAUSE + "its reservation (no hard limit)"),
            Judgement(
                footprint,
                Outcome.NOT_NEEDED,
                "a guess; log_router is counted for its reservation (no hard limit) instead",
            ),
        )

    def test_an_override_wins_over_the_hard_limit(self) -> None:
        """NODE_HEAP_SIBLING_MIB=log_router=96 beats its 256 MiB hard limit, its reservation and the guess."""
        figure = override(96, "log_router")
        hard = container(Kind.SIDECAR_LIMIT, 256, Origin.DESCRIBE_TASK_DEFINITION, "log_router")
        soft = container(Kind.SIDECAR_RESERVATION, 50, Origin.DESCRIBE_TASK_DEFINITION, "log_router")
        footprint = guess(100, "log_router")
        budget = choose_budget([figure, hard, soft, footprint, task_limit(1024)])
        assert budget.arithmetic == "task 1024 MiB - log_router 96 MiB = 928 MiB"
        assert budget.judgements[:4] == (
            Judgement(figure, Outcome.SUBTRACTED, SUBTRACTED_BECAUSE + "the figure NODE_HEAP_SIBLING_MIB gives"),
            Judgement(hard, Outcome.SUPERSEDED, "NODE_HEAP_SIBLING_MIB gives log_router 96 MiB"),
            Judgement(
                soft, Outcome.NOT_A_CEILING, "log_router is counted for the figure NODE_HEAP_SIBLING_MIB gives instead"
            ),
            Judgement(
                footprint,
                Outcome.NOT_NEEDED,
                "a guess; log_router is counted for the figure NODE_HEAP_SIBLING_MIB gives instead",
            ),
        )

    def test_the_hard_limit_wins_over_a_guess(self) -> None:
        """An envoy with a 128 MiB hard limit is counted for it, whatever its footprint would be."""
        hard = container(Kind.SIDECAR_LIMIT, 128, Origin.TMDS, "envoy")
        footprint = guess(64, "envoy")
        budget = choose_budget([hard, footprint, task_limit(512)])
        assert budget.arithmetic == "task 512 MiB - envoy 128 MiB = 384 MiB"
        assert budget.judgements[1] == Judgement(
            footprint, Outcome.NOT_NEEDED, "a guess; envoy is counted for its hard limit instead"
        )

    def test_guesses_for_every_sidecar_add_up(self) -> None:
        """A log router, the Service Connect proxy and an unknown sidecar on the default all come off."""
        candidates = [guess(100, "log_router"), guess(64, "ecs-service-connect-a1"), guess(64, "redis", Origin.SETTING)]
        budget = choose_budget([*candidates, task_limit(1024)])
        assert budget.memory_bytes == 796 * MIB
        assert budget.arithmetic == (
            "task 1024 MiB - log_router 100 MiB (guess) - ecs-service-connect-a1 64 MiB (guess) "
            "- redis 64 MiB (guess) = 796 MiB"
        )
        assert [v.candidate.container for v in budget.sidecars] == ["log_router", "ecs-service-connect-a1", "redis"]

    def test_without_a_shared_task_limit_a_guess_is_not_a_ceiling(self) -> None:
        """EC2 without a task size: the Node container's own limit binds and the guess is only recorded."""
        app = container(Kind.CONTAINER_LIMIT, 768, Origin.DESCRIBE_TASK_DEFINITION)
        footprint = guess(100, "log_router")
        budget = choose_budget([app, footprint])
        assert budget.memory_bytes == 768 * MIB
        assert budget.judgements[1] == Judgement(
            footprint,
            Outcome.NOT_A_CEILING,
            "runs beside Node; no task limit is shared with it; counted: a guess (no hard limit or reservation)",
        )


class TestExplicitBudget:
    def test_explicit(self) -> None:
        """NODE_HEAP_MEMORY_MIB is taken as is."""
        budget = explicit_budget(768)
        assert budget.memory_bytes == 768 * MIB
        assert budget.arithmetic == "NODE_HEAP_MEMORY_MIB = 768 MiB"
        assert budget.chosen is not None
        assert budget.chosen.outcome is Outcome.CHOSEN


class TestCollectCandidates:
    def test_every_source_becomes_a_candidate(self) -> None:
        """TMDS, both API calls, the cgroup and MemTotal each give their figures with their exact field."""
        app_tmds = ContainerMetadata("app", "NORMAL", None, "node:22", "PULLED")
        app_def = ContainerSpec("app", 768, 512)
        envoy_def = ContainerSpec("envoy", 128, None)
        metadata = TaskMetadata(
            "arn:aws:ecs:us-east-1:1:task/c/t", None, None, None, None, None, 1024, (app_tmds,), "init", TASK_URL
        )
        api = ApiResult(None, TaskDefinition("td", 1024, (app_def, envoy_def)), ())
        cgroup = CgroupMemory(1, "/", Path("/c"), None, "/c/memory.limit_in_bytes", 1024 * MIB, "/c/memory.stat", ())
        found = collect_candidates(
            others=[ContainerFacts("envoy", defined=envoy_def)],
            target_facts=ContainerFacts("app", tmds=app_tmds, defined=app_def),
            metadata=metadata,
            task=api.task,
            definition=api.task_definition,
            cgroup=cgroup,
            mem_total_bytes=4096 * MIB,
        )
        assert [(c.kind.value, c.origin.value, c.value_bytes, c.where) for c in found] == [
            ("container_limit", "task_metadata_v4", None, "TMDS Containers[Name=app].Limits.Memory"),
            (
                "container_limit",
                "ecs_describe_task_definition",
                768 * MIB,
                "DescribeTaskDefinition containerDefinitions[name=app].memory",
            ),
            (
                "container_reservation",
                "ecs_describe_task_definition",
                512 * MIB,
                "DescribeTaskDefinition containerDefinitions[name=app].memoryReservation",
            ),
            (
                "sidecar_limit",
                "ecs_describe_task_definition",
                128 * MIB,
                "DescribeTaskDefinition containerDefinitions[name=envoy].memory",
            ),
            (
                "sidecar_reservation",
                "ecs_describe_task_definition",
                None,
                "DescribeTaskDefinition containerDefinitions[name=envoy].memoryReservation",
            ),
            ("task_limit", "task_metadata_v4", 1024 * MIB, f"{TASK_URL} Limits.Memory"),
            ("task_limit", "ecs_describe_task_definition", 1024 * MIB, "DescribeTaskDefinition taskDefinition.memory"),
            ("init_limit", "cgroup_v1", None, "/c/memory.limit_in_bytes"),
            ("task_ceiling", "cgroup_v1", 1024 * MIB, "/c/memory.stat"),
            ("host_memory", "proc_meminfo", 4096 * MIB, "/proc/meminfo MemTotal"),
        ]
        budget = choose_budget(found)
        assert budget.memory_bytes == 768 * MIB
        assert budget.arithmetic == (
            "min(container limit 768 MiB, task 1024 MiB - envoy 128 MiB = 896 MiB, "
            "task cgroup ceiling 1024 MiB) = 768 MiB"
        )

    def test_estimates_become_candidates_of_their_container(self) -> None:
        """siblings.py's override and guess for a container come after its own settings, with their `where`."""
        router_tmds = ContainerMetadata("log_router", "NORMAL", None, "amazon/aws-for-fluent-bit:stable", "RUNNING")
        estimates = [
            SiblingEstimate("log_router", 96, Rule.OVERRIDE, "NODE_HEAP_SIBLING_MIB log_router=96", "given", "p"),
            SiblingEstimate("log_router", 100, Rule.CATALOGUE, "footprint catalogue 'fluent-bit'", "fp", "p"),
            SiblingEstimate("redis", 64, Rule.DEFAULT, "NODE_HEAP_SIBLING_DEFAULT_MIB=64", "default", "p"),
        ]
        found = collect_candidates(
            others=[ContainerFacts("log_router", tmds=router_tmds)],
            target_facts=None,
            metadata=None,
            task=None,
            definition=None,
            cgroup=None,
            mem_total_bytes=None,
            estimates=estimates,
        )
        assert [(c.kind.value, c.origin.value, c.value_bytes, c.where, c.container) for c in found] == [
            ("sidecar_limit", "task_metadata_v4", None, "TMDS Containers[Name=log_router].Limits.Memory", "log_router"),
            ("sidecar_override", "setting", 96 * MIB, "NODE_HEAP_SIBLING_MIB log_router=96", "log_router"),
            ("sidecar_footprint", "footprint_catalogue", 100 * MIB, "footprint catalogue 'fluent-bit'", "log_router"),
        ]  # redis is not beside Node here, so its estimate is not used


_KINDS = [k for k in Kind if k is not Kind.EXPLICIT]
_candidate = st.builds(
    Candidate,
    kind=st.sampled_from(_KINDS),
    origin=st.sampled_from(list(Origin)),
    value_bytes=st.one_of(st.none(), st.integers(min_value=0, max_value=1 << 36)),
    where=st.just("fuzz"),
    container=st.sampled_from([None, "app", "envoy", "log_router"]),
)


class TestEveryCandidateJudged:
    @settings(max_examples=300, derandomize=True, deadline=None)
    @given(st.lists(_candidate, max_size=12))
    def test_one_judgement_each_and_no_negative_memory(self, candidates: list[Candidate]) -> None:
        """Whatever the sources report, every candidate gets exactly one judgement, in input order, and the
        memory is never negative."""
        budget = choose_budget(candidates)
        assert [j.candidate for j in budget.judgements] == candidates
        assert budget.memory_bytes is None or budget.memory_bytes >= 0
        assert (budget.chosen is None) == (budget.memory_bytes is None)
