"""Tests for sidecar.sources.ecs_api: DescribeTasks/DescribeTaskDefinition answers parsed, and fetched through boto3
from a moto server or an awsJson1_1 stub on 127.0.0.1.

Payloads are the botocore examples in tests/fixtures/ecs/ (provenance in SOURCES.md); expected values were
read from those files, or from the setup that created the moto task, by hand.
"""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.errors import SourceError
from sidecar.sources import ecs_api
from sidecar.sources.ecs_api import ApiResult, ContainerSpec, TaskDefinition, TaskDescription
from tests.servers import EcsJsonStub, MotoServer, Reply, ecs_payload

EXAMPLE_TASK_ARN = "arn:aws:ecs:<region>:<aws_account_id>:task/c5cba4eb-5dad-405e-96db-71ef8eefe6a8"
EXAMPLE_TASK_DEFINITION_ARN = "arn:aws:ecs:<region>:<aws_account_id>:task-definition/amazon-ecs-sample:1"
# The example's task ARN with "<region>" and "<aws_account_id>" filled in, so boto3 accepts the region.
TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/c5cba4eb-5dad-405e-96db-71ef8eefe6a8"

HELLO_WORLD = TaskDefinition(
    arn="arn:aws:ecs:us-east-1:<aws_account_id>:task-definition/hello_world:8",
    memory_mib=None,
    containers=(
        ContainerSpec("wordpress", 500, None, image="wordpress", essential=True),
        ContainerSpec("mysql", 500, None, image="mysql", essential=True),
    ),
)
ACCESS_DENIED = (
    "User: arn:aws:sts::123456789012:assumed-role/web-task/0123 is not authorized to perform: "
    "ecs:{action} on resource: * because no identity-based policy allows the ecs:{action} action"
)


def describe_tasks_example() -> dict[str, Any]:
    """The botocore DescribeTasks example's `output`, with taskArn filled in (see TASK_ARN)."""
    doc: dict[str, Any] = ecs_payload("botocore-describe-tasks-example.json")["output"]
    doc["tasks"][0]["taskArn"] = TASK_ARN  # changed: "<region>"/"<aws_account_id>" filled in
    return doc


def describe_tasks_with_sizes() -> dict[str, Any]:
    """The DescribeTasks example with the memory figures and override a Node task has."""
    doc = describe_tasks_example()
    task = doc["tasks"][0]
    task["memory"] = "1024"  # added: task size, a string of MiB (botocore shape `Task.memory`)
    task["group"] = "service:sample-webapp"  # added
    task["launchType"] = "EC2"  # added
    container = task["containers"][0]
    container["image"] = "amazon/amazon-ecs-sample"  # added
    container["memory"] = "512"  # added: strings of MiB (botocore shape `Container`)
    container["memoryReservation"] = "256"  # added
    task["overrides"]["containerOverrides"][0]["environment"] = [  # added: a run-time NODE_OPTIONS
        {"name": "NODE_OPTIONS", "value": "--max-old-space-size=384"}
    ]
    return doc


def task_definition_example() -> dict[str, Any]:
    """The botocore DescribeTaskDefinition example's `output`."""
    doc: dict[str, Any] = ecs_payload("botocore-describe-task-definition-example.json")["output"]
    return doc


class TestRegionFromArn:
    @pytest.mark.parametrize(
        ("arn", "expected"),
        [
            (
                "arn:aws:ecs:us-east-1:123456789012:task/MyEmptyCluster/bfa2636268144d039771334145e490c5",
                "us-east-1",
            ),
            ("arn:aws:ecs:us-west-2:111122223333:task/default/158d1c8083dd49d6b527399fd6414f5c", "us-west-2"),
            (
                "arn:aws-cn:ecs:cn-north-1:123456789012:task/c5cba4eb-5dad-405e-96db-71ef8eefe6a8",
                "cn-north-1",
            ),
            (EXAMPLE_TASK_ARN, "<region>"),
            ("arn:aws:ecs::123456789012:task/default/158d1c8083dd49d6b527399fd6414f5c", None),
            ("arn:aws:s3:us-east-1:123456789012:bucket", None),
            ("c5cba4eb-5dad-405e-96db-71ef8eefe6a8", None),
            ("", None),
        ],
    )
    def test_region(self, arn: str, expected: str | None) -> None:
        """The fourth field of an ECS ARN is its region; anything else has none."""
        assert ecs_api.region_from_arn(arn) == expected


