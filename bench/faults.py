"""How long the init job holds the task's start under each fault, and what it decides (README "Reliability").

Each fault is played by the test stubs on 127.0.0.1 (tests/servers.py) against `python -m sidecar` with
its default deadline (NODE_HEAP_DEADLINE_S=5), in open and closed mode, REPEATS times; the wall time
is the whole process, Python's start-up included.

Run: `.venv/bin/python -m bench.faults [--out bench/results/faults.json]` (then `python -m tests.readme`).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from tests.runs import run_cli
from tests.servers import EcsJsonStub, Reply, TmdsStub, ecs_payload, refusing_port

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "results" / "faults.json"
REPEATS = 3

Setup = Callable[[ExitStack], dict[str, str]]


def _task() -> tuple[Any, Any]:
    task = ecs_payload("fargate-task-metadata.json")
    task["Containers"][1]["Image"] = "public.ecr.aws/docker/library/node:22-slim"  # changed: a Node app
    container = ecs_payload("fargate-container-metadata.json")
    container["Name"] = "curl-image"  # changed: match the task's first container
    return container, task


def _tmds(task_reply: Reply | None = None, own_reply: Reply | None = None) -> Setup:
    def setup(stack: ExitStack) -> dict[str, str]:
        container, task = _task()
        stub = stack.enter_context(TmdsStub())
        stub.script("/task", task_reply or Reply.json(task))
        stub.script("", own_reply or Reply.json(container))
        return {"ECS_CONTAINER_METADATA_URI_V4": stub.uri, "NODE_HEAP_TARGET": "fargate-app"}

    return setup


def _refused(stack: ExitStack) -> dict[str, str]:
    port = stack.enter_context(refusing_port())
    return {"ECS_CONTAINER_METADATA_URI_V4": f"http://127.0.0.1:{port}/v4/x", "NODE_HEAP_TARGET": "fargate-app"}


def _api(describe_tasks: Reply, describe_definition: Reply) -> Setup:
    def setup(stack: ExitStack) -> dict[str, str]:
        env = _tmds()(stack)
        api = stack.enter_context(EcsJsonStub())
        api.script("DescribeTasks", describe_tasks)
        api.script("DescribeTaskDefinition", describe_definition)
        return {
            **env,
            "NODE_HEAP_ECS_API": "auto",
            "AWS_ENDPOINT_URL_ECS": api.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }

    return setup


def faults() -> list[tuple[str, Setup]]:
    _, task = _task()
    described = ecs_payload("botocore-describe-tasks-example.json")["output"]
    described["tasks"][0]["taskArn"] = task["TaskARN"]
    described["tasks"][0]["containers"][0]["name"] = "fargate-app"  # changed: the app of the TMDS example
    return [
        ("healthy endpoints", _tmds()),
        ("`/task` never answers", _tmds(task_reply=Reply.stall(120))),
        ("`/task` body trickles, 1 byte / 0.5 s", _tmds(task_reply=Reply.trickle(task, 0.5))),
        (
            "`/task` answers 503 after 1.9 s, every time",
            _tmds(task_reply=Reply.stall(1.9, then=Reply.agent_error(503))),
        ),
        ("`/task` resets the connection", _tmds(task_reply=Reply.connection_reset())),
        ("nothing listens on the metadata port", _refused),
        ("`${uri}` answers 500, `/task` answers", _tmds(own_reply=Reply.agent_error(500))),
        ("`${uri}` never answers, `/task` answers", _tmds(own_reply=Reply.stall(120))),
        ("ECS API never answers", _api(Reply.stall(120), Reply.stall(120))),
        (
            "DescribeTasks answers, DescribeTaskDefinition never does",
            _api(Reply.json(described, content_type="application/x-amz-json-1.1"), Reply.stall(120)),
        ),
    ]


@contextmanager
def _workdir() -> Iterator[Path]:
    with TemporaryDirectory(prefix="nhs-faults-") as name:
        yield Path(name)


def measure() -> dict[str, Any]:
    rows = []
    for name, setup in faults():
        row: dict[str, Any] = {"fault": name}
        for mode in ("open", "closed"):
            times, codes, memories = [], set(), set()
            for _ in range(REPEATS):
                with ExitStack() as stack, _workdir() as work:
                    env = setup(stack)
                    result = run_cli(work, **env, NODE_HEAP_ON_ERROR=mode)
                times.append(result.elapsed_s)
                codes.add(result.code)
                decision = [e for e in result.events if e["event"] == "decision"]
                memories.add(decision[0]["memory_mib"] if decision else None)
            row[mode] = {
                "median_s": round(statistics.median(times), 2),
                "max_s": round(max(times), 2),
                "exit_codes": sorted(codes),
                "memory_mib": sorted(memories, key=str),
            }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    return {"deadline_s": 5.0, "repeats": REPEATS, "python": platform.python_version(), "rows": rows}


def render_table(data: dict[str, Any]) -> str:
    lines = [
        "| fault | open: exit, memory planned from | closed: exit | wall time, median (max) |",
        "| --- | --- | --- | --- |",
    ]
    for row in data["rows"]:
        opened, closed = row["open"], row["closed"]
        memory = ", ".join("no limit (no heap flag)" if m is None else f"{m} MiB" for m in opened["memory_mib"])
        codes = "/".join(str(c) for c in closed["exit_codes"])
        lines.append(
            f"| {row['fault']} | {'/'.join(str(c) for c in opened['exit_codes'])}, {memory} | {codes} | "
            f"{opened['median_s']:.1f} s ({max(opened['max_s'], closed['max_s']):.1f} s) |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = measure()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    print(render_table(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
