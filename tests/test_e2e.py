"""End to end: the real CLI against a TMDS stub inside a real memory cgroup, then real Node.

The layout is ECS's (research/ecs.md section 2): a task cgroup with the task's limit, and under it
one cgroup per container without limits of their own (a Fargate task with only a task size). The
sidecar runs in the init container's cgroup, writes the env file, and Node runs in the app's
cgroup after `. file && exec node` or `node --env-file`. The page cache is dropped before Node
starts, so its binary is charged to the task as in a fresh container.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.memcg import MIB, MemoryCgroup, drop_page_cache, memcg_unavailable_reason
from tests.nodes import MAJORS, cached_node, planned_limit_bytes
from tests.servers import TmdsStub, ecs_payload
from tests.strict import unavailable

REPO = Path(__file__).resolve().parent.parent
JS = Path(__file__).parent / "js"
SIZES_MIB = (128, 256, 512, 1024)

pytestmark = pytest.mark.cgroup


@pytest.fixture(autouse=True)
def _memcg() -> None:
    reason = memcg_unavailable_reason()
    if reason is not None:
        unavailable(reason)


def node(major: int) -> Path:
    binary = cached_node(major)
    if binary is None:
        unavailable(f"Node {major} is not installed (python -m tests.nodes installs it)")
    return binary


def fargate_task(memory_mib: int, image: str) -> tuple[Any, Any]:
    """The AWS Fargate example, as our task: `curl-image` plays the init container, `fargate-app` Node."""
    task = ecs_payload("fargate-task-metadata.json")
    task["Limits"]["Memory"] = memory_mib  # changed: the task size under test
    task["Containers"][1]["Image"] = image  # changed: the app runs Node
    container = ecs_payload("fargate-container-metadata.json")
    container["Name"] = "curl-image"  # changed: the docs' container example is named "curl"; match the task
    return container, task


@contextmanager
def ecs_task(memory_mib: int) -> Iterator[tuple[MemoryCgroup, MemoryCgroup, MemoryCgroup]]:
    """(task, init, app) cgroups: only the task has a limit, as on Fargate with a task size only."""
    with MemoryCgroup(memory_mib * MIB) as task, task.child(name="init") as init, task.child(name="app") as app:
        yield task, init, app


def run_sidecar(init: MemoryCgroup, stub: TmdsStub, env_file: Path, **extra: str) -> dict[str, Any]:
    env = {
        "PATH": "/usr/bin:/bin",
        "ECS_CONTAINER_METADATA_URI_V4": stub.uri,
        "NODE_HEAP_TARGET": "fargate-app",
        "NODE_HEAP_ENV_FILE": str(env_file),
        "NODE_HEAP_ECS_API": "off",
        **extra,
    }
    result = init.run([sys.executable, "-m", "sidecar"], env=env, cwd=str(REPO), timeout_s=60)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    return next(e for e in events if e["event"] == "decision")


@pytest.mark.parametrize("major", MAJORS)
@pytest.mark.parametrize("memory_mib", SIZES_MIB)
class TestFargateTask:
    def test_sourced_file_sizes_node_and_a_leak_ends_in_v8s_abort(
        self, tmp_path: Path, major: int, memory_mib: int
    ) -> None:
        """The decision takes the task's memory; Node reports the planned limit; a leak is stopped by V8."""
        binary = node(major)
        container, task_doc = fargate_task(memory_mib, f"node:{major}-slim")
        env_file = tmp_path / "node-heap.env"
        with TmdsStub(container=container, task=task_doc) as stub, ecs_task(memory_mib) as (_task, init, app):
            decision = run_sidecar(init, stub, env_file)
            assert decision["memory_mib"] == memory_mib
            assert decision["node_version"] == str(major)

            env = {"PATH": "/usr/bin:/bin"}
            report = app.run(["sh", "-c", f". {env_file} && exec {binary} {JS / 'report.js'}"], env=env)
            assert json.loads(report.stdout)["heap_size_limit"] == planned_limit_bytes(env_file.read_text())

            drop_page_cache()
            leak = app.run(["sh", "-c", f". {env_file} && exec {binary} {JS / 'leak.js'}"], env=env, timeout_s=120)
            assert leak.outcome == "v8_abort", (leak.outcome, leak.stderr[-500:])
            assert leak.oom_kills == 0

    def test_env_file_flag_sizes_node_and_a_leak_ends_in_v8s_abort(
        self, tmp_path: Path, major: int, memory_mib: int
    ) -> None:
        """The same through `node --env-file`, for images without a shell."""
        binary = node(major)
        container, task_doc = fargate_task(memory_mib, f"node:{major}")
        env_file = tmp_path / "node-heap.env"
        with TmdsStub(container=container, task=task_doc) as stub, ecs_task(memory_mib) as (_task, init, app):
            run_sidecar(init, stub, env_file)
            env = {"PATH": "/usr/bin:/bin"}
            report = app.run([str(binary), f"--env-file={env_file}", str(JS / "report.js")], env=env)
            assert json.loads(report.stdout)["heap_size_limit"] == planned_limit_bytes(env_file.read_text())

            drop_page_cache()
            leak = app.run([str(binary), f"--env-file={env_file}", str(JS / "leak.js")], env=env, timeout_s=120)
            assert leak.outcome == "v8_abort", (leak.outcome, leak.stderr[-500:])
            assert leak.oom_kills == 0