class TestParseDescribeTasks:
    def test_botocore_example(self) -> None:
        """The botocore example has one container with no memory figures and an empty override."""
        output = ecs_payload("botocore-describe-tasks-example.json")["output"]
        assert ecs_api.parse_describe_tasks(output, EXAMPLE_TASK_ARN) == TaskDescription(
            memory_mib=None,
            containers=(ContainerSpec("ecs-demo", None, None),),
            task_definition_arn=EXAMPLE_TASK_DEFINITION_ARN,
            group=None,
            launch_type=None,
        )

    def test_strings_of_mib_and_override(self) -> None:
        """Task and container memory arrive as strings of MiB, NODE_OPTIONS from the override."""
        assert ecs_api.parse_describe_tasks(describe_tasks_with_sizes(), TASK_ARN) == TaskDescription(
            memory_mib=1024,
            containers=(
                ContainerSpec(
                    "ecs-demo",
                    512,
                    256,
                    image="amazon/amazon-ecs-sample",
                    node_options="--max-old-space-size=384",
                ),
            ),
            task_definition_arn=EXAMPLE_TASK_DEFINITION_ARN,
            group="service:sample-webapp",
            launch_type="EC2",
        )

    def test_integers(self) -> None:
        """Integer figures (as moto and some stand-ins send) read the same as strings."""
        doc = describe_tasks_example()
        doc["tasks"][0]["memory"] = 2048  # added, as an integer
        doc["tasks"][0]["containers"][0]["memory"] = 1024  # added, as an integer
        described = ecs_api.parse_describe_tasks(doc, TASK_ARN)
        assert (described.memory_mib, described.containers) == (
            2048,
            (ContainerSpec("ecs-demo", 1024, None),),
        )

    def test_memory_from_override(self) -> None:
        """A container without figures takes memory and memoryReservation from its override."""
        doc = describe_tasks_example()
        doc["tasks"][0]["overrides"]["containerOverrides"][0].update(memory=768, memoryReservation=512)  # added
        assert ecs_api.parse_describe_tasks(doc, TASK_ARN).containers == (ContainerSpec("ecs-demo", 768, 512),)

    def test_container_figure_beats_override(self) -> None:
        """When both are present, the container's own figure (already the effective one) is kept."""
        doc = describe_tasks_example()
        doc["tasks"][0]["containers"][0]["memory"] = "640"  # added
        doc["tasks"][0]["overrides"]["containerOverrides"][0]["memory"] = 768  # added
        assert ecs_api.parse_describe_tasks(doc, TASK_ARN).containers == (ContainerSpec("ecs-demo", 640, None),)

    @pytest.mark.parametrize("memory", ["0", "", 0, " 0 ", "00"])
    def test_zero_or_empty_is_no_limit(self, memory: Any) -> None:
        """A memory of 0 or an empty string means no limit."""
        doc = describe_tasks_example()
        doc["tasks"][0]["containers"][0]["memory"] = memory  # added
        assert ecs_api.parse_describe_tasks(doc, TASK_ARN).containers[0].memory_mib is None

    def test_picks_the_matching_task(self) -> None:
        """With several tasks in the answer, the one whose taskArn matches is read."""
        doc = describe_tasks_with_sizes()
        other = describe_tasks_example()["tasks"][0]
        other["taskArn"] = "arn:aws:ecs:us-east-1:123456789012:task/0000"  # changed: another task
        other["memory"] = "4096"  # added
        doc["tasks"].insert(0, other)  # added: listed before ours
        assert ecs_api.parse_describe_tasks(doc, TASK_ARN).memory_mib == 1024

    def test_task_missing(self) -> None:
        """A task the answer does not contain is an error quoting the answer's failures."""
        doc = {"tasks": [], "failures": [{"arn": TASK_ARN, "reason": "MISSING"}]}
        with pytest.raises(SourceError) as info:
            ecs_api.parse_describe_tasks(doc, TASK_ARN)
        assert str(info.value) == (
            f"DescribeTasks: task '{TASK_ARN}' not in the answer (failures: [{{'arn': '{TASK_ARN}', "
            "'reason': 'MISSING'}])"
        )

    @pytest.mark.parametrize(
        ("memory", "shown"),
        [
            ("lots", "'lots'"),
            ("512MiB", "'512MiB'"),
            ("-5", "'-5'"),
            ("²", "'²'"),
            (True, "True"),
            (-5, "-5"),
            ("9" * 5000, "'" + "9" * 76 + "..."),
        ],
    )
    def test_bad_memory(self, memory: Any, shown: str) -> None:
        """A memory that is not a whole number of MiB is named with the container's index; the rest is kept."""
        doc = describe_tasks_with_sizes()
        doc["tasks"][0]["containers"][0]["memory"] = memory  # changed
        described = ecs_api.parse_describe_tasks(doc, TASK_ARN)
        assert (described.memory_mib, described.containers[0].memory_mib, described.problems) == (
            1024,
            None,
            (f"DescribeTasks containers[0].memory={shown}: expected a whole number of MiB",),
        )

    def test_implausible_memory(self) -> None:
        """A memory above 64 TiB is rejected as implausible, not planned."""
        doc = describe_tasks_example()
        doc["tasks"][0]["memory"] = str(1 << 40)  # added: 2^40 MiB = 1 EiB
        described = ecs_api.parse_describe_tasks(doc, TASK_ARN)
        assert (described.memory_mib, described.problems) == (
            None,
            ("DescribeTasks tasks[0].memory='1099511627776': implausible, expected at most 67108864 MiB",),
        )

    def test_bad_task_memory(self) -> None:
        """A task memory that is not a number of MiB is named; the containers are kept."""
        doc = describe_tasks_example()
        doc["tasks"][0]["memory"] = "1 GB"  # added
        described = ecs_api.parse_describe_tasks(doc, TASK_ARN)
        assert (described.memory_mib, described.containers, described.problems) == (
            None,
            (ContainerSpec("ecs-demo", None, None),),
            ("DescribeTasks tasks[0].memory='1 GB': expected a whole number of MiB",),
        )

    def test_tasks_not_a_list(self) -> None:
        """A `tasks` that is not a list fails the whole answer: the task is not in it."""
        doc = describe_tasks_example()
        doc["tasks"] = {}  # changed
        with pytest.raises(SourceError) as info:
            ecs_api.parse_describe_tasks(doc, TASK_ARN)
        assert str(info.value) == "DescribeTasks.tasks={}: expected a list"

    @pytest.mark.parametrize(
        ("change", "message", "containers"),
        [
            (
                lambda doc: doc["tasks"][0].update(containers={"name": "ecs-demo"}),
                "DescribeTasks tasks[0].containers={'name': 'ecs-demo'}: expected a list",
                0,
            ),
            (
                lambda doc: doc["tasks"][0]["containers"][0].pop("name"),
                "DescribeTasks containers[0]: expected an object with a name",
                0,
            ),
            (
                lambda doc: doc["tasks"][0].update(overrides={"containerOverrides": {}}),
                "DescribeTasks overrides.containerOverrides={}: expected a list",
                1,
            ),
            (
                lambda doc: doc["tasks"][0]["overrides"]["containerOverrides"][0].update(
                    environment="NODE_OPTIONS=--max-old-space-size=384"
                ),
                "DescribeTasks containers[0] override.environment='NODE_OPTIONS=--max-old-space-size=384': "
                "expected a list",
                1,
            ),
        ],
    )
    def test_malformed(self, change: Any, message: str, containers: int) -> None:
        """A field of the wrong shape is named where it was; the task memory survives it."""
        doc = describe_tasks_with_sizes()
        change(doc)  # changed: the field named in the message
        described = ecs_api.parse_describe_tasks(doc, TASK_ARN)
        assert (described.memory_mib, len(described.containers), described.problems) == (1024, containers, (message,))

    def test_not_an_object(self) -> None:
        """An answer that is not an object is an error."""
        with pytest.raises(SourceError) as info:
            ecs_api.parse_describe_tasks([], TASK_ARN)
        assert str(info.value) == "DescribeTasks: expected an object, got list"


