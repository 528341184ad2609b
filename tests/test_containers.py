"""Tests for sidecar.sizing.containers: the task's containers merged from TMDS and the ECS API, and the Node target.

Inputs are built from the dataclasses of sidecar.sources.metadata and sidecar.sources.ecs_api. The scenario is an
EC2 task seen by its init container `heap-init`: TMDS lists the pause container (`CNI_PAUSE`, as in
tests/fixtures/ecs/ec2-task-metadata.json), the init container and a log router, but not `web`
(not created yet); DescribeTasks and DescribeTaskDefinition list every container of the definition.
`dependsOn` conditions are ECS's: START, COMPLETE, SUCCESS, HEALTHY.
"""

from __future__ import annotations

import pytest

from sidecar.errors import TargetError
from sidecar.sizing.containers import ContainerFacts, choose_target, list_containers, long_running_others
from sidecar.sources.ecs_api import ApiResult, ContainerSpec, TaskDefinition, TaskDescription
from sidecar.sources.metadata import ContainerMetadata, TaskMetadata

TASK_ARN = "arn:aws:ecs:us-west-2:111122223333:task/default/158d1c8083dd49d6b527399fd6414f5c"
APP_IMAGE = "111122223333.dkr.ecr.us-west-2.amazonaws.com/web:1.4.2"

TMDS_PAUSE = ContainerMetadata(
    "~internal~ecs~pause", "CNI_PAUSE", None, "amazon/amazon-ecs-pause:0.1.0", "RESOURCES_PROVISIONED"
)
TMDS_INIT = ContainerMetadata("heap-init", "NORMAL", 64, "node-heap-sidecar:0.1.0", "RUNNING")
TMDS_LOGS = ContainerMetadata("log-router", "NORMAL", 128, "amazon/aws-for-fluent-bit:2.32.0", "RUNNING")
SC_IMAGE = "ecs-service-connect-agent:interface-v1"  # aws/amazon-ecs-agent serviceconnect/manager_linux.go

DESCRIBED_INIT = ContainerSpec("heap-init", 64, None, "node-heap-sidecar:0.1.0")
DESCRIBED_LOGS = ContainerSpec("log-router", 128, None, "amazon/aws-for-fluent-bit:2.32.0")
DESCRIBED_WEB = ContainerSpec("web", 1024, None, APP_IMAGE, node_options="--max-old-space-size=700")

DEFINED_INIT = ContainerSpec("heap-init", 64, None, "node-heap-sidecar:0.1.0", essential=False)
DEFINED_LOGS = ContainerSpec("log-router", 128, None, "amazon/aws-for-fluent-bit:2.32.0", essential=True)
DEFINED_MIGRATE = ContainerSpec("migrate", 256, None, APP_IMAGE, essential=False)
DEFINED_WEB = ContainerSpec(
    "web",
    1024,
    None,
    APP_IMAGE,
    essential=True,
    depends_on=(("heap-init", "SUCCESS"), ("log-router", "START"), ("migrate", "SUCCESS")),
    node_options="--enable-source-maps",
)


def listed(metadata: TaskMetadata | None, api: ApiResult | None) -> dict[str, ContainerFacts]:
    """The containers as the job lists them from TMDS and an ECS API result."""
    return list_containers(metadata, api.task if api else None, api.task_definition if api else None)


def task_metadata(*containers: ContainerMetadata) -> TaskMetadata:
    """A TMDS /task answer listing `containers`, seen from heap-init."""
    return TaskMetadata(
        task_arn=TASK_ARN,
        cluster="default",
        family="web",
        revision="7",
        launch_type="EC2",
        service_name="web-svc",
        memory_mib=None,
        containers=containers,
        self_name="heap-init",
        url="http://169.254.170.2/v4/abc/task",
    )


def api_result(described: tuple[ContainerSpec, ...] | None, defined: tuple[ContainerSpec, ...] | None) -> ApiResult:
    """An ECS API result; None for a call that failed."""
    task = (
        TaskDescription(None, described, "arn:aws:ecs:us-west-2:111122223333:task-definition/web:7", None, "EC2")
        if described is not None
        else None
    )
    definition = (
        TaskDefinition("arn:aws:ecs:us-west-2:111122223333:task-definition/web:7", None, defined)
        if defined is not None
        else None
    )
    return ApiResult(task, definition, ())


def facts(*names: str) -> dict[str, ContainerFacts]:
    """Containers listed by name only (no source), in the order given."""
    return {name: ContainerFacts(name) for name in names}