class TestNodeDefaultsAreKilled:
    def test_default_heap_in_256_mib_is_killed_by_the_kernel(self) -> None:
        """Without the sidecar, Node's default heap (~260 MB here) does not fit 256 MiB: the kernel kills it.

        The control for the tests above: the same leak and cgroup, no env file.
        """
        with ecs_task(256) as (_task, _init, app):
            drop_page_cache()
            leak = app.run([str(node(20)), str(JS / "leak.js")], env={"PATH": "/usr/bin:/bin"}, timeout_s=60)
            assert leak.outcome in ("kernel_kill", "hang")
            assert leak.outcome == "hang" or leak.oom_kills >= 1


class TestClusterWorkers:
    def test_four_workers_share_the_container(self, tmp_path: Path) -> None:
        """NODE_HEAP_PROCESSES=4: four leaking cluster workers in 1024 MiB each end in V8's abort, none killed."""
        binary = node(22)
        container, task_doc = fargate_task(1024, "node:22")
        env_file = tmp_path / "node-heap.env"
        with TmdsStub(container=container, task=task_doc) as stub, ecs_task(1024) as (_task, init, app):
            decision = run_sidecar(init, stub, env_file, NODE_HEAP_PROCESSES="4")
            assert decision["processes"] == 4
            drop_page_cache()
            script = f". {env_file} && exec {binary} {JS / 'cluster-leak.js'} 4"
            run = app.run(["sh", "-c", script], env={"PATH": "/usr/bin:/bin"}, timeout_s=180)
            workers = [json.loads(line) for line in run.stdout.splitlines() if '"worker_exit"' in line]
            assert [w["signal"] for w in workers] == ["SIGABRT"] * 4, run.stdout[-800:]
            assert run.oom_kills == 0


@pytest.mark.parametrize("major", MAJORS)
@pytest.mark.parametrize("memory_mib", [512, 1024, 2048, 4096])
class TestYoungGeneration:
    def test_semi_space_is_at_least_nodes_own_and_node_reports_the_plan(
        self, tmp_path: Path, major: int, memory_mib: int
    ) -> None:
        """The default (speed-first) semi-space is never below the one real Node picks by itself in the
        same memory cgroup, and Node's heap_size_limit is the planned old space + 3 x semi-space."""
        binary = node(major)
        container, task_doc = fargate_task(memory_mib, f"node:{major}-slim")
        env_file = tmp_path / "node-heap.env"
        with TmdsStub(container=container, task=task_doc) as stub, ecs_task(memory_mib) as (task, init, app):
            decision = run_sidecar(init, stub, env_file)
            env = {"PATH": "/usr/bin:/bin"}
            limit = "console.log(require('v8').getHeapStatistics().heap_size_limit)"
            # Node's own semi-space where it sees the container's limit on its own cgroup (the task's here;
            # in `app` it would see the machine): heap_size_limit = old space + 3 x semi-space (Node cli.md)
            seen = task.run([str(binary), "--max-old-space-size=100", "-e", limit], env=env)
            own = (int(seen.stdout) / MIB - 100) / 3
            report = app.run(["sh", "-c", f". {env_file} && exec {binary} {JS / 'report.js'}"], env=env)
        assert decision["semi_space_mib"] >= own
        assert decision["node_semi_space_mib"] == own
        assert json.loads(report.stdout)["heap_size_limit"] == planned_limit_bytes(env_file.read_text())