class TestParseTaskDefinition:
    def test_botocore_example(self) -> None:
        """The botocore example has two essential containers of 500 MiB and no task size."""
        assert ecs_api.parse_task_definition(task_definition_example()) == HELLO_WORLD

    def test_node_app_fields(self) -> None:
        """Task size, reservation, NODE_OPTIONS, dependsOn, command, entryPoint, environmentFiles are read."""
        doc = task_definition_example()
        definition = doc["taskDefinition"]
        definition["memory"] = "1024"  # added: task size, a string of MiB (botocore shape `TaskDefinition`)
        wordpress = definition["containerDefinitions"][0]
        del wordpress["memory"]  # removed: only a soft limit below
        wordpress["memoryReservation"] = 384  # added
        wordpress["environment"] = [{"name": "NODE_OPTIONS", "value": "--enable-source-maps"}]  # changed
        wordpress["dependsOn"] = [{"containerName": "mysql", "condition": "HEALTHY"}]  # added
        wordpress["command"] = ["node", "server.js"]  # added
        wordpress["entryPoint"] = ["docker-entrypoint.sh"]  # added
        wordpress["environmentFiles"] = [{"value": "arn:aws:s3:::config-bucket/app.env", "type": "s3"}]  # added
        assert ecs_api.parse_task_definition(doc) == TaskDefinition(
            arn="arn:aws:ecs:us-east-1:<aws_account_id>:task-definition/hello_world:8",
            memory_mib=1024,
            containers=(
                ContainerSpec(
                    "wordpress",
                    None,
                    384,
                    image="wordpress",
                    essential=True,
                    depends_on=(("mysql", "HEALTHY"),),
                    node_options="--enable-source-maps",
                    command=("node", "server.js"),
                    entry_point=("docker-entrypoint.sh",),
                    environment_files=True,
                ),
                ContainerSpec("mysql", 500, None, image="mysql", essential=True),
            ),
        )

    def test_firelens_log_router(self) -> None:
        """The FireLens docs' task definition: `log_router` is a `fluentbit` router with only a reservation."""
        doc = {"taskDefinition": ecs_payload("firelens-task-definition.json")}  # the docs' JSON, as the API answers
        log_router, app = ecs_api.parse_task_definition(doc).containers
        assert (log_router.name, log_router.memory_mib, log_router.reservation_mib, log_router.firelens_type) == (
            "log_router",
            None,
            50,
            "fluentbit",
        )
        assert (app.name, app.firelens_type) == ("app", None)

    def test_only_names(self) -> None:
        """A container with only a name and a definition with only containers leave the rest unset."""
        doc = {"taskDefinition": {"containerDefinitions": [{"name": "app"}]}}
        assert ecs_api.parse_task_definition(doc) == TaskDefinition(None, None, (ContainerSpec("app", None, None),))

    def test_dependency_without_condition(self) -> None:
        """A dependsOn entry without a condition keeps an empty condition; one without a name is dropped."""
        doc = task_definition_example()
        doc["taskDefinition"]["containerDefinitions"][0]["dependsOn"] = [  # added
            {"containerName": "mysql"},
            {"condition": "START"},
        ]
        assert ecs_api.parse_task_definition(doc).containers[0].depends_on == (("mysql", ""),)

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            (
                lambda doc: doc.pop("taskDefinition"),
                "DescribeTaskDefinition: no taskDefinition in the answer",
            ),
            (
                lambda doc: doc.update(taskDefinition=[]),
                "DescribeTaskDefinition.taskDefinition=[]: expected a dict",
            ),
        ],
    )
    def test_unusable(self, change: Any, message: str) -> None:
        """An answer without a readable taskDefinition object is an error naming where it was."""
        doc = task_definition_example()
        change(doc)  # changed: the field named in the message
        with pytest.raises(SourceError) as info:
            ecs_api.parse_task_definition(doc)
        assert str(info.value) == message

    @pytest.mark.parametrize(
        ("change", "message", "names"),
        [
            (
                lambda doc: doc["taskDefinition"].update(containerDefinitions={}),
                "DescribeTaskDefinition taskDefinition.containerDefinitions={}: expected a list",
                [],
            ),
            (
                lambda doc: doc["taskDefinition"]["containerDefinitions"][1].pop("name"),
                "DescribeTaskDefinition containerDefinitions[1]: expected an object with a name",
                ["wordpress"],
            ),
            (
                lambda doc: doc["taskDefinition"]["containerDefinitions"][1].update(memory="500m"),
                "DescribeTaskDefinition containerDefinitions[1].memory='500m': expected a whole number of MiB",
                ["wordpress", "mysql"],
            ),
            (
                lambda doc: doc["taskDefinition"]["containerDefinitions"][0].update(memoryReservation=False),
                "DescribeTaskDefinition containerDefinitions[0].memoryReservation=False: "
                "expected a whole number of MiB",
                ["wordpress", "mysql"],
            ),
            (
                lambda doc: doc["taskDefinition"].update(memory="1 GB"),
                "DescribeTaskDefinition taskDefinition.memory='1 GB': expected a whole number of MiB",
                ["wordpress", "mysql"],
            ),
            (
                lambda doc: doc["taskDefinition"]["containerDefinitions"][1].update(environment={"a": "b"}),
                "DescribeTaskDefinition containerDefinitions[1].environment={'a': 'b'}: expected a list",
                ["wordpress", "mysql"],
            ),
        ],
    )
    def test_malformed(self, change: Any, message: str, names: list[str]) -> None:
        """A field of the wrong shape is named where it was; every readable container is kept."""
        doc = task_definition_example()
        change(doc)  # changed: the field named in the message
        definition = ecs_api.parse_task_definition(doc)
        assert ([c.name for c in definition.containers], definition.problems) == (names, (message,))