class TestListContainers:
    def test_every_source_merged(self) -> None:
        """Each container gathers what TMDS, DescribeTasks and DescribeTaskDefinition said of it."""
        containers = listed(
            task_metadata(TMDS_PAUSE, TMDS_INIT, TMDS_LOGS),
            api_result(
                (DESCRIBED_INIT, DESCRIBED_LOGS, DESCRIBED_WEB),
                (DEFINED_INIT, DEFINED_LOGS, DEFINED_MIGRATE, DEFINED_WEB),
            ),
        )

        assert containers == {
            "heap-init": ContainerFacts("heap-init", TMDS_INIT, DESCRIBED_INIT, DEFINED_INIT),
            "log-router": ContainerFacts("log-router", TMDS_LOGS, DESCRIBED_LOGS, DEFINED_LOGS),
            "web": ContainerFacts("web", None, DESCRIBED_WEB, DEFINED_WEB),
            "migrate": ContainerFacts("migrate", None, None, DEFINED_MIGRATE),
        }

    def test_order(self) -> None:
        """Containers come in TMDS order, then those only the API lists, in its order."""
        containers = listed(
            task_metadata(TMDS_PAUSE, TMDS_LOGS, TMDS_INIT),
            api_result((DESCRIBED_WEB,), (DEFINED_INIT, DEFINED_MIGRATE, DEFINED_WEB)),
        )

        assert list(containers) == ["log-router", "heap-init", "web", "migrate"]

    def test_agent_internal_containers_excluded(self) -> None:
        """The CNI_PAUSE container is the agent's, not the task definition's; a missing Type is kept."""
        untyped = ContainerMetadata("web", None, None, APP_IMAGE, "RUNNING")

        containers = listed(task_metadata(TMDS_PAUSE, TMDS_INIT, untyped), None)

        assert containers == {
            "heap-init": ContainerFacts("heap-init", tmds=TMDS_INIT),
            "web": ContainerFacts("web", tmds=untyped),
        }

    def test_no_sources(self) -> None:
        """With neither TMDS nor the API there are no containers."""
        assert listed(None, None) == {}

    def test_describe_tasks_failed(self) -> None:
        """When only DescribeTaskDefinition answered, its containers are listed alone."""
        containers = listed(None, api_result(None, (DEFINED_INIT, DEFINED_WEB)))

        assert containers == {
            "heap-init": ContainerFacts("heap-init", defined=DEFINED_INIT),
            "web": ContainerFacts("web", defined=DEFINED_WEB),
        }

    def test_api_skipped(self) -> None:
        """An API result that was skipped (no credentials) adds nothing to TMDS."""
        skipped = ApiResult(None, None, (), skipped="no AWS credentials (task role) available")

        assert listed(task_metadata(TMDS_INIT), skipped) == {
            "heap-init": ContainerFacts("heap-init", tmds=TMDS_INIT),
        }

    def test_service_connect_proxy_is_marked_added_by_ecs(self) -> None:
        """The proxy ECS adds (TMDS and DescribeTasks list it, the task definition does not) is marked."""
        proxy_tmds = ContainerMetadata("ecs-service-connect-Xg7Ld2", "NORMAL", None, SC_IMAGE, "RUNNING")
        proxy_described = ContainerSpec("ecs-service-connect-Xg7Ld2", None, None, SC_IMAGE)
        containers = listed(
            task_metadata(TMDS_INIT, proxy_tmds),
            api_result((DESCRIBED_INIT, proxy_described, DESCRIBED_WEB), (DEFINED_INIT, DEFINED_WEB)),
        )

        assert containers["ecs-service-connect-Xg7Ld2"] == ContainerFacts(
            "ecs-service-connect-Xg7Ld2", proxy_tmds, proxy_described, None, added_by_ecs=True
        )
        assert [name for name, item in containers.items() if item.added_by_ecs] == ["ecs-service-connect-Xg7Ld2"]

    def test_service_connect_proxy_recognised_without_the_definition(self) -> None:
        """Without DescribeTaskDefinition, the proxy is recognised by the agent's image for it."""
        proxy = ContainerMetadata("ecs-service-connect-Xg7Ld2", "NORMAL", None, SC_IMAGE, "RUNNING")

        containers = listed(task_metadata(TMDS_INIT, TMDS_LOGS, proxy), None)

        assert [(name, item.added_by_ecs) for name, item in containers.items()] == [
            ("heap-init", False),
            ("log-router", False),
            ("ecs-service-connect-Xg7Ld2", True),
        ]

    def test_any_container_missing_from_a_known_definition_was_added_by_ecs(self) -> None:
        """A container DescribeTasks lists but the task definition does not is ECS's, whatever its image."""
        unknown = ContainerSpec("ecs-agent-helper", None, None, "example/helper:1")

        containers = listed(None, api_result((DESCRIBED_INIT, unknown), (DEFINED_INIT,)))

        assert containers["ecs-agent-helper"].added_by_ecs


