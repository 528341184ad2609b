"""Every task definition in the repo registers: botocore's model accepts it, moto registers it, and
its parts agree with each other (volumes, dependsOn, names, the env-file path, logging).

Every JSON file in deploy/ is a task definition, an IAM policy or the audit's schedule, so a new task
definition there is picked up here. The audit's task definition (deploy/task-definition.audit.json)
has no init container: the wiring checks are for the others. The CloudFormation template's task
definition is registered through moto's CloudFormation in tests/test_oom_metric.py."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from sidecar.cli import build_parser
from sidecar.emulate import container_environment
from tests.servers import MotoServer

REPO = Path(__file__).resolve().parent.parent
DEPLOY_JSON = sorted((REPO / "deploy").glob("*.json"))
POLICY = REPO / "deploy" / "task-role-policy.json"
AUDIT = REPO / "deploy" / "task-definition.audit.json"


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


TASK_DEFINITIONS = [REPO / "task-definition.json", *(p for p in DEPLOY_JSON if "containerDefinitions" in load(p))]
WIRED = [p for p in TASK_DEFINITIONS if p != AUDIT]  # an init container and a Node container


def init_and_node(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(init container, Node container): the one the other waits on with SUCCESS, and that one."""
    containers = {c["name"]: c for c in doc["containerDefinitions"]}
    for container in containers.values():
        for dep in container.get("dependsOn", []):
            if dep["condition"] == "SUCCESS":
                return containers[dep["containerName"]], container
    raise AssertionError("no container waits on another with SUCCESS")