NODE = {
    "name": "node",
    "image": "node:22",
    "memory": 768,
    "memoryReservation": 512,
    "essential": True,
    "environment": [{"name": "NODE_OPTIONS", "value": "--enable-source-maps"}],
    "dependsOn": [{"containerName": "heap-init", "condition": "SUCCESS"}],
    "command": ["node", "server.js"],
    "entryPoint": ["docker-entrypoint.sh"],
}
HEAP_INIT = {
    "name": "heap-init",
    "image": "node-heap-sidecar:latest",
    "memoryReservation": 32,
    "essential": False,
}
ENVOY = {
    "name": "envoy",
    "image": "envoyproxy/envoy:v1.31",
    "memory": 128,
    "essential": True,
    "environmentFiles": [{"value": "arn:aws:s3:::config-bucket/envoy.env", "type": "s3"}],
}
WEB_1 = TaskDefinition(
    arn="arn:aws:ecs:us-east-1:123456789012:task-definition/web:1",
    memory_mib=1024,
    containers=(
        ContainerSpec(
            "node",
            768,
            512,
            image="node:22",
            essential=True,
            depends_on=(("heap-init", "SUCCESS"),),
            node_options="--enable-source-maps",
            command=("node", "server.js"),
            entry_point=("docker-entrypoint.sh",),
        ),
        ContainerSpec("heap-init", None, 32, image="node-heap-sidecar:latest", essential=False),
        ContainerSpec("envoy", 128, None, image="envoyproxy/envoy:v1.31", essential=True, environment_files=True),
    ),
)