class TestContainerFacts:
    def test_firelens_type_from_the_definition(self) -> None:
        """Only the task definition says a container is a FireLens log router."""
        router = ContainerSpec("log-router", None, 50, "custom/logs:1", firelens_type="fluentbit")

        assert ContainerFacts("log-router", TMDS_LOGS, DESCRIBED_LOGS, router).firelens_type == "fluentbit"
        assert ContainerFacts("log-router", TMDS_LOGS, DESCRIBED_LOGS).firelens_type is None

    def test_override_beats_definition(self) -> None:
        """NODE_OPTIONS from a run-time override (DescribeTasks) wins over the task definition's."""
        assert ContainerFacts("web", None, DESCRIBED_WEB, DEFINED_WEB).node_options == "--max-old-space-size=700"

    def test_definition_when_no_override(self) -> None:
        """Without an override the task definition's NODE_OPTIONS applies."""
        described = ContainerSpec("web", 1024, None, APP_IMAGE)

        assert ContainerFacts("web", None, described, DEFINED_WEB).node_options == "--enable-source-maps"

    def test_empty_override_still_wins(self) -> None:
        """An override that sets NODE_OPTIONS to empty replaces the definition's value."""
        described = ContainerSpec("web", 1024, None, APP_IMAGE, node_options="")

        assert ContainerFacts("web", None, described, DEFINED_WEB).node_options == ""

    def test_no_node_options(self) -> None:
        """A container no API source describes has no known NODE_OPTIONS."""
        assert ContainerFacts("web", tmds=TMDS_INIT).node_options is None

    def test_image_prefers_tmds(self) -> None:
        """The image is TMDS's when it lists one, else DescribeTasks', else the definition's."""
        described = ContainerSpec("web", None, None, "node:22-slim")
        defined = ContainerSpec("web", None, None, "node:20")
        running = ContainerMetadata("web", "NORMAL", None, "node:24", "RUNNING")

        assert [
            ContainerFacts("web", running, described, defined).image,
            ContainerFacts("web", None, described, defined).image,
            ContainerFacts("web", None, None, defined).image,
            ContainerFacts("web").image,
        ] == ["node:24", "node:22-slim", "node:20", None]


class TestChooseTarget:
    def test_setting_present(self) -> None:
        """A configured name that is listed is chosen, by the setting."""
        chosen = choose_target(facts("heap-init", "log-router", "web"), "heap-init", "web", definition_known=True)

        assert chosen == ("web", "NODE_HEAP_TARGET")

    def test_setting_absent_from_known_definition(self) -> None:
        """A configured name missing from a task definition that was read is an error listing the names."""
        with pytest.raises(TargetError) as info:
            choose_target(facts("web", "heap-init", "log-router"), "heap-init", "api", definition_known=True)

        assert str(info.value) == (
            "NODE_HEAP_TARGET='api': no container of that name in the task definition "
            "(its containers beside this init container: web, log-router)"
        )

    def test_setting_absent_from_a_fargate_listing(self) -> None:
        """Fargate's task metadata lists every container from the start: an unknown name is an error there too."""
        with pytest.raises(TargetError) as info:
            choose_target(facts("heap-init", "app"), "heap-init", "web", definition_known=False, launch_type="FARGATE")

        assert str(info.value) == (
            "NODE_HEAP_TARGET='web': no container of that name in the task's metadata (Fargate) "
            "(its containers beside this init container: app)"
        )

    def test_setting_absent_from_empty_definition(self) -> None:
        """With no container listed at all, the message says none."""
        with pytest.raises(TargetError) as info:
            choose_target({}, None, "web", definition_known=True)

        assert str(info.value) == (
            "NODE_HEAP_TARGET='web': no container of that name in the task definition "
            "(its containers beside this init container: none)"
        )

    def test_setting_not_listed_definition_unknown(self) -> None:
        """Without the definition, an unlisted name is accepted: EC2 creates it after the init container."""
        chosen = choose_target(facts("heap-init", "log-router"), "heap-init", "web", definition_known=False)

        assert chosen == (
            "web",
            "NODE_HEAP_TARGET (not listed yet: EC2 creates it after the init container exits)",
        )

    def test_unset_one_other_container(self) -> None:
        """Unset, the only container besides the init container is chosen."""
        chosen = choose_target(facts("heap-init", "web"), "heap-init", None, definition_known=True)

        assert chosen == ("web", "the only other container of the task")

    def test_unset_one_container_own_name_unknown(self) -> None:
        """On Fargate, when the init container's own name is unknown, a single listed container is the choice."""
        chosen = choose_target(facts("web"), None, None, definition_known=False, launch_type="FARGATE")

        assert chosen == ("web", "the only other container of the task")

    @pytest.mark.parametrize("launch_type", ["EC2", None])
    def test_unset_not_guessed_on_ec2_without_the_definition(self, launch_type: str | None) -> None:
        """On EC2 (or an unknown launch type) the one other listed container may be a sidecar: no guess."""
        chosen = choose_target(
            facts("heap-init", "log-router"), "heap-init", None, definition_known=False, launch_type=launch_type
        )

        assert chosen == (
            None,
            "not guessed: without the task definition, an EC2 task does not list the Node container before "
            "it is created (set NODE_HEAP_TARGET, or allow ecs:DescribeTaskDefinition)",
        )

    def test_setting_names_the_init_container(self) -> None:
        """NODE_HEAP_TARGET naming the init container itself is a configuration error."""
        with pytest.raises(TargetError) as info:
            choose_target(facts("heap-init", "web"), "heap-init", "heap-init", definition_known=True)

        assert str(info.value) == (
            "NODE_HEAP_TARGET='heap-init' names this init container: set it to the Node container's name"
        )

    def test_unset_several_other_containers(self) -> None:
        """Unset with several other containers is ambiguous: an error listing them sorted."""
        with pytest.raises(TargetError) as info:
            choose_target(facts("heap-init", "worker", "web", "log-router"), "heap-init", None, definition_known=True)

        assert str(info.value) == (
            "NODE_HEAP_TARGET is unset and the task has 3 other containers (log-router, web, worker): "
            "set it to the Node container's name"
        )

    def test_unset_the_service_connect_proxy_is_never_the_node_container(self) -> None:
        """A Service Connect task lists the proxy ECS added: the one other container is still chosen."""
        containers = {
            **facts("heap-init", "web"),
            "ecs-service-connect-Xg7Ld2": ContainerFacts("ecs-service-connect-Xg7Ld2", added_by_ecs=True),
        }
        chosen = choose_target(containers, "heap-init", None, definition_known=True)

        assert chosen == ("web", "the only other container of the task")

    @pytest.mark.parametrize(
        "containers",
        [pytest.param(facts("heap-init"), id="only-init"), pytest.param({}, id="nothing-listed")],
    )
    def test_unset_no_other_container(self, containers: dict[str, ContainerFacts]) -> None:
        """Unset with no other container listed chooses nothing, and says how to fix it."""
        chosen = choose_target(containers, "heap-init", None, definition_known=False, launch_type="FARGATE")

        assert chosen == (None, "no other container is listed (set NODE_HEAP_TARGET, or allow the ECS API)")


