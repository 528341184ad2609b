"""The task, rehearsed with a real Docker daemon: the real image, the shipped task definition.

What ECS would do, played locally (`make rehearse` sets up Docker and the base image first):
- task metadata v4 on 127.0.0.1, built from task-definition.json (`python -m sidecar emulate`),
  and a moto server answering DescribeTaskDefinition for the task role's calls;
- a Docker volume standing in for the task volume without a host (Docker copies the image's
  /shared, owner and mode, into it on first mount, as ECS does);
- the init container from the repo's Dockerfile, with the task definition's environment, its own
  non-root user and `--read-only`;
- then a Node container with `--memory` = the task's memory running the task definition's own
  entryPoint and command, which sources the file and execs Node.
Containers use `--network host` (traffic stays on loopback) and are removed by ID afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidecar.emulate import container_environment
from tests.nodes import install_node, planned_limit_bytes
from tests.servers import MotoServer
from tests.strict import unavailable

REPO = Path(__file__).resolve().parent.parent
BASE_IMAGE = os.environ.get("NHS_BASE_IMAGE", "local/python:3.11-slim")
IMAGE = "node-heap-sidecar:rehearsal"
NODE_IMAGE = "node-heap-rehearsal-node:22"
SUMMARY = REPO / "build" / "rehearsal.json"
NODE_LIBS = ("libstdc++.so.6", "libgcc_s.so.1")

pytestmark = pytest.mark.docker

# The app of the rehearsal (server.js in the task definition): reports its heap, or runs the
# tests' heap leak when LEAK=1.
SERVER_JS = """
if (process.env.LEAK === '1') { require('./leak.js'); } else {
  const v8 = require('v8');
  console.log(JSON.stringify({heap_size_limit: v8.getHeapStatistics().heap_size_limit,
                              node_options: process.env.NODE_OPTIONS ?? null}));
}
"""


def docker(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout)


def task_definition() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((REPO / "task-definition.json").read_text())
    return doc


def container(name: str) -> dict[str, Any]:
    return next(c for c in task_definition()["containerDefinitions"] if c["name"] == name)


def record(**figures: Any) -> None:
    """Keep measured figures for the README in build/rehearsal.json."""
    SUMMARY.parent.mkdir(exist_ok=True)
    current = json.loads(SUMMARY.read_text()) if SUMMARY.exists() else {}
    current.update(figures)
    SUMMARY.write_text(json.dumps(current, indent=2) + "\n")


@pytest.fixture(scope="module")
def docker_ready() -> None:
    if shutil.which("docker") is None or docker("info", check=False).returncode != 0:
        unavailable("no Docker daemon answers (make rehearse starts one)")
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        unavailable(f"base image {BASE_IMAGE} is missing (deploy/base-image.sh builds it)")


@pytest.fixture(scope="module")
def sidecar_image(docker_ready: None) -> Iterator[str]:
    """The repo's Dockerfile, built on the local stand-in for the official Python image."""
    started = time.monotonic()
    docker("build", "--network", "host", "--build-arg", f"PYTHON_IMAGE={BASE_IMAGE}", "-t", IMAGE, str(REPO))
    record(image_build_s=round(time.monotonic() - started, 1))
    yield IMAGE
    docker("rmi", IMAGE, check=False)