class TestFetchTaskFromApi:
    def test_moto_task(self, moto: MotoServer, aws_credentials: None) -> None:
        """Against moto: DescribeTasks gives the task (first container only), DescribeTaskDefinition all."""
        moto.create_cluster("app")
        moto.register_task_definition("web", [NODE, HEAP_INIT, ENVOY], memory="1024")
        overrides = {
            "containerOverrides": [
                {
                    "name": "node",
                    "environment": [{"name": "NODE_OPTIONS", "value": "--max-old-space-size=448"}],
                }
            ]
        }
        task = moto.run_task("app", "web:1", overrides=overrides)
        result = ecs_api.fetch_task_from_api(
            task_arn=task["taskArn"], cluster="app", task_definition=None, endpoint_url=moto.endpoint
        )
        assert result == ApiResult(
            task=TaskDescription(
                memory_mib=None,  # moto does not report the task size in DescribeTasks
                containers=(
                    ContainerSpec("node", 768, None, image="node:22", node_options="--max-old-space-size=448"),
                ),
                task_definition_arn="arn:aws:ecs:us-east-1:123456789012:task-definition/web:1",
                group="family:web",
                launch_type="FARGATE",
            ),
            task_definition=WEB_1,
            errors=(),
        )

    def test_moto_ec2_task(self, moto: MotoServer, aws_credentials: None) -> None:
        """Against moto: an EC2 task placed on a container instance reads the same way."""
        moto.create_cluster("app")
        moto.register_container_instance("app")
        moto.register_task_definition("web", [NODE, HEAP_INIT, ENVOY], memory="1024")
        task = moto.run_task("app", "web:1", launch_type="EC2")
        result = ecs_api.fetch_task_from_api(
            task_arn=task["taskArn"], cluster="app", task_definition=None, endpoint_url=moto.endpoint
        )
        assert (result.task, result.errors) == (
            TaskDescription(
                memory_mib=None,
                containers=(ContainerSpec("node", 768, None, image="node:22"),),
                task_definition_arn="arn:aws:ecs:us-east-1:123456789012:task-definition/web:1",
                group="family:web",
                launch_type="EC2",
            ),
            (),
        )

    def test_moto_unknown_task(self, moto: MotoServer, aws_credentials: None) -> None:
        """A task moto does not know is recorded, and the definition still comes from family:revision."""
        moto.create_cluster("app")
        moto.register_task_definition("web", [NODE, HEAP_INIT, ENVOY], memory="1024")
        arn = "arn:aws:ecs:us-east-1:123456789012:task/app/0123456789abcdef0123456789abcdef"
        result = ecs_api.fetch_task_from_api(
            task_arn=arn, cluster="app", task_definition="web:1", endpoint_url=moto.endpoint
        )
        assert result == ApiResult(
            task=None,
            task_definition=WEB_1,
            errors=(f"DescribeTasks: task '{arn}' not in the answer",),
        )

    def test_documented_shape(self, ecs_stub: EcsJsonStub, aws_credentials: None) -> None:
        """The AWS-documented DescribeTasks shape (strings of MiB, overrides) goes through boto3's parser."""
        ecs_stub.answer("DescribeTasks", describe_tasks_with_sizes())
        ecs_stub.answer("DescribeTaskDefinition", task_definition_example())
        result = ecs_api.fetch_task_from_api(
            task_arn=TASK_ARN, cluster="default", task_definition=None, endpoint_url=ecs_stub.endpoint
        )
        assert (result, ecs_stub.calls()) == (
            ApiResult(
                task=TaskDescription(
                    memory_mib=1024,
                    containers=(
                        ContainerSpec(
                            "ecs-demo",
                            512,
                            256,
                            image="amazon/amazon-ecs-sample",
                            node_options="--max-old-space-size=384",
                        ),
                    ),
                    task_definition_arn=EXAMPLE_TASK_DEFINITION_ARN,
                    group="service:sample-webapp",
                    launch_type="EC2",
                ),
                task_definition=HELLO_WORLD,
                errors=(),
            ),
            [
                ("DescribeTasks", {"tasks": [TASK_ARN], "cluster": "default"}),
                ("DescribeTaskDefinition", {"taskDefinition": EXAMPLE_TASK_DEFINITION_ARN}),
            ],
        )

    def test_access_denied(self, ecs_stub: EcsJsonStub, aws_credentials: None) -> None:
        """AccessDeniedException from both calls is recorded in `errors`, each call made once."""
        for action in ("DescribeTasks", "DescribeTaskDefinition"):
            message = ACCESS_DENIED.format(action=action)
            ecs_stub.script(action, Reply.aws_error("AccessDeniedException", message))
        result = ecs_api.fetch_task_from_api(
            task_arn=TASK_ARN,
            cluster="default",
            task_definition="hello_world:8",
            endpoint_url=ecs_stub.endpoint,
        )
        assert (result, ecs_stub.routes()) == (
            ApiResult(
                task=None,
                task_definition=None,
                errors=(
                    "DescribeTasks: AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/"
                    "web-task/0123 is not authorized to perform: ecs:DescribeTasks on resource: * because no "
                    "identity-based policy allows the ecs:DescribeTasks action",
                    "DescribeTaskDefinition: AccessDeniedException: User: arn:aws:sts::123456789012:"
                    "assumed-role/web-task/0123 is not authorized to perform: ecs:DescribeTaskDefinition on "
                    "resource: * because no identity-based policy allows the ecs:DescribeTaskDefinition "
                    "action",
                ),
            ),
            ["DescribeTasks", "DescribeTaskDefinition"],
        )

    def test_no_definition_known(self, ecs_stub: EcsJsonStub, aws_credentials: None) -> None:
        """When DescribeTasks fails and no family:revision is given, DescribeTaskDefinition is not asked."""
        ecs_stub.script("DescribeTasks", Reply.aws_error("AccessDeniedException", "denied"))
        result = ecs_api.fetch_task_from_api(
            task_arn=TASK_ARN, cluster="default", task_definition=None, endpoint_url=ecs_stub.endpoint
        )
        assert (result.errors, ecs_stub.routes()) == (
            (
                "DescribeTasks: AccessDeniedException: denied",
                "DescribeTaskDefinition: no task definition ARN or family:revision known",
            ),
            ["DescribeTasks"],
        )

    def test_server_error_retried(self, ecs_stub: EcsJsonStub, aws_credentials: None) -> None:
        """A 500 ServerException is retried (standard mode) and the answer that follows is used."""
        ecs_stub.script(
            "DescribeTasks",
            Reply.aws_error("ServerException", "Service Unavailable. Please try again later.", 500),
            Reply.json(describe_tasks_with_sizes(), content_type="application/x-amz-json-1.1"),
        )
        ecs_stub.answer("DescribeTaskDefinition", task_definition_example())
        result = ecs_api.fetch_task_from_api(
            task_arn=TASK_ARN, cluster="default", task_definition=None, endpoint_url=ecs_stub.endpoint
        )
        assert (result.errors, result.task is not None, ecs_stub.attempts("DescribeTasks")) == ((), True, 2)

    def test_server_error_exhausted(self, ecs_stub: EcsJsonStub, aws_credentials: None) -> None:
        """A ServerException that persists is recorded after 3 attempts."""
        ecs_stub.script("DescribeTasks", Reply.aws_error("ServerException", "Service Unavailable.", 500))
        ecs_stub.answer("DescribeTaskDefinition", task_definition_example())
        result = ecs_api.fetch_task_from_api(
            task_arn=TASK_ARN,
            cluster="default",
            task_definition="hello_world:8",
            endpoint_url=ecs_stub.endpoint,
        )
        assert (result, ecs_stub.attempts("DescribeTasks")) == (
            ApiResult(None, HELLO_WORLD, ("DescribeTasks: ServerException: Service Unavailable.",)),
            3,
        )

    def test_malformed_answer_recorded(self, ecs_stub: EcsJsonStub, aws_credentials: None) -> None:
        """A DescribeTasks field that boto3 accepts but we cannot read is recorded with its own message; the rest of
        the answer, and DescribeTaskDefinition, are kept."""
        doc = describe_tasks_example()
        doc["tasks"][0]["containers"][0]["memory"] = "lots"  # added
        ecs_stub.answer("DescribeTasks", doc)
        ecs_stub.answer("DescribeTaskDefinition", task_definition_example())
        result = ecs_api.fetch_task_from_api(
            task_arn=TASK_ARN, cluster="default", task_definition=None, endpoint_url=ecs_stub.endpoint
        )
        assert (result.task is not None, result.task_definition is not None, result.errors) == (
            True,
            True,
            ("DescribeTasks containers[0].memory='lots': expected a whole number of MiB",),
        )

    def test_connection_refused(self, refused_port: int, aws_credentials: None) -> None:
        """An endpoint that refuses connections is recorded for both calls."""
        endpoint = f"http://127.0.0.1:{refused_port}"
        result = ecs_api.fetch_task_from_api(
            task_arn=TASK_ARN, cluster="default", task_definition="hello_world:8", endpoint_url=endpoint
        )
        assert result == ApiResult(
            task=None,
            task_definition=None,
            errors=(
                f'DescribeTasks: EndpointConnectionError: Could not connect to the endpoint URL: "{endpoint}/"',
                "DescribeTaskDefinition: EndpointConnectionError: Could not connect to the endpoint URL: "
                f'"{endpoint}/"',
            ),
        )

    def test_endpoint_from_environment(
        self, ecs_stub: EcsJsonStub, aws_credentials: None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without endpoint_url, boto3 takes the endpoint from AWS_ENDPOINT_URL_ECS."""
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECS", ecs_stub.endpoint)
        ecs_stub.answer("DescribeTasks", describe_tasks_example())
        ecs_stub.answer("DescribeTaskDefinition", task_definition_example())
        result = ecs_api.fetch_task_from_api(task_arn=TASK_ARN, cluster=None, task_definition=None)
        assert (result.task_definition, result.errors, ecs_stub.calls()[0]) == (
            HELLO_WORLD,
            (),
            ("DescribeTasks", {"tasks": [TASK_ARN]}),
        )

    def test_no_credentials(self, ecs_stub: EcsJsonStub, aws_env: None) -> None:
        """With no credentials anywhere, the API is skipped and nothing is sent."""
        result = ecs_api.fetch_task_from_api(
            task_arn=TASK_ARN,
            cluster="default",
            task_definition="hello_world:8",
            endpoint_url=ecs_stub.endpoint,
        )
        assert (result, ecs_stub.routes()) == (
            ApiResult(None, None, (), skipped="no AWS credentials (task role) available"),
            [],
        )

    def test_no_region(self, aws_credentials: None) -> None:
        """A task ARN without a region skips the API."""
        result = ecs_api.fetch_task_from_api(
            task_arn="c5cba4eb-5dad-405e-96db-71ef8eefe6a8", cluster=None, task_definition=None
        )
        assert result == ApiResult(
            None, None, (), skipped="TaskARN='c5cba4eb-5dad-405e-96db-71ef8eefe6a8' has no region"
        )

    def test_invalid_region(self, ecs_stub: EcsJsonStub, aws_credentials: None) -> None:
        """A region boto3 rejects (the docs' "<region>") skips the API instead of raising."""
        result = ecs_api.fetch_task_from_api(
            task_arn=EXAMPLE_TASK_ARN, cluster=None, task_definition=None, endpoint_url=ecs_stub.endpoint
        )
        assert (result, ecs_stub.routes()) == (
            ApiResult(
                None,
                None,
                (),
                skipped="ECS client could not be created: Provided region_name '<region>' doesn't match a "
                "supported format.",
            ),
            [],
        )
