"""The CLI as ECS runs it: a real process, real HTTP on 127.0.0.1 (TMDS stub, moto, ECS JSON stub).

Each test runs `python -m sidecar` with an environment built from scratch, and asserts on its exit
code, its JSON events on stdout, its one-line error on stderr and the env file it wrote (or not).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.runs import Result, run_cli
from tests.servers import EcsJsonStub, MotoServer, TmdsStub, ecs_payload

FIXTURES = Path(__file__).parent / "fixtures"
NO_MEMINFO_TREE = FIXTURES / "cgroup" / "v2-only-no-memory-controller"


def fargate(memory_mib: int = 512, *, extra: list[dict[str, Any]] | None = None) -> tuple[Any, Any]:
    task = ecs_payload("fargate-task-metadata.json")
    task["Limits"]["Memory"] = memory_mib  # changed: the task size under test
    task["Containers"][1]["Image"] = "public.ecr.aws/docker/library/node:22-slim"  # changed: a Node app
    task["Containers"] += extra or []  # added: sidecars, where a test needs them
    container = ecs_payload("fargate-container-metadata.json")
    container["Name"] = "curl-image"  # changed: the docs' container example is "curl"; match the task
    return container, task


def run_with_envoy(tmp_path: Path, *, task_mib: int, envoy_mib: int) -> Result:
    """The Fargate example plus an envoy sidecar with a hard limit, Node named explicitly."""
    envoy = {"Name": "envoy", "Type": "NORMAL", "Limits": {"CPU": 2, "Memory": envoy_mib}, "Image": "envoy:v1"}
    container, task = fargate(task_mib, extra=[envoy])  # added: the envoy sidecar
    with TmdsStub(container=container, task=task) as stub:
        return run_cli(
            tmp_path, ECS_CONTAINER_METADATA_URI_V4=stub.uri, NODE_HEAP_ECS_API="off", NODE_HEAP_TARGET="fargate-app"
        )


class TestFargate:
    def test_writes_the_file_and_logs_one_decision(self, tmp_path: Path) -> None:
        """The AWS Fargate example (512 MiB task, app without its own limit): the task's memory is used."""
        container, task = fargate()
        with TmdsStub(container=container, task=task) as stub:
            result = run_cli(tmp_path, ECS_CONTAINER_METADATA_URI_V4=stub.uri, NODE_HEAP_ECS_API="off")
        assert result.code == 0, result.stderr
        assert result.names() == [
            "settings_loaded",
            "source_read",
            "source_read",
            "source_read",
            "source_read",
            "env_file_written",
            "decision",
        ]
        decision = result.event("decision")
        assert decision["container"] == "fargate-app"
        assert decision["container_reason"] == "the only other container of the task"
        assert decision["memory_mib"] == 512
        assert decision["memory_where"] == f"{stub.task_url} Limits.Memory"
        # 512 MiB, Node 22: 52 headroom + 40 binary leave 420; young 3/55 of it = ceil(22.9) = 23 (semi-space 4);
        # 420 - 12 - 23 = 385 = 366 + ceil(18.3)
        assert decision["node_options_added"] == "--max-old-space-size=366 --max-semi-space-size=4"
        assert decision["node_semi_space_mib"] == 1  # what Node 22 picks by itself in 512 MiB
        assert (decision["task_cpu_vcpus"], decision["container_cpu_units"]) == (0.25, 2)
        assert (
            decision["task_arn"]
            == "arn:aws:ecs:us-east-1:123456789012:task/MyEmptyCluster/bfa2636268144d039771334145e490c5"
        )
        text = (tmp_path / "node-heap.env").read_text()
        assert "NODE_HEAP_OPTIONS='--max-old-space-size=366 --max-semi-space-size=4'" in text

    def test_decision_carries_valid_emf(self, tmp_path: Path) -> None:
        """The decision line is an EMF document: every metric and dimension it names is a top-level member."""
        container, task = fargate()
        with TmdsStub(container=container, task=task) as stub:
            decision = run_cli(tmp_path, ECS_CONTAINER_METADATA_URI_V4=stub.uri, NODE_HEAP_ECS_API="off").event(
                "decision"
            )
        directive = decision["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "NodeHeapSidecar"
        assert directive["Dimensions"] == [["Cluster", "TaskFamily", "Container"]]
        assert (decision["Cluster"], decision["TaskFamily"], decision["Container"]) == (
            "MyEmptyCluster",
            "sample-fargate",
            "fargate-app",
        )
        assert decision["ContainerMemoryBytes"] == 512 * 1024 * 1024
        assert decision["HeapLimitBytes"] == 366 * 1024 * 1024
        assert {m["Name"] for m in directive["Metrics"]} == {
            "ContainerMemoryBytes",
            "HeapLimitBytes",
            "KeptBackBytes",
            "Processes",
        }

    def test_sidecar_memory_comes_off_the_task(self, tmp_path: Path) -> None:
        """An envoy sidecar with a 128 MiB hard limit in a 1024 MiB task leaves Node 896 MiB."""
        decision = run_with_envoy(tmp_path, task_mib=1024, envoy_mib=128).event("decision")
        assert decision["memory_mib"] == 896
        assert decision["memory_arithmetic"] == "task 1024 MiB - envoy 128 MiB = 896 MiB"

    def test_sidecars_that_take_the_whole_task(self, tmp_path: Path) -> None:
        """A 512 MiB envoy in a 512 MiB task leaves Node nothing: too small, the smallest heap Node 22 starts with,
        both warnings."""
        result = run_with_envoy(tmp_path, task_mib=512, envoy_mib=512)
        decision = result.event("decision")
        assert (result.code, decision["status"], decision["node_options_added"]) == (
            0,
            "too_small",
            "--max-old-space-size=10 --max-semi-space-size=1",
        )
        assert {"sidecars_take_everything", "container_too_small", "no_heap_fits"} <= set(result.names())

    def test_same_inputs_same_file(self, tmp_path: Path) -> None:
        """Two runs over the same task write byte-identical files (nothing time-dependent in it)."""
        container, task = fargate()
        with TmdsStub(container=container, task=task) as stub:
            run_cli(tmp_path, ECS_CONTAINER_METADATA_URI_V4=stub.uri, NODE_HEAP_ECS_API="off")
            first = (tmp_path / "node-heap.env").read_bytes()
            run_cli(tmp_path, ECS_CONTAINER_METADATA_URI_V4=stub.uri, NODE_HEAP_ECS_API="off")
        assert (tmp_path / "node-heap.env").read_bytes() == first

    def test_ambiguous_target(self, tmp_path: Path) -> None:
        """Two candidates and no NODE_HEAP_TARGET: exit 3, the candidates listed, nothing written."""
        envoy = {"Name": "envoy", "Type": "NORMAL", "Limits": {"CPU": 2}, "Image": "envoy:v1"}
        container, task = fargate(extra=[envoy])
        with TmdsStub(container=container, task=task) as stub:
            result = run_cli(tmp_path, ECS_CONTAINER_METADATA_URI_V4=stub.uri, NODE_HEAP_ECS_API="off")
        assert result.code == 3
        assert result.stderr == (
            "node-heap-sidecar: NODE_HEAP_TARGET is unset and the task has 2 other containers "
            "(envoy, fargate-app): set it to the Node container's name\n"
        )
        assert result.event("run_failed")["exit_code"] == 3
        assert not (tmp_path / "node-heap.env").exists()


class TestSettingsErrors:
    def test_every_bad_variable_in_one_line(self, tmp_path: Path) -> None:
        """Bad values: exit 2, one line naming each variable, and no file."""
        result = run_cli(tmp_path, NODE_HEAP_RATIO="abc", NODE_HEAP_PROCESSES="0", NODE_HEAP_ON_ERROR="maybe")
        assert result.code == 2
        assert result.stderr == (
            "node-heap-sidecar: NODE_HEAP_PROCESSES='0': expected a whole number from 1 to 1024; "
            "NODE_HEAP_RATIO='abc': expected a number greater than 0 and at most 1; "
            "NODE_HEAP_ON_ERROR='maybe': expected one of open, closed\n"
        )
        assert result.event("run_failed")["exit_code"] == 2
        assert not (tmp_path / "node-heap.env").exists()

    def test_flag_wins_over_environment(self, tmp_path: Path) -> None:
        """`--memory-mib 512` overrides NODE_HEAP_MEMORY_MIB=256."""
        result = run_cli(tmp_path, "--memory-mib", "512", NODE_HEAP_MEMORY_MIB="256")
        assert result.event("decision")["memory_mib"] == 512


class TestPolicy:
    def test_no_limit_open_writes_a_file_without_flags(self, tmp_path: Path) -> None:
        """Nothing limits the container (no TMDS, no cgroup memory, no meminfo): open mode writes no flag, exit 0."""
        tree = NO_MEMINFO_TREE
        result = run_cli(tmp_path, NODE_HEAP_PROC_ROOT=str(tmp_path), NODE_HEAP_CGROUP_ROOT=str(tree / "sys/fs/cgroup"))
        assert result.code == 0, result.stderr
        assert result.event("decision")["status"] == "no_limit"
        assert "no_limit_found" in result.names()
        text = (tmp_path / "node-heap.env").read_text()
        assert text.endswith("NODE_HEAP_OPTIONS=''\nexport NODE_HEAP_OPTIONS\n")

    def test_no_limit_closed_fails(self, tmp_path: Path) -> None:
        """The same in closed mode: exit 4 and no file."""
        result = run_cli(tmp_path, NODE_HEAP_PROC_ROOT=str(tmp_path), NODE_HEAP_ON_ERROR="closed")
        assert result.code == 4
        assert result.stderr.startswith(
            "node-heap-sidecar: no trustworthy memory limit for the Node container (no limit found) and "
            "NODE_HEAP_ON_ERROR=closed: "
        )
        assert not (tmp_path / "node-heap.env").exists()

    def test_too_small_closed_lists_every_component(self, tmp_path: Path) -> None:
        """64 MiB in closed mode: exit 5, every component listed, the smallest memory that works, no file."""
        result = run_cli(tmp_path, NODE_HEAP_MEMORY_MIB="64", NODE_HEAP_NODE_VERSION="22", NODE_HEAP_ON_ERROR="closed")
        assert result.code == 5
        assert result.stderr == (
            "node-heap-sidecar: container too small: 64 MiB keeps back node binary, resident once 40 MiB "
            "(Node 22: measured on 22.23.3), headroom for off-heap memory 7 MiB (NODE_HEAP_HEADROOM_RATIO=0.1), "
            "isolate base x 1 12 MiB (Node 22: measured on 22.23.3), young generation x 1 3 MiB (speed-first: "
            "Node's own semi-space (more than 3/55 of the budget); semi-space 1 MiB uses 3), V8 heap overhead x 1 "
            "1 MiB (5% of old space (Node 22)), "
            "leaving 1 MiB of old space per isolate, below NODE_HEAP_MIN_MIB; the smallest memory that fits is 99 MiB\n"
        )
        assert not (tmp_path / "node-heap.env").exists()

    def test_too_small_open_writes_the_smallest_heap_node_starts_with(self, tmp_path: Path) -> None:
        """The same in open mode: the 1 MiB that fits is below the 10 MiB Node 22 starts with (Node exits 133 with
        `--max-old-space-size=1`), so loud warnings and a 10 MiB heap (not Node's own 259 MiB), exit 0."""
        result = run_cli(tmp_path, NODE_HEAP_MEMORY_MIB="64", NODE_HEAP_NODE_VERSION="22")
        assert result.code == 0
        assert (result.event("container_too_small")["level"], result.event("no_heap_fits")["level"]) == (
            "warning",
            "warning",
        )
        assert result.event("decision")["node_options_added"] == "--max-old-space-size=10 --max-semi-space-size=1"


def ec2_task(task_arn: str, family: str, revision: str) -> tuple[Any, Any]:
    """The AWS EC2 example, as a task whose Node container is not created yet (only the init is listed)."""
    task = ecs_payload("ec2-task-metadata.json")
    task["TaskARN"], task["Family"], task["Revision"] = task_arn, family, revision  # changed: the moto task
    task["Cluster"] = "default"
    task["Containers"][1]["Name"] = "heap-init"  # changed: the listed NORMAL container is our init container
    task["Containers"][1]["Limits"]["Memory"] = 64
    container = ecs_payload("ec2-container-metadata.json")
    container["Name"] = "heap-init"  # changed: as above
    return container, task


EC2_CONTAINERS = [
    {"name": "heap-init", "image": "node-heap-sidecar", "memory": 64, "essential": False},
    {
        "name": "app",
        "image": "node:22-bookworm",
        "memory": 768,
        "essential": True,
        "dependsOn": [{"containerName": "heap-init", "condition": "SUCCESS"}],
        "environment": [{"name": "NODE_OPTIONS", "value": "--enable-source-maps --max-old-space-size=600"}],
    },
    {"name": "envoy", "image": "envoy", "memoryReservation": 128, "essential": True},
]


class TestEc2WithTheEcsApi:
    @pytest.fixture
    def task(self, moto: MotoServer) -> dict[str, Any]:
        moto.create_cluster("default")
        moto.register_container_instance("default")
        definition = moto.register_task_definition("api", EC2_CONTAINERS)
        return moto.run_task("default", definition, launch_type="EC2")

    def test_reads_the_node_container_from_the_task_definition(
        self, tmp_path: Path, moto: MotoServer, task: dict[str, Any]
    ) -> None:
        """EC2: TMDS does not list `app` yet; DescribeTaskDefinition gives its 768 MiB and its NODE_OPTIONS."""
        container, tmds_task = ec2_task(task["taskArn"], "api", "1")
        with TmdsStub(container=container, task=tmds_task) as stub:
            result = run_cli(
                tmp_path,
                ECS_CONTAINER_METADATA_URI_V4=stub.uri,
                NODE_HEAP_TARGET="app",
                AWS_ENDPOINT_URL_ECS=moto.endpoint,
                AWS_ACCESS_KEY_ID="testing",
                AWS_SECRET_ACCESS_KEY="testing",
            )
        assert result.code == 0, result.stderr
        decision = result.event("decision")
        assert decision["memory_mib"] == 768
        assert decision["memory_where"] == "DescribeTaskDefinition containerDefinitions[name=app].memory"
        assert decision["status"] == "pinned"
        assert decision["app_heap_flags"] == "--max-old-space-size=600"
        assert decision["node_options_added"] == "--max-semi-space-size=8"
        # 768 MiB, Node 22: 77 + 40 leave 651; young 3/55 = ceil(35.5) = 36 (semi-space 8);
        # 651 - 12 - 36 = 603 = 574 + ceil(28.7): 600 does not fit.
        assert decision["fit_mib"] == 574
        assert result.event("heap_pin_does_not_fit")["level"] == "warning"
        sources = {s["source"]: s for s in decision["sources"]}
        assert sources["ecs_api"]["detail"] == "answered: DescribeTasks, DescribeTaskDefinition"

    def test_ambiguous_without_a_target(self, tmp_path: Path, moto: MotoServer, task: dict[str, Any]) -> None:
        """app and envoy both run beside the init container: the target must be named."""
        container, tmds_task = ec2_task(task["taskArn"], "api", "1")
        with TmdsStub(container=container, task=tmds_task) as stub:
            result = run_cli(
                tmp_path,
                ECS_CONTAINER_METADATA_URI_V4=stub.uri,
                AWS_ENDPOINT_URL_ECS=moto.endpoint,
                AWS_ACCESS_KEY_ID="testing",
                AWS_SECRET_ACCESS_KEY="testing",
            )
        assert result.code == 3
        assert "(app, envoy)" in result.stderr

    def test_without_credentials_no_heap_from_host_memory(self, tmp_path: Path, task: dict[str, Any]) -> None:
        """No task role: the API is skipped and the target's limit is unknown; the machine's MemTotal is not a limit,
        so no heap flag is written (it used to size the heap from this machine's 24 GiB)."""
        container, tmds_task = ec2_task(task["taskArn"], "api", "1")
        with TmdsStub(container=container, task=tmds_task) as stub:
            result = run_cli(tmp_path, ECS_CONTAINER_METADATA_URI_V4=stub.uri, NODE_HEAP_TARGET="app")
        assert result.code == 0, result.stderr
        decision = result.event("decision")
        sources = {s["source"]: s for s in decision["sources"]}
        assert (sources["ecs_api"]["status"], sources["ecs_api"]["detail"]) == (
            "skipped",
            "no AWS credentials (task role) available",
        )
        assert (decision["status"], decision["memory_origin"], decision["node_options_added"]) == ("no_limit", None, "")
        assert {"target_not_listed", "only_host_memory", "no_limit_found"} <= set(result.names())

    def test_without_credentials_closed_fails(self, tmp_path: Path, task: dict[str, Any]) -> None:
        """The same in closed mode: MemTotal alone is no trustworthy limit, so exit 4 and no file."""
        container, tmds_task = ec2_task(task["taskArn"], "api", "1")
        with TmdsStub(container=container, task=tmds_task) as stub:
            result = run_cli(
                tmp_path, ECS_CONTAINER_METADATA_URI_V4=stub.uri, NODE_HEAP_TARGET="app", NODE_HEAP_ON_ERROR="closed"
            )
        assert result.code == 4
        assert result.stderr.startswith(
            "node-heap-sidecar: no trustworthy memory limit for the Node container (no limit from ECS or cgroups "
            "(MemTotal "
        )
        assert not (tmp_path / "node-heap.env").exists()


# The Service Connect proxy as the ECS agent lists it (aws/amazon-ecs-agent @ 8dfceca): ECS names it
# `ecs-service-connect-<id>` (the ServiceConnectConfig attachment's ContainerName), the agent sets its
# image to `ecs-service-connect-agent:interface-<v>` (serviceconnect/manager_linux.go), and as an
# ordinary container of the task its TMDS Type is NORMAL. No memory setting of the author's.
SC_PROXY = "ecs-service-connect-Xg7Ld2"
SC_IMAGE = "ecs-service-connect-agent:interface-v1"


def with_sidecars(task: dict[str, Any], *entries: tuple[str, str]) -> None:
    """Append (name, image) containers shaped like the docs' Fargate app container, without Memory."""
    for index, (name, image) in enumerate(entries):
        entry = json.loads(json.dumps(task["Containers"][1]))  # added: a copy of the docs' container entry
        entry.update(Name=name, DockerName=name, Image=image, DockerId=f"bfa2636268144d039771334145e490c5-{index}")
        entry["Labels"]["com.amazonaws.ecs.container-name"] = name
        task["Containers"].append(entry)


FLUENT_BIT = ecs_payload("firelens-task-definition.json")["containerDefinitions"][0]["image"]


def run_beside_log_router_and_proxy(tmp_path: Path, **env: str) -> Result:
    """The CLI over TMDS alone: a 1024 MiB Fargate task, Node named, a log router and the proxy beside it."""
    container, task = fargate(1024)
    with_sidecars(task, ("log_router", FLUENT_BIT), (SC_PROXY, SC_IMAGE))
    with TmdsStub(container=container, task=task) as stub:
        return run_cli(
            tmp_path,
            ECS_CONTAINER_METADATA_URI_V4=stub.uri,
            NODE_HEAP_ECS_API="off",
            NODE_HEAP_TARGET="fargate-app",
            **env,
        )


class TestSidecarsWithoutMemorySettings:
    def test_firelens_and_service_connect_from_task_metadata(self, tmp_path: Path) -> None:
        """TMDS alone: the log router and the proxy ECS added are counted for their footprints, with warnings."""
        result = run_beside_log_router_and_proxy(tmp_path)
        assert result.code == 0, result.stderr
        decision = result.event("decision")
        # 1024 - 100 (Fluent Bit's footprint) - 64 (Service Connect's) = 860
        assert decision["memory_arithmetic"] == (
            f"task 1024 MiB - log_router 100 MiB (guess) - {SC_PROXY} 64 MiB (guess) = 860 MiB"
        )
        assert [
            (s["container"], s["counted_mib"], s["counted_as"], s["origin"], s["guess"]) for s in decision["sidecars"]
        ] == [
            ("log_router", 100, "sidecar_footprint", "footprint_catalogue", True),
            (SC_PROXY, 64, "sidecar_footprint", "footprint_catalogue", True),
        ]
        assert decision["sidecars"][1]["where"].startswith(
            f"footprint catalogue 'service-connect' (image {SC_IMAGE}), added by ECS (not in the task definition): "
        )
        assert decision["sidecars_not_counted"] == [
            {"container": "curl-image", "reason": "this init container; it exits before Node starts"}
        ]
        warnings = [e for e in result.events if e["event"] == "sidecar_unbounded"]
        assert [w["text"] for w in warnings] == [
            "container 'log_router' has neither a hard limit nor a reservation: counted 100 MiB, the known "
            "footprint of AWS for Fluent Bit / Fluent Bit (FireLens); give it a memory limit, or set "
            "NODE_HEAP_SIBLING_MIB=log_router=<MiB> to what it holds",
            f"container '{SC_PROXY}' has neither a hard limit nor a reservation: counted 64 MiB, the known "
            "footprint of ECS Service Connect proxy (added by ECS); give it a memory limit, or set "
            "NODE_HEAP_SIBLING_MIB=service-connect=<MiB> to what it holds",
        ]

    def test_service_connect_task_needs_no_target(self, tmp_path: Path) -> None:
        """The proxy ECS added is not a candidate for Node: the one app container is still found alone."""
        container, task = fargate(1024)
        with_sidecars(task, (SC_PROXY, SC_IMAGE))
        with TmdsStub(container=container, task=task) as stub:
            result = run_cli(tmp_path, ECS_CONTAINER_METADATA_URI_V4=stub.uri, NODE_HEAP_ECS_API="off")
        assert result.code == 0, result.stderr
        decision = result.event("decision")
        assert (decision["container"], decision["container_reason"]) == (
            "fargate-app",
            "the only other container of the task",
        )
        assert decision["memory_arithmetic"] == f"task 1024 MiB - {SC_PROXY} 64 MiB (guess) = 960 MiB"

    def test_the_setting_replaces_the_guesses(self, tmp_path: Path) -> None:
        """NODE_HEAP_SIBLING_MIB by name and by catalogue key: counted as given, no guess warning."""
        result = run_beside_log_router_and_proxy(tmp_path, NODE_HEAP_SIBLING_MIB="log_router=48,service-connect=128")
        decision = result.event("decision")
        assert decision["memory_arithmetic"] == f"task 1024 MiB - log_router 48 MiB - {SC_PROXY} 128 MiB = 848 MiB"
        assert [s["where"] for s in decision["sidecars"]] == [
            "NODE_HEAP_SIBLING_MIB log_router=48",
            "NODE_HEAP_SIBLING_MIB service-connect=128",
        ]
        assert "sidecar_unbounded" not in result.names()

    def test_service_connect_proxy_from_describe_tasks_beside_the_firelens_definition(self, tmp_path: Path) -> None:
        """The FireLens docs' task definition through the ECS API: the log router's reservation counts, and
        the proxy only DescribeTasks and TMDS list is recognised as added by ECS, not taken for Node."""
        container, task = fargate(1024)
        task["Containers"][1]["Name"] = task["Containers"][1]["DockerName"] = "app"  # changed: the docs' app
        with_sidecars(task, ("log_router", FLUENT_BIT), (SC_PROXY, SC_IMAGE))
        definition = {"taskDefinition": ecs_payload("firelens-task-definition.json")}
        definition["taskDefinition"]["containerDefinitions"][1]["image"] = "node:22-slim"  # changed: a Node app
        definition["taskDefinition"]["containerDefinitions"].append(  # added: this init container
            {"name": "curl-image", "image": "node-heap-sidecar:0.1.0", "essential": False}
        )
        described = ecs_payload("botocore-describe-tasks-example.json")["output"]
        entry = described["tasks"][0]
        entry["taskArn"] = task["TaskARN"]  # changed: this task
        entry["containers"] = [  # changed: this task's containers, as DescribeTasks lists them
            {"name": name, "image": image}
            for name, image in [
                ("curl-image", "node-heap-sidecar:0.1.0"),
                ("app", "node:22-slim"),
                ("log_router", FLUENT_BIT),
                (SC_PROXY, SC_IMAGE),
            ]
        ]
        entry["overrides"]["containerOverrides"] = []  # changed: none
        with (
            TmdsStub(container=container, task=task) as stub,
            EcsJsonStub({"DescribeTasks": described, "DescribeTaskDefinition": definition}) as api,
        ):
            env = {
                "ECS_CONTAINER_METADATA_URI_V4": stub.uri,
                "AWS_ENDPOINT_URL_ECS": api.endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
            }
            unnamed = run_cli(tmp_path, "explain", **env)
            result = run_cli(tmp_path, "explain", NODE_HEAP_TARGET="app", **env)
        # Neither the proxy nor the log router (a known sidecar image) is a candidate for the Node container.
        assert unnamed.code == 0
        assert "Container  app  (the only other container of the task (beside known sidecars: log_router))" in (
            unnamed.stdout.splitlines()
        )
        assert result.code == 0, result.stderr
        assert f"           task 1024 MiB - log_router 50 MiB - {SC_PROXY} 64 MiB (guess) = 910 MiB" in result.stdout
        beside = result.stdout.split("Beside Node (what each container is counted for, and why)\n")[1].split("\n\n")[0]
        lines = beside.splitlines()
        assert lines[0] == f"  {'log_router':<24} {'50 MiB':>12}  its reservation (no hard limit)"
        assert lines[1].strip() == "DescribeTaskDefinition containerDefinitions[name=log_router].memoryReservation"
        assert lines[2] == f"  {SC_PROXY:<24} {'64 MiB':>12}  a guess (no hard limit or reservation)"
        assert (
            lines[3]
            .strip()
            .startswith(
                f"footprint catalogue 'service-connect' (image {SC_IMAGE}), added by ECS (not in the task definition): "
            )
        )
        assert lines[4] == f"  {'curl-image':<24} {'not counted':>12}  this init container; it exits before Node starts"


class TestRunTimeOverrides:
    def test_describe_tasks_override_wins(self, tmp_path: Path) -> None:
        """A RunTask override (DescribeTasks: 1024 MiB) wins over the task definition's 512 MiB."""
        container, tmds_task = ec2_task("arn:aws:ecs:us-west-2:111122223333:task/default/abc", "api", "3")
        described = ecs_payload("botocore-describe-tasks-example.json")["output"]
        entry = described["tasks"][0]
        entry["taskArn"] = tmds_task["TaskARN"]  # changed: this task
        entry["containers"][0].update({"name": "app", "memory": "1024"})  # changed: the override's result
        entry["overrides"]["containerOverrides"][0] = {"name": "app", "memory": 1024}
        definition = ecs_payload("botocore-describe-task-definition-example.json")["output"]
        definition["taskDefinition"]["containerDefinitions"][0].update({"name": "app", "memory": 512})  # changed
        with (
            TmdsStub(container=container, task=tmds_task) as stub,
            EcsJsonStub({"DescribeTasks": described, "DescribeTaskDefinition": definition}) as api,
        ):
            result = run_cli(
                tmp_path,
                ECS_CONTAINER_METADATA_URI_V4=stub.uri,
                NODE_HEAP_TARGET="app",
                AWS_ENDPOINT_URL_ECS=api.endpoint,
                AWS_ACCESS_KEY_ID="testing",
                AWS_SECRET_ACCESS_KEY="testing",
            )
        decision = result.event("decision")
        assert decision["memory_mib"] == 1024
        assert decision["memory_origin"] == "ecs_describe_tasks"
        superseded = [c for c in decision["candidates"] if c["outcome"] == "superseded"]
        assert [(c["origin"], c["value_bytes"]) for c in superseded] == [("ecs_describe_task_definition", 512 << 20)]


class TestExplain:
    def test_table_writes_nothing(self, tmp_path: Path) -> None:
        """`explain` prints the decision and the file it would write, and writes nothing."""
        container, task = fargate()
        with TmdsStub(container=container, task=task) as stub:
            result = run_cli(tmp_path, "explain", ECS_CONTAINER_METADATA_URI_V4=stub.uri, NODE_HEAP_ECS_API="off")
        assert result.code == 0
        assert "Memory     512 MiB" in result.stdout
        assert "  = old space per isolate                366 MiB   largest old space that fits" in result.stdout
        assert "  | NODE_HEAP_OPTIONS='--max-old-space-size=366 --max-semi-space-size=4'" in result.stdout
        assert (
            "    semi-space                             4 MiB   NODE_HEAP_SEMI_SPACE=speed: speed-first: 3/55 of the "
            "budget, at most 3 x 64 MiB; Node 22 picks 1 MiB by itself in 512 MiB"
        ) in result.stdout
        assert "CPU        task 0.25 vCPU, container 2 CPU units (none set)" in result.stdout
        assert not (tmp_path / "node-heap.env").exists()

    def test_json(self, tmp_path: Path) -> None:
        """`explain --json` is the decision record plus the file's text."""
        result = run_cli(tmp_path, "explain", "--json", NODE_HEAP_MEMORY_MIB="1024", NODE_HEAP_NODE_VERSION="22")
        record = json.loads(result.stdout)
        # 881 - 12 - ceil(3/55 x 881) = 820 = 780 + 39 (test_plan.py works it out)
        assert (record["memory_mib"], record["heap_mib"], record["semi_space_mib"]) == (1024, 780, 16)
        assert "--max-old-space-size=780" in record["env_text"]


class TestEmulate:
    def test_runs_the_job_against_the_shipped_task_definition(self, tmp_path: Path) -> None:
        """`emulate -- python -m sidecar` sizes the heap from task-definition.json (1024 MiB, app on Node 22)."""
        result = run_cli(tmp_path, "emulate", "--", sys.executable, "-m", "sidecar", NODE_HEAP_ECS_API="off")
        assert result.code == 0, result.stderr
        decision = result.event("decision")
        assert (decision["memory_mib"], decision["container"], decision["node_version"]) == (1024, "app", "22")

    def test_ec2_launch_type_hides_the_node_container(self, tmp_path: Path) -> None:
        """On EC2 the Node container is not listed yet, so without the API only the task limit is known."""
        result = run_cli(
            tmp_path, "emulate", "--launch-type", "EC2", "--", sys.executable, "-m", "sidecar", NODE_HEAP_ECS_API="off"
        )
        decision = result.event("decision")
        assert decision["memory_mib"] == 1024
        assert "target_not_listed" in result.names()


def web_and_worker(task_mib: int, *, worker_mib: int | None = None, log_router: bool = False) -> tuple[Any, Any]:
    """The Fargate example with a second Node container, `worker`, and optionally a FireLens log router."""
    worker: dict[str, Any] = {"Name": "worker", "Type": "NORMAL", "Limits": {"CPU": 2}, "Image": "node:22-slim"}
    if worker_mib is not None:
        worker["Limits"]["Memory"] = worker_mib
    extra = [worker]
    if log_router:
        extra.append(
            {"Name": "log_router", "Type": "NORMAL", "Limits": {"CPU": 2}, "Image": "amazon/aws-for-fluent-bit:2.32.0"}
        )
    return fargate(task_mib, extra=extra)  # added: the worker (and the log router)


class TestSeveralNodeContainers:
    """NODE_HEAP_TARGET=web,worker: one budget and one env file per Node container, the others counted beside it."""

    def run(self, tmp_path: Path, container: Any, task: Any, **env: str) -> Result:
        with TmdsStub(container=container, task=task) as stub:
            return run_cli(
                tmp_path,
                ECS_CONTAINER_METADATA_URI_V4=stub.uri,
                NODE_HEAP_TARGET="fargate-app,worker",
                NODE_HEAP_ECS_API="off",
                **env,
            )

    def decisions(self, result: Result) -> dict[str, dict[str, Any]]:
        return {e["container"]: e for e in result.events if e["event"] == "decision"}

    def test_two_without_limits_split_the_task(self, tmp_path: Path) -> None:
        """2048 MiB and two Node containers without a limit: 1024 MiB each, one file each, none under the
        single-target name."""
        result = self.run(tmp_path, *web_and_worker(2048))
        assert result.code == 0, result.stderr
        decisions = self.decisions(result)
        assert {name: d["memory_mib"] for name, d in decisions.items()} == {"fargate-app": 1024, "worker": 1024}
        assert decisions["worker"]["memory_arithmetic"] == "task 2048 MiB - fargate-app 1024 MiB = 1024 MiB"
        assert sorted(p.name for p in tmp_path.glob("node-heap*.env")) == [
            "node-heap.fargate-app.env",
            "node-heap.worker.env",
        ]

    def test_one_with_a_hard_limit(self, tmp_path: Path) -> None:
        """A worker with a 512 MiB hard limit keeps it, and the web container gets the rest: 1536 MiB."""
        result = self.run(tmp_path, *web_and_worker(2048, worker_mib=512))
        decisions = self.decisions(result)
        assert {name: d["memory_mib"] for name, d in decisions.items()} == {"fargate-app": 1536, "worker": 512}
        assert decisions["worker"]["memory_origin"] == "task_metadata_v4"

    def test_with_a_log_router(self, tmp_path: Path) -> None:
        """A FireLens log router beside them is counted (100 MiB, its footprint) before the split: 974 MiB each."""
        result = self.run(tmp_path, *web_and_worker(2048, log_router=True))
        decisions = self.decisions(result)
        assert {name: d["memory_mib"] for name, d in decisions.items()} == {"fargate-app": 974, "worker": 974}

    def test_closed_mode_writes_all_or_nothing(self, tmp_path: Path) -> None:
        """In closed mode one container too small fails the job before any file is written."""
        result = self.run(tmp_path, *web_and_worker(160, worker_mib=64), NODE_HEAP_ON_ERROR="closed")
        assert result.code == 5
        assert list(tmp_path.glob("node-heap*.env")) == []

    def test_each_file_sourced_gives_its_own_heap(self, tmp_path: Path) -> None:
        """Sourced by a real sh, each container's file adds its own --max-old-space-size."""
        result = self.run(tmp_path, *web_and_worker(2048, worker_mib=512))
        assert result.code == 0, result.stderr
        heaps = {}
        for name in ("fargate-app", "worker"):
            shell = subprocess.run(
                ["/bin/sh", "-c", f'. "{tmp_path}/node-heap.{name}.env" && printf %s "$NODE_OPTIONS"'],
                capture_output=True,
                text=True,
                check=True,
            )
            heaps[name] = shell.stdout
        decisions = self.decisions(result)
        for name, options in heaps.items():
            assert options == decisions[name]["node_options_added"]
        assert heaps["fargate-app"] != heaps["worker"]


class TestTargetBesideKnownSidecars:
    def test_log_router_is_not_guessed_as_node(self, tmp_path: Path) -> None:
        """A FireLens log router beside the app does not make the target ambiguous: the app is the only other
        container that is not a known sidecar."""
        router = {
            "Name": "log_router",
            "Type": "NORMAL",
            "Limits": {"CPU": 2},
            "Image": "amazon/aws-for-fluent-bit:2.32.0",
        }
        container, task = fargate(1024, extra=[router])  # added: the log router
        with TmdsStub(container=container, task=task) as stub:
            result = run_cli(tmp_path, ECS_CONTAINER_METADATA_URI_V4=stub.uri, NODE_HEAP_ECS_API="off")
        decision = result.event("decision")
        assert (result.code, decision["container"], decision["memory_mib"]) == (0, "fargate-app", 924)
        assert (
            decision["container_reason"] == "the only other container of the task (beside known sidecars: log_router)"
        )