@pytest.fixture(scope="module")
def node_image(docker_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Node 22 image with a shell, standing in for node:22-slim: the base image plus Node's binary."""
    context = tmp_path_factory.mktemp("node-image")
    shutil.copy(install_node(22), context / "node")
    for lib in NODE_LIBS:  # the C++ runtime Node links against, which a Python base image lacks
        shutil.copy(Path("/usr/lib/x86_64-linux-gnu") / lib, context / lib)
    (context / "server.js").write_text(SERVER_JS)
    shutil.copy(REPO / "tests" / "js" / "leak.js", context / "leak.js")
    (context / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\nCOPY node /usr/local/bin/node\n"
        + "".join(f"COPY {lib} /usr/lib/x86_64-linux-gnu/{lib}\n" for lib in NODE_LIBS)
        + "COPY server.js leak.js /app/\nWORKDIR /app\nUSER 1000:1000\n"
    )
    docker("build", "-t", NODE_IMAGE, str(context))
    yield NODE_IMAGE
    docker("rmi", NODE_IMAGE, check=False)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """Task metadata v4 on 127.0.0.1 from task-definition.json; stopped by PID afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sidecar", "emulate", "--task-definition", str(REPO / "task-definition.json")],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("ECS_CONTAINER_METADATA_URI_V4="), line
        yield line.split("=", 1)[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def ecs_api() -> Iterator[MotoServer]:
    """The ECS API for the task role: moto on 127.0.0.1, knowing the shipped task definition."""
    with MotoServer() as server:
        server.client().register_task_definition(**task_definition())
        yield server


@pytest.fixture(scope="module")
def task_volume(docker_ready: None) -> Iterator[str]:
    name = f"nhs-rehearsal-{uuid.uuid4().hex[:8]}"
    docker("volume", "create", name)
    yield name
    docker("volume", "rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def init_run(sidecar_image: str, endpoint: str, ecs_api: MotoServer, task_volume: str) -> dict[str, Any]:
    """Run the init container once, as ECS would; return its events and timings."""
    env = container_environment(task_definition(), "node-heap-init")
    env |= {
        "ECS_CONTAINER_METADATA_URI_V4": endpoint,
        "AWS_ENDPOINT_URL_ECS": ecs_api.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",  # the task role's credentials, faked for moto
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    name = f"nhs-init-{uuid.uuid4().hex[:8]}"
    args = ["run", "--name", name, "--network", "host", "--read-only", "-v", f"{task_volume}:/shared"]
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    started = time.monotonic()
    run = docker(*args, sidecar_image, check=False, timeout=120)
    elapsed = time.monotonic() - started
    state = json.loads(docker("inspect", name).stdout)[0]["State"]
    docker("rm", name, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    record(docker_run_to_file_s=round(elapsed, 2))
    return {"events": events, "state": state}


def event(run: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in run["events"] if e["event"] == name)


def volume_file(task_volume: str, path: str = "/shared/node-heap.env") -> str:
    return docker("run", "--rm", "-v", f"{task_volume}:/shared:ro", BASE_IMAGE, "cat", path).stdout


def run_node(node_image: str, task_volume: str, *command: str, entrypoint: str, leak: bool) -> dict[str, Any]:
    """The Node container with the task's memory, the volume read-only; returns exit code, OOMKilled, stdout."""
    memory = f"{task_definition()['memory']}m"
    name = f"nhs-node-{uuid.uuid4().hex[:8]}"
    args = ["run", "--name", name, "--network", "host", "--memory", memory, "--memory-swap", memory]
    args += ["-v", f"{task_volume}:/shared:ro", "-e", f"LEAK={int(leak)}", "--entrypoint", entrypoint]
    if container("app").get("linuxParameters", {}).get("initProcessEnabled"):
        args.append("--init")  # ECS's initProcessEnabled: an init as PID 1, Node its child
    run = docker(*args, node_image, *command, check=False, timeout=300)
    state = json.loads(docker("inspect", name).stdout)[0]["State"]
    docker("rm", name, check=False)
    return {"code": run.returncode, "oom_killed": state["OOMKilled"], "stdout": run.stdout, "stderr": run.stderr}


class TestImage:
    def test_small_non_root_no_build_tools(self, sidecar_image: str) -> None:
        """The image runs as 65532, is at most 150 MB, has OCI labels and no compiler or make."""
        inspected = json.loads(docker("image", "inspect", sidecar_image).stdout)[0]
        size_mb = inspected["Size"] / 1e6
        base_mb = json.loads(docker("image", "inspect", BASE_IMAGE).stdout)[0]["Size"] / 1e6
        record(image_mb=round(size_mb, 1), base_image_mb=round(base_mb, 1), layers_mb=round(size_mb - base_mb, 1))
        assert size_mb <= 150
        config = inspected["Config"]
        assert config["User"] == "65532:65532"
        assert config["Entrypoint"] == ["/opt/venv/bin/python", "-m", "sidecar"]
        assert config["Labels"]["org.opencontainers.image.title"] == "node-heap-sidecar"
        tools = docker("run", "--rm", "--entrypoint", "sh", sidecar_image, "-c", "command -v gcc cc make || true")
        assert tools.stdout == ""


class TestInitContainer:
    def test_writes_the_file_read_only_as_its_user(self, init_run: dict[str, Any], task_volume: str) -> None:
        """With --read-only and its own user, the init container writes the env file, mode 0644, owner 65532."""
        listing = docker(
            "run", "--rm", "-v", f"{task_volume}:/shared:ro", BASE_IMAGE, "stat", "-c", "%a %u", "/shared/node-heap.env"
        )
        assert listing.stdout.strip() == "644 65532"
        assert event(init_run, "env_file_written")["path"] == "/shared/node-heap.env"

    def test_decides_from_the_task(self, init_run: dict[str, Any]) -> None:
        """The decision takes the task's 1024 MiB and reads the task definition through boto3 in the image."""
        decision = event(init_run, "decision")
        assert decision["memory_mib"] == int(task_definition()["memory"])
        assert decision["container"] == "app"
        ecs = next(s for s in decision["sources"] if s["source"] == "ecs_api")
        assert ecs["detail"].startswith("answered: DescribeTaskDefinition")
        assert decision["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "NodeHeapSidecar"


class TestNodeContainer:
    def test_sourced_file_sets_the_planned_heap(
        self, init_run: dict[str, Any], node_image: str, task_volume: str
    ) -> None:
        """The task definition's own command (`sh -c '. file && exec node server.js'`) gives Node the planned heap."""
        app = container("app")
        entry, *args = app["entryPoint"]
        run = run_node(node_image, task_volume, *args, *app["command"], entrypoint=entry, leak=False)
        assert run["code"] == 0, run["stderr"]
        report = json.loads(run["stdout"])
        assert report["heap_size_limit"] == planned_limit_bytes(volume_file(task_volume))

    def test_leak_ends_in_v8_abort_not_oom_kill(
        self, init_run: dict[str, Any], node_image: str, task_volume: str
    ) -> None:
        """A heap leak in the 1024 MiB container ends in V8's abort (exit 134), and Docker reports OOMKilled=false.

        134 needs an init as PID 1 (the task definition's initProcessEnabled): as PID 1 itself, Node's
        abort() cannot deliver SIGABRT to itself and the container exits 139 instead.
        """
        app = container("app")
        entry, *args = app["entryPoint"]
        run = run_node(node_image, task_volume, *args, *app["command"], entrypoint=entry, leak=True)
        assert "heap out of memory" in run["stderr"], run["stderr"][-500:]
        assert (run["code"], run["oom_killed"]) == (134, False)

    def test_env_file_flag_without_a_shell(self, init_run: dict[str, Any], node_image: str, task_volume: str) -> None:
        """The shell-less variant: `node --env-file=/shared/node-heap.env server.js` gives the same heap."""
        run = run_node(
            node_image, task_volume, "--env-file=/shared/node-heap.env", "server.js", entrypoint="node", leak=False
        )
        assert json.loads(run["stdout"])["heap_size_limit"] == planned_limit_bytes(volume_file(task_volume))
