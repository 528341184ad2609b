"""End to end: sidecars without memory settings hold their footprints beside Node while Node leaks.

The task is the AWS Fargate example with sidecars added: the FireLens docs' log router (`log_router`,
image `aws-for-fluent-bit:stable`, tests/fixtures/ecs/firelens-task-definition.json) and a tracing
sidecar: the X-Ray daemon at 512 MiB, AWS's ADOT collector (`aws-otel-collector`, as in
aws-otel-collector's examples/ecs/aws-cloudwatch/ecs-fargate-sidecar.json) at 1 GiB; none with
`memory` or `memoryReservation`, as many public task definitions run them. Real cgroup v1 as ECS lays it out: a
task cgroup with the task's limit, one child per container. The real CLI plans the heap from the TMDS
stub; a real process in each sidecar's cgroup holds that sidecar's typical footprint; then Node
leaks under the plan in the app's cgroup. V8 must stop Node before the kernel's OOM killer does.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.memcg import MIB, MemoryCgroup, drop_page_cache, memcg_unavailable_reason
from tests.servers import TmdsStub, ecs_payload
from tests.strict import unavailable
from tests.test_e2e import JS, fargate_task, node, run_sidecar

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.cgroup


@dataclass(frozen=True)
class Sidecar:
    name: str
    image: str
    holds_bytes: int  # its typical footprint, from the source named where it is defined


LOG_ROUTER = Sidecar(
    "log_router",
    ecs_payload("firelens-task-definition.json")["containerDefinitions"][0]["image"],  # aws-for-fluent-bit:stable
    # aws-for-fluent-bit troubleshooting/debugging.md: "Memory usage for the lower throughput tests
    # tends to vary around ~40MB to ~100MB".
    100 * 1000 * 1000,
)
XRAY_DAEMON = Sidecar(
    "xray-daemon",
    "public.ecr.aws/xray/aws-xray-daemon:latest",
    # aws-xray-daemon README, "X-Ray Daemon Performance Report": 29.7 MB average at 2000 TPS.
    30 * 1000 * 1000,
)
OTEL_COLLECTOR = Sidecar(
    "aws-otel-collector",
    "public.ecr.aws/aws-observability/aws-otel-collector:latest",
    # ADOT performance report v0.49.0 (aws-otel-collector gh-pages benchmark/report.md): average
    # 131.24 MB for otlp -> batch -> awsemf at 100 TPS.
    131 * 1000 * 1000,
)


@pytest.fixture(autouse=True)
def _memcg() -> None:
    reason = memcg_unavailable_reason()
    if reason is not None:
        unavailable(reason)


def task_with_sidecars(memory_mib: int, image: str, sidecars: Sequence[Sidecar]) -> tuple[Any, Any]:
    """The AWS Fargate example (`fargate_task`) plus `sidecars`, listed like its other containers, no Memory."""
    container, task = fargate_task(memory_mib, image)
    for index, sidecar in enumerate(sidecars):
        entry = copy.deepcopy(task["Containers"][1])  # changed: one more container, shaped like the docs' others
        entry["Name"] = entry["DockerName"] = sidecar.name
        entry["Image"] = sidecar.image
        entry["DockerId"] = f"bfa2636268144d039771334145e490c5-{2208161427 + index}"  # changed: its own id
        entry["Labels"]["com.amazonaws.ecs.container-name"] = sidecar.name
        task["Containers"].append(entry)  # Limits stays {"CPU": 2}: no Memory, as on Fargate without one
    return container, task


@contextmanager
def task_cgroups(
    memory_mib: int, sidecars: Sequence[Sidecar]
) -> Iterator[tuple[MemoryCgroup, MemoryCgroup, MemoryCgroup, list[MemoryCgroup]]]:
    """(task, init, app, one per sidecar) cgroups; only the task has a limit."""
    with ExitStack() as stack:
        task = stack.enter_context(MemoryCgroup(memory_mib * MIB))
        init = stack.enter_context(task.child(name="init"))
        app = stack.enter_context(task.child(name="app"))
        children = [stack.enter_context(task.child(name=s.name)) for s in sidecars]
        yield task, init, app, children


@pytest.mark.parametrize(
    ("memory_mib", "sidecars"),
    [(512, (LOG_ROUTER, XRAY_DAEMON)), (1024, (LOG_ROUTER, OTEL_COLLECTOR))],
    ids=["512-log_router+xray", "1024-log_router+otel"],
)
class TestSidecarsBesideNode:
    def test_leak_ends_in_v8s_abort_while_sidecars_hold_their_footprint(
        self, tmp_path: Path, memory_mib: int, sidecars: tuple[Sidecar, ...]
    ) -> None:
        """The sidecars are counted, so Node's leak hits V8's limit, not the task's: no kernel kill."""
        binary = node(22)
        container, task_doc = task_with_sidecars(memory_mib, "node:22-slim", sidecars)
        env_file = tmp_path / "node-heap.env"
        env = {"PATH": "/usr/bin:/bin"}
        with (
            TmdsStub(container=container, task=task_doc) as stub,
            task_cgroups(memory_mib, sidecars) as (_task, init, app, cgroups),
            ExitStack() as holding,
        ):
            decision = run_sidecar(init, stub, env_file)
            holders = [
                holding.enter_context(
                    cgroup.spawn([sys.executable, str(REPO / "tests" / "sibling.py"), str(s.holds_bytes)], env=env)
                )
                for s, cgroup in zip(sidecars, cgroups, strict=True)
            ]
            drop_page_cache()
            leak = app.run(
                ["sh", "-c", f". {env_file} && exec {binary} {JS / 'leak.js'}"], env=env, timeout_s=120, stall_s=10
            )
            sidecars_alive = [h.poll() is None for h in holders]
            figures = {
                "heap_mib": decision["heap_mib"],
                "memory_arithmetic": decision["memory_arithmetic"],
                "outcome": leak.outcome,
                "app_oom_kills": leak.oom_kills,
                "app_peak_mib": leak.peak_bytes // MIB,
                "app_peak_rss_mib": leak.peak_rss_bytes // MIB,
                "sidecars_alive": sidecars_alive,
                "elapsed_s": round(leak.elapsed_s, 1),
            }
            print(json.dumps({"memory_mib": memory_mib, **figures}))
            assert leak.outcome == "v8_abort", figures
            assert leak.oom_kills == 0, figures
            assert all(sidecars_alive), figures
            subtracted = [c["container"] for c in decision["candidates"] if c["outcome"] == "subtracted"]
            assert subtracted == [s.name for s in sidecars], decision["candidates"]
