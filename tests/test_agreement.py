"""The init job and audit never disagree: the same task definitions, both sides, compared.

For each task definition, the real init job runs as a process against a task metadata endpoint on
127.0.0.1 built from it (sidecar/emulate.py's documents, served by tests/servers.py's TmdsStub, Fargate:
the metadata lists every container), with the init container's own environment from the definition; and
audit's wiring check reads the definition. They must agree on which containers are Node (the job's
`decision` events vs the containers audit finds wired), which file each gets (the files the job wrote vs
the files audit expects each Node container to read), and the verdict (the job exits 0 where audit
finds the wiring correct, and 3 where audit says it would exit 3).
"""

from __future__ import annotations

import copy
import json
import posixpath
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sidecar.emulate import build_task
from sidecar.fleet.definitions import environment_of
from sidecar.fleet.rewrite import AdoptOptions, adopt_definition
from sidecar.fleet.wiring import check_wiring
from sidecar.outputs.envfile import how_node_reads
from tests.servers import Reply, TmdsStub

REPO = Path(__file__).resolve().parent.parent
SHIPPED: dict[str, Any] = json.loads((REPO / "task-definition.json").read_text())
LOGS = {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/app", "awslogs-region": "us-east-1"}}


def node(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": "node:22-slim",
        "essential": True,
        "entryPoint": ["node"],
        "command": [f"{name}.js"],
        "logConfiguration": LOGS,
        **fields,
    }


def adopted(*containers: dict[str, Any], memory: str = "2048", **options: Any) -> dict[str, Any]:
    """A Fargate task definition of `containers`, wired by adopt."""
    definition = {
        "family": "agree",
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": "1024",
        "memory": memory,
        "containerDefinitions": list(containers),
    }
    result = adopt_definition("task-definition", definition, AdoptOptions(image="node-heap-sidecar:0.2.0", **options))
    document: dict[str, Any] = result.document
    return document


def init_of(definition: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in definition["containerDefinitions"] if c["name"] == "node-heap-init")


def custom_env_file() -> dict[str, Any]:
    """Two Node containers and NODE_HEAP_ENV_FILE=/shared/heap.env: the files are heap.web.env and heap.worker.env."""
    definition = adopted(node("web"), node("worker"))
    for pair in init_of(definition)["environment"]:
        if pair["name"] == "NODE_HEAP_ENV_FILE":
            pair["value"] = "/shared/heap.env"
    for container in definition["containerDefinitions"]:
        if container["name"] != "node-heap-init":
            container["command"] = [container["command"][0].replace("node-heap.", "heap.")]
    return definition


def target_named_wrong() -> dict[str, Any]:
    definition = adopted(node("app"))
    for pair in init_of(definition)["environment"]:
        if pair["name"] == "NODE_HEAP_TARGET":
            pair["value"] = "web"
    return definition


def ambiguous() -> dict[str, Any]:
    """Two Node containers and NODE_HEAP_TARGET left unset: the job cannot tell which is Node."""
    definition = adopted(node("app"), node("worker"))
    init = init_of(definition)
    init["environment"] = [pair for pair in init["environment"] if pair["name"] != "NODE_HEAP_TARGET"]
    return definition


LOG_ROUTER = {
    "name": "log_router",
    "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
    "essential": True,
    "firelensConfiguration": {"type": "fluentbit"},
}
PROXY = {
    "DockerId": "proxy",
    "Name": "ecs-service-connect-Xg7Ld2",
    "Image": "ecs-service-connect-agent:interface-v1",
    "Type": "NORMAL",
    "KnownStatus": "RUNNING",
    "Limits": {"CPU": 2},
}

CASES: dict[str, tuple[Callable[[], dict[str, Any]], str]] = {
    "one-node-container": (lambda: copy.deepcopy(SHIPPED), ""),
    "two-node-containers": (lambda: adopted(node("web"), node("worker", memory=512)), ""),
    "custom-env-file": (custom_env_file, ""),
    "log-router": (lambda: _untargeted(adopted(node("app"), LOG_ROUTER)), ""),
    "service-connect": (lambda: adopted(node("app")), "service-connect"),
    "init-without-uri": (lambda: adopted(node("app")), "no-uri"),
    "target-named-wrong": (target_named_wrong, ""),
    "ambiguous": (ambiguous, ""),
}


def _untargeted(definition: dict[str, Any]) -> dict[str, Any]:
    """The init container without NODE_HEAP_TARGET: both sides must pick the Node container themselves."""
    init = init_of(definition)
    init["environment"] = [pair for pair in init["environment"] if pair["name"] != "NODE_HEAP_TARGET"]
    return definition


def run_job(definition: dict[str, Any], twist: str, tmp_path: Path) -> tuple[int, dict[str, str], str]:
    """The init job against the definition's task metadata: exit code, {container: file name} of the
    `decision` events, stderr."""
    emulated = build_task(definition, launch_type="FARGATE")
    task = copy.deepcopy(emulated.task)
    if twist == "service-connect":
        task["Containers"].append(PROXY)
    with TmdsStub(container=emulated.container, task=task) as stub:
        if twist == "no-uri":
            stub.script("", Reply(500, b"internal error"))
        env_file = init_env(definition).get("NODE_HEAP_ENV_FILE", "/shared/node-heap.env")
        environment = {
            **init_env(definition),
            "PATH": "/usr/bin:/bin",
            "ECS_CONTAINER_METADATA_URI_V4": stub.uri,
            "NODE_HEAP_ENV_FILE": str(tmp_path / posixpath.basename(env_file)),
            "NODE_HEAP_ECS_API": "off",
            "NODE_HEAP_LOG_FORMAT": "json",
            "NODE_HEAP_DEADLINE_S": "2",
        }
        proc = subprocess.run(
            [sys.executable, "-m", "sidecar"],
            env=environment,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    decisions = [json.loads(line) for line in proc.stdout.splitlines() if '"event": "decision"' in line]
    files = {d["container"]: posixpath.basename(d["env_file"]) for d in decisions if d.get("status")}
    return proc.returncode, files if proc.returncode == 0 else {}, proc.stderr


def init_env(definition: dict[str, Any]) -> dict[str, str]:
    return environment_of(init_of(definition))


class TestJobAndAuditAgree:
    @pytest.mark.parametrize("case", list(CASES))
    def test_same_targets_files_and_verdict(self, case: str, tmp_path: Path) -> None:
        """The containers the job sizes and the files it writes are the ones audit expects each Node
        container to read; the job succeeds exactly where audit finds the wiring correct."""
        build, twist = CASES[case]
        definition = build()
        containers = definition["containerDefinitions"]
        nodes = [c["name"] for c in containers if c["name"] != "node-heap-init" and c.get("dependsOn")]
        code, job_files, stderr = run_job(definition, twist, tmp_path)
        wirings = {name: check_wiring(containers, name) for name in nodes}
        view = next(w.init for w in wirings.values() if w.init is not None)

        if view.target_problem is not None:
            assert (code, view.targets) == (3, ()), stderr
            assert "NODE_HEAP_TARGET" in stderr or "cannot tell" in stderr or "other containers" in stderr
            return
        assert code == 0, stderr
        assert all(w.correct for w in wirings.values())
        audit_files = {
            name: posixpath.basename(w.env_file or "") for name, w in wirings.items() if name in view.targets
        }
        assert job_files == audit_files
        assert sorted(written.name for written in tmp_path.iterdir() if written.suffix == ".env") == sorted(
            audit_files.values()
        )
        for name in view.targets:  # and each Node container reads exactly that file
            container = next(c for c in containers if c["name"] == name)
            read = how_node_reads([*container.get("entryPoint", []), *container.get("command", [])]).paths
            assert [posixpath.basename(path) for path in read] == [audit_files[name]]