class TestLongRunningOthers:
    def test_skips_init_and_containers_that_exit_first(self) -> None:
        """The init container and what `web` waits on with SUCCESS/COMPLETE are skipped; START/HEALTHY run."""
        web = ContainerSpec(
            "web",
            1024,
            None,
            depends_on=(
                ("heap-init", "SUCCESS"),
                ("migrate", "SUCCESS"),
                ("config", "COMPLETE"),
                ("log-router", "START"),
                ("envoy", "HEALTHY"),
            ),
        )
        containers = {
            "heap-init": ContainerFacts("heap-init"),
            "migrate": ContainerFacts("migrate"),
            "log-router": ContainerFacts("log-router"),
            "web": ContainerFacts("web", defined=web),
            "config": ContainerFacts("config"),
            "envoy": ContainerFacts("envoy"),
            "xray": ContainerFacts("xray"),
        }

        running, skipped = long_running_others(containers, "heap-init", "web")

        assert running == [ContainerFacts("log-router"), ContainerFacts("envoy"), ContainerFacts("xray")]
        assert skipped == [
            ("heap-init", "this init container; it exits before Node starts"),
            ("migrate", "web waits for it to exit (SUCCESS)"),
            ("config", "web waits for it to exit (COMPLETE)"),
        ]

    def test_condition_case_ignored(self) -> None:
        """A condition written in lower case counts, and is reported in upper case."""
        web = ContainerSpec("web", None, None, depends_on=(("migrate", "success"),))
        containers = {"web": ContainerFacts("web", defined=web), "migrate": ContainerFacts("migrate")}

        assert long_running_others(containers, None, "web") == (
            [],
            [("migrate", "web waits for it to exit (SUCCESS)")],
        )

    def test_definition_unknown(self) -> None:
        """Without the target's definition its dependencies are unknown, so every other container runs."""
        containers = facts("heap-init", "migrate", "web")

        assert long_running_others(containers, "heap-init", "web") == (
            [ContainerFacts("migrate")],
            [("heap-init", "this init container; it exits before Node starts")],
        )

    def test_no_target(self) -> None:
        """With no target chosen, only the init container is skipped."""
        containers = facts("heap-init", "log-router", "worker")

        assert long_running_others(containers, "heap-init", None) == (
            [ContainerFacts("log-router"), ContainerFacts("worker")],
            [("heap-init", "this init container; it exits before Node starts")],
        )
