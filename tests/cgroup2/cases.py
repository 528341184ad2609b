"""The cgroup v2 end-to-end cases, run inside a machine with a real cgroup v2 (the UML guest).

`python -m tests.cgroup2.cases SPEC OUT` reads a list of cases from SPEC (JSON), runs each in a
fresh ECS task layout (tests/cgroup2/ecs.py) and writes what it observed to OUT after every case,
so a guest stopped half-way still reports the cases it finished. It observes and records; the
assertions are the host's (tests/test_cgroup2.py), where pytest reports them.

Kinds of case:
- `read`: the real CLI (`python -m sidecar`) as the init container in its own scope, with or
  without a TMDS stub on 127.0.0.1 (inside the guest): its `decision` and what the layout let it see.
- `node`: the same, then Node in the app's scope, a sibling of the init container's in the task
  slice: the heap limit Node reports under the env file, a heap leak under it, and the same leak
  with Node's defaults, each with the memory.events counters of the scope and the slice.
- `bench`: the OOM benchmark's heap-leak runs (bench/run.py `run_case`), as `--cgroup v2` makes them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tests.cgroup2.ecs import EcsTask, TaskLayout, ec2_task_metadata, ecs_task, init_environment
from tests.memcg import RunResult, drop_page_cache
from tests.nodes import cached_node
from tests.servers import TmdsStub

REPO = Path(__file__).resolve().parent.parent.parent
JS = REPO / "tests" / "js"
# The watchdog for leaks (tests/memcg.py): no progress for 8 s while the slice's limit was hit at
# least 1000 times since the last progress is a hang. A thrashing leak in the guest hits it about
# 1000 times a second; V8 stopping a leak under its limit does not hit it at all.
STALL_S, STALL_HITS, GC_STALL_S, SAMPLE_S = 8.0, 1000, 90.0, 0.25
LEAK_TIMEOUT_S = 240.0


def mem_total_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/meminfo has no MemTotal")


def run_record(result: RunResult) -> dict[str, Any]:
    """A RunResult as JSON, with its derived outcome."""
    record = dataclasses.asdict(result)
    record["outcome"], record["hang_kind"] = result.outcome, result.hang_kind
    return record


def run_sidecar(task: EcsTask, case: dict[str, Any], env_file: Path) -> dict[str, Any]:
    """The init container: the real CLI in the init scope, against a TMDS stub when the case has one."""
    with ExitStack() as stack:
        uri = None
        if case["tmds_mib"] is not None:  # the task size TMDS reports
            container, task_doc = ec2_task_metadata(case["tmds_mib"])
            uri = stack.enter_context(TmdsStub(container=container, task=task_doc)).uri
        env = init_environment(uri, str(env_file), case["node_major"])
        result = task.init.run(task.container_argv([sys.executable, "-m", "sidecar"]), env=env, cwd=str(REPO))
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    view = task.init.run(
        task.container_argv(["sh", "-c", "cat /proc/self/cgroup; grep ' - cgroup2 ' /proc/self/mountinfo"])
    )
    lines = view.stdout.splitlines()
    return {
        "returncode": result.returncode,
        "decision": next((e for e in events if e.get("event") == "decision"), None),
        "stderr": result.stderr[-2000:],
        "elapsed_s": round(result.elapsed_s, 2),
        "proc_self_cgroup": lines[0] if lines else None,
        "cgroup_mountinfo": lines[1:],
        "env_text": env_file.read_text() if env_file.exists() else None,
    }


def run_node(task: EcsTask, node: Path, env_file: Path | None, script: str, **watch: Any) -> RunResult:
    """Node in the app's scope, started as the task definition does (`. file && exec node`) or bare."""
    argv = [str(node), str(JS / script)]
    if env_file is not None:
        argv = ["sh", "-c", f'. "{env_file}" && exec "$@"', "sh", *argv]
    return task.app.run(task.container_argv(argv), env={"PATH": "/usr/bin:/bin"}, **watch)


def run_bench_case(case: dict[str, Any]) -> dict[str, Any]:
    """The OOM benchmark's own runs (bench/run.py on its cgroup v2 backend), one per strategy."""
    from bench import run as bench  # noqa: PLC0415 (only this kind of case needs the benchmark)

    runs: dict[str, Any] = {}
    for strategy in case["strategies"]:
        run = bench.run_case(
            "leak",
            strategy,
            major=case["node_major"],
            memory_mib=case["memory_mib"],
            param=None,
            profile=bench.PROFILES["short"],
        )
        runs[strategy] = None if run is None else dataclasses.asdict(run)
    return {"runs": runs, "machine": bench.machine()}


def run_case(case: dict[str, Any], workdir: Path) -> dict[str, Any]:
    if case["kind"] == "bench":
        return run_bench_case(case)
    layout = TaskLayout.from_json(case["layout"])
    env_file = workdir / "node-heap.env"
    with ecs_task(layout) as task:
        observed = {"sidecar": run_sidecar(task, case, env_file), "paths": _paths(task)}
        if case["kind"] != "node":
            return observed
        node = cached_node(case["node_major"])
        if node is None:
            return {**observed, "error": f"Node {case['node_major']} is not installed"}
        watch = {
            "timeout_s": LEAK_TIMEOUT_S,
            "stall_s": STALL_S,
            "stall_hits": STALL_HITS,
            "gc_stall_s": GC_STALL_S,
            "sample_s": SAMPLE_S,
        }
        planned = run_node(task, node, env_file, "report.js", timeout_s=60)
        default = run_node(task, node, None, "report.js", timeout_s=60)
        drop_page_cache()
        planned_leak = run_node(task, node, env_file, "leak.js", **watch)
        drop_page_cache()
        default_leak = run_node(task, node, None, "leak.js", **watch)
    return {
        **observed,
        "report": _first_json(planned.stdout),
        "default_report": _first_json(default.stdout),
        "leak": run_record(planned_leak),
        "default_leak": run_record(default_leak),
    }


def _paths(task: EcsTask) -> dict[str, str]:
    return {"slice": str(task.slice.path), "init": str(task.init.path), "app": str(task.app.path)}


def _first_json(text: str) -> Any:
    lines = [line for line in text.splitlines() if line.startswith("{")]
    return json.loads(lines[0]) if lines else None


def _write_atomic(path: Path, doc: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)


def main(spec_path: Path, out_path: Path) -> int:
    spec = json.loads(spec_path.read_text())
    report: dict[str, Any] = {"kernel": os.uname().release, "mem_total_bytes": mem_total_bytes(), "cases": {}}
    for case in spec["cases"]:
        with tempfile.TemporaryDirectory() as workdir:
            started = time.monotonic()
            try:
                observed = run_case(case, Path(workdir))
            except Exception as exc:  # recorded for the host's assertions; the next case still runs
                observed = {"error": f"{type(exc).__name__}: {exc}"}
            report["cases"][case["id"]] = {**observed, "case_s": round(time.monotonic() - started, 1)}
        _write_atomic(out_path, report)
        print(f"cases: {case['id']} done", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