@pytest.fixture(params=TASK_DEFINITIONS, ids=lambda p: p.name)
def any_task_definition(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path


@pytest.fixture(params=WIRED, ids=lambda p: p.name)
def task_definition(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path


class TestDeployFiles:
    def test_every_json_file_is_known(self) -> None:
        """deploy/*.json: task definitions (all tested below), IAM policies and the audit's schedule."""
        kinds = {}
        for path in DEPLOY_JSON:
            doc = load(path)
            kinds[path.name] = (
                "task definition"
                if "containerDefinitions" in doc
                else "policy"
                if "Statement" in doc
                else doc.get("Name")
            )
        assert kinds == {
            "audit-policy.json": "policy",
            "audit-schedule.json": "node-heap-audit",
            "audit-scheduler-policy.json": "policy",
            "task-definition.audit.json": "task definition",
            "task-definition.ec2.json": "task definition",
            "task-definition.env-file.json": "task definition",
            "task-role-policy.json": "policy",
        }


class TestRegisters:
    def test_matches_the_ecs_api_model(self, any_task_definition: Path) -> None:
        """botocore's RegisterTaskDefinition input shape accepts the file as is (no unknown or mistyped field)."""
        model = botocore.session.get_session().get_service_model("ecs")
        shape = model.operation_model("RegisterTaskDefinition").input_shape
        report = ParamValidator().validate(load(any_task_definition), shape)
        assert not report.has_errors(), report.generate_report()

    def test_registers_in_moto(self, any_task_definition: Path, moto: MotoServer) -> None:
        """moto's ECS registers it and gives back every container."""
        doc = load(any_task_definition)
        answer = moto.client().register_task_definition(**doc)["taskDefinition"]
        assert [c["name"] for c in answer["containerDefinitions"]] == [c["name"] for c in doc["containerDefinitions"]]


class TestCrossReferences:
    def test_init_runs_to_completion_before_node(self, task_definition: Path) -> None:
        """The init container is not essential (ECS refuses SUCCESS on an essential one); Node is."""
        init, node = init_and_node(load(task_definition))
        assert init["essential"] is False
        assert node["essential"] is True

    def test_volume_shared_read_write_then_read_only(self, task_definition: Path) -> None:
        """One task volume without a host, mounted read-write in the init container and read-only in Node."""
        doc = load(task_definition)
        init, node = init_and_node(doc)
        volumes = {v["name"]: v for v in doc["volumes"]}
        (init_mount,) = init["mountPoints"]
        (node_mount,) = node["mountPoints"]
        assert init_mount["sourceVolume"] == node_mount["sourceVolume"]
        assert "host" not in volumes[init_mount["sourceVolume"]]
        assert init_mount.get("readOnly", False) is False
        assert node_mount["readOnly"] is True
        assert init_mount["containerPath"] == node_mount["containerPath"] == "/shared"

    def test_node_reads_the_file_the_init_container_writes(self, task_definition: Path) -> None:
        """The env-file path in the init settings is the one the Node command sources or passes to --env-file."""
        doc = load(task_definition)
        init, node = init_and_node(doc)
        env_file = container_environment(doc, init["name"]).get("NODE_HEAP_ENV_FILE", "/shared/node-heap.env")
        command = " ".join(node.get("entryPoint", []) + node.get("command", []))
        assert f". {env_file} && exec node " in command or f"--env-file={env_file}" in command
        assert Path(env_file).parent == Path(init["mountPoints"][0]["containerPath"])

    def test_target_names_the_node_container(self, task_definition: Path) -> None:
        """NODE_HEAP_TARGET, when set, is the Node container's name."""
        doc = load(task_definition)
        init, node = init_and_node(doc)
        assert container_environment(doc, init["name"]).get("NODE_HEAP_TARGET", node["name"]) == node["name"]

    def test_shell_command_execs_node(self, task_definition: Path) -> None:
        """Through sh, Node is exec'd, so it is PID 1 and gets ECS's SIGTERM."""
        _, node = init_and_node(load(task_definition))
        if node.get("entryPoint") == ["sh", "-c"]:
            (script,) = node["command"]
            assert re.search(r"&& exec node\b", script)
            assert shlex.split(script)[0] == "."

    def test_node_runs_under_an_init(self, task_definition: Path) -> None:
        """initProcessEnabled: an init is PID 1, so V8's heap-limit abort exits 134 (as PID 1 Node exits 139)."""
        _, node = init_and_node(load(task_definition))
        assert node["linuxParameters"]["initProcessEnabled"] is True

    def test_logs(self, task_definition: Path) -> None:
        """Both containers log with awslogs; the init container in blocking mode, so its last lines are kept."""
        init, node = init_and_node(load(task_definition))
        for container in (init, node):
            config = container["logConfiguration"]
            assert config["logDriver"] == "awslogs"
            assert {"awslogs-group", "awslogs-region", "awslogs-stream-prefix"} <= set(config["options"])
        assert init["logConfiguration"]["options"]["mode"] == "blocking"

    def test_init_container_root_filesystem_is_read_only(self, task_definition: Path) -> None:
        """The init container writes only to the shared volume."""
        init, _ = init_and_node(load(task_definition))
        assert init["readonlyRootFilesystem"] is True


class TestTaskRolePolicy:
    def test_least_privilege(self) -> None:
        """Exactly DescribeTasks (on the cluster's tasks) and DescribeTaskDefinition (which has no resource scope)."""
        policy = json.loads(POLICY.read_text())
        statements = {s["Action"]: s for s in policy["Statement"]}
        assert set(statements) == {"ecs:DescribeTasks", "ecs:DescribeTaskDefinition"}
        assert all(s["Effect"] == "Allow" for s in statements.values())
        tasks = statements["ecs:DescribeTasks"]
        assert tasks["Resource"].startswith("arn:aws:ecs:")
        assert ":task/" in tasks["Resource"]
        assert tasks["Condition"]["ArnEquals"]["ecs:cluster"].startswith("arn:aws:ecs:")
        assert statements["ecs:DescribeTaskDefinition"]["Resource"] == "*"

    def test_task_definitions_use_a_task_role(self, any_task_definition: Path) -> None:
        """The sidecar calls the ECS API with the task role, so each task definition names one."""
        assert load(any_task_definition)["taskRoleArn"].startswith("arn:aws:iam::")


class TestAuditTaskDefinition:
    def test_command_is_a_scheduled_emf_audit(self) -> None:
        """The CLI's own parser reads the command as `audit --emf` over the last hour that exits 0 whatever it finds."""
        (container,) = load(AUDIT)["containerDefinitions"]
        args = build_parser().parse_args(container["command"])
        assert (args.command, args.output, args.since, args.fail_on, args.no_progress) == (
            "audit",
            "emf",
            "1h",
            "never",
            True,
        )
        assert (args.cluster, args.region, args.metrics_namespace) == (None, "us-east-1", "NodeHeapSidecar")

    def test_emf_lines_reach_cloudwatch_logs(self) -> None:
        """awslogs in blocking mode (a short task: its last lines are the fleet's), on Fargate with a read-only root."""
        doc = load(AUDIT)
        (container,) = doc["containerDefinitions"]
        assert container["logConfiguration"] == {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": "/ecs/node-heap-audit",
                "awslogs-region": "us-east-1",
                "awslogs-stream-prefix": "audit",
                "mode": "blocking",
            },
        }
        assert (doc["requiresCompatibilities"], doc["networkMode"], container["readonlyRootFilesystem"]) == (
            ["FARGATE"],
            "awsvpc",
            True,
        )

    def test_image_is_the_sidecars(self) -> None:
        """The same image as the init containers of the shipped task definition."""
        (container,) = load(AUDIT)["containerDefinitions"]
        init, _ = init_and_node(load(REPO / "task-definition.json"))
        assert container["image"] == init["image"]
