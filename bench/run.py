"""The OOM benchmark: real Node processes in real memory cgroups, four ways of sizing the heap.

Workloads (bench/workloads/, tests/js/):
- `leak`: a pure heap leak; how far it gets before it is stopped, and by whom.
- `steady`: a service holding a live set of small objects with churn for a fixed time; the largest
  live set that survives is searched for (bisection over the share of the container).
- `cluster`: cluster workers leaking at once in one container (2 up to 512 MiB, 4 above).
- `buffers`: a quarter of the container held in Buffers (off the V8 heap), then a heap leak.

Strategies:
- `node-default`: no flag.
- `recipe-75`: `--max-old-space-size` = 75 % of the container, clamped to 512..8192 MiB.
- `percentage-75`: `--max-old-space-size-percentage=75` (Node 22.21+, 24.6+; skipped elsewhere).
- `sidecar`: this project's real CLI (`python -m sidecar`, NODE_HEAP_MEMORY_MIB = the container, the
  Node version, and the workload's hints: NODE_HEAP_PROCESSES for `cluster`, NODE_HEAP_RESERVE_MIB
  for `buffers`), then `sh -c '. node-heap.env && exec node ...'`.
Every strategy's flags travel in NODE_OPTIONS, so cluster workers inherit them as they would.

Each run gets a fresh memory cgroup with the container's limit and no swap, the page cache dropped
first (Node's binary is then charged to the container, as in a new task), a deadline, and a
progress watchdog (no output for `stall_s` = hung, thrashing at the limit). Outcomes:
`survived` (steady: ran its time), `v8_abort` (V8's heap-limit abort: clean), `hang`,
`kernel_kill` (the memcg OOM killer), or something unexpected.

Run: `.venv/bin/python -m bench.run --profile short|full` (root; cgroup v1 or v2 memory controller).
Writes bench/results/<profile>.json, prints the tables, draws bench/results/<profile>.png. Every run
is also printed to stderr as one JSON line; `--resume that.log` reuses the runs an interrupted
benchmark already finished (same workload, strategy, Node major, size and parameter).
`--majors`, `--sizes`, `--workloads` and `--strategies` narrow a profile; `--sidecar-setting
NODE_HEAP_HEADROOM_RATIO=0` varies the sidecar's settings (with `--out` elsewhere).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tests.memcg import MIB, MemoryCgroup, RunResult, drop_page_cache, memcg_unavailable_reason
from tests.nodes import install_node, node_version

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
LEAK = REPO / "tests" / "js" / "leak.js"
CLUSTER = REPO / "tests" / "js" / "cluster-leak.js"
STEADY = REPO / "bench" / "workloads" / "steady.js"
BUFFERS = REPO / "bench" / "workloads" / "buffers.js"
STRATEGIES = ("node-default", "recipe-75", "percentage-75", "sidecar")
WORKLOADS = ("leak", "steady", "cluster", "buffers")


@dataclass(frozen=True)
class Profile:
    majors: tuple[int, ...]
    sizes_mib: tuple[int, ...]
    steady_sizes_mib: tuple[int, ...]
    steady_seconds: float
    steady_step_pct: float  # bisection stops when the bracket is this narrow
    stall_s: float


PROFILES = {
    "short": Profile((22,), (128, 1024), (1024,), 8.0, 6.0, 8.0),
    "full": Profile((20, 22, 24, 26), (128, 256, 512, 1024, 2048, 4096), (1024, 2048), 12.0, 2.5, 15.0),
}


@dataclass
class Run:
    workload: str
    strategy: str
    node: str
    major: int
    memory_mib: int
    param: int | None  # cluster: workers; buffers: MiB held; steady: target live MiB
    outcome: str
    heap_size_limit_mib: float | None
    peak_usage_pct: float  # cgroup peak (anonymous memory + the binary's page cache) / container
    peak_rss_pct: float  # anonymous memory / container
    elapsed_s: float
    hang_kind: str | None = None  # `at-limit` (kernel reclaim at the cgroup limit) or `gc` (V8 stuck collecting)
    live_pct: float | None = None  # steady: the live set actually built, share of the container
    detail: dict[str, Any] = field(default_factory=dict)


def workers_for(memory_mib: int) -> int:
    return 2 if memory_mib <= 512 else 4


def buffers_for(memory_mib: int) -> int:
    return memory_mib // 4


def supports_percentage(node: Path) -> bool:
    probe = subprocess.run(
        [str(node), "-e", "0"],
        env={"PATH": "/usr/bin:/bin", "NODE_OPTIONS": "--max-old-space-size-percentage=75"},
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def sidecar_env_file(directory: Path, memory_mib: int, major: int, hints: dict[str, str]) -> Path:
    """Run the real CLI and return the env file it wrote."""
    env_file = directory / "node-heap.env"
    subprocess.run(
        [sys.executable, "-m", "sidecar"],
        env={
            "PATH": "/usr/bin:/bin",
            "NODE_HEAP_MEMORY_MIB": str(memory_mib),
            "NODE_HEAP_NODE_VERSION": str(major),
            "NODE_HEAP_ENV_FILE": str(env_file),
            **hints,
        },
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return env_file


def workload_argv(workload: str, node: Path, memory_mib: int, param: int | None, seconds: float) -> list[str]:
    if workload == "leak":
        return [str(node), str(LEAK)]
    if workload == "cluster":
        return [str(node), str(CLUSTER), str(param)]
    if workload == "buffers":
        return [str(node), str(BUFFERS), str(param)]
    return [str(node), "--expose-gc", str(STEADY), str(param), str(seconds)]


def launch(
    strategy: str, argv: list[str], *, memory_mib: int, major: int, directory: Path, hints: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that start `argv` under `strategy` (flags in NODE_OPTIONS).

    `sidecar` runs the real CLI with `hints` (NODE_HEAP_* settings) into `directory`, then sources
    its env file in front of `argv`, as the Node container of a task does.
    """
    env = {"PATH": "/usr/bin:/bin"}
    if strategy == "recipe-75":
        env["NODE_OPTIONS"] = f"--max-old-space-size={min(max(memory_mib * 3 // 4, 512), 8192)}"
    elif strategy == "percentage-75":
        env["NODE_OPTIONS"] = "--max-old-space-size-percentage=75"
    elif strategy == "sidecar":
        env_file = sidecar_env_file(directory, memory_mib, major, hints)
        argv = ["sh", "-c", f'. "{env_file}" && exec "$@"', "sh", *argv]
    elif strategy != "node-default":
        raise ValueError(f"unknown strategy {strategy!r}: expected one of {', '.join(STRATEGIES)}")
    return argv, env


SIDECAR_SETTINGS: dict[str, str] = {}  # extra NODE_HEAP_* settings for every sidecar run (--sidecar-setting)


def hints_for(workload: str, param: int | None) -> dict[str, str]:
    """What a user would tell the sidecar about this workload, then the benchmark's own settings."""
    hints = {
        "cluster": {"NODE_HEAP_PROCESSES": str((param or 1) + 1)},  # the workers and the primary
        "buffers": {"NODE_HEAP_RESERVE_MIB": str(param)},
    }.get(workload, {})
    return {**hints, **SIDECAR_SETTINGS}


CaseKey = tuple[str, str, int, int, int | None]
FINISHED: dict[CaseKey, Run] = {}  # runs of an interrupted benchmark (--resume)
REUSED: list[Run] = []  # those of them this benchmark took instead of running again


def load_finished(log: Path) -> dict[CaseKey, Run]:
    runs = [Run(**json.loads(line)) for line in log.read_text().splitlines() if line.startswith("{")]
    return {(r.workload, r.strategy, r.major, r.memory_mib, r.param): r for r in runs}


def run_case(
    workload: str, strategy: str, *, major: int, memory_mib: int, param: int | None, profile: Profile
) -> Run | None:
    finished = FINISHED.pop((workload, strategy, major, memory_mib, param), None)
    if finished is not None:
        REUSED.append(finished)
        return finished
    node = install_node(major)
    if strategy == "percentage-75" and not supports_percentage(node):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        argv, env = launch(
            strategy,
            workload_argv(workload, node, memory_mib, param, profile.steady_seconds),
            memory_mib=memory_mib,
            major=major,
            directory=Path(tmp),
            hints=hints_for(workload, param),
        )
        drop_page_cache()
        timeout = profile.steady_seconds * 4 + 120 if workload == "steady" else 600
        with MemoryCgroup(memory_mib * MIB) as cgroup:
            result = cgroup.run(argv, env=env, timeout_s=timeout, stall_s=profile.stall_s)
    return summarize(workload, strategy, node=node, major=major, memory_mib=memory_mib, param=param, result=result)


def summarize(
    workload: str, strategy: str, *, node: Path, major: int, memory_mib: int, param: int | None, result: RunResult
) -> Run:
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    limits = [line["heap_size_limit"] for line in lines if "heap_size_limit" in line]
    outcome = result.outcome
    detail: dict[str, Any] = {}
    live_pct = None
    if workload == "steady":
        built = [line for line in lines if line.get("phase") == "built"]
        if built:
            live_pct = round(100 * built[0]["live_bytes"] / (memory_mib * MIB), 1)
        if outcome == "exit_0" and any(line.get("done") for line in lines):
            outcome = "survived"
    if workload == "cluster":
        exits = [line for line in lines if line.get("event") == "worker_exit"]
        detail["worker_signals"] = [w["signal"] for w in exits]
        if outcome == "exit_0" and exits and all(w["signal"] == "SIGABRT" for w in exits):
            outcome = "v8_abort"  # every worker stopped by V8; the primary then exits 0
    return Run(
        workload=workload,
        strategy=strategy,
        node=node_version(node),
        major=major,
        memory_mib=memory_mib,
        param=param,
        outcome=outcome,
        heap_size_limit_mib=round(limits[0] / MIB, 1) if limits else None,
        peak_usage_pct=round(100 * result.peak_bytes / (memory_mib * MIB), 1),
        peak_rss_pct=round(100 * result.peak_rss_bytes / (memory_mib * MIB), 1),
        elapsed_s=round(result.elapsed_s, 1),
        hang_kind=result.hang_kind,
        live_pct=live_pct,
        detail=detail,
    )


def search_steady(strategy: str, major: int, memory_mib: int, profile: Profile, log: Any) -> dict[str, Any] | None:
    """The largest live set (share of the container) that survives: bisection over [2 %, 98 %]."""
    low, high = 2.0, 98.0  # low survives (assumed), high does not (assumed)
    runs: list[Run] = []
    best: Run | None = None
    while high - low > profile.steady_step_pct:
        middle = (low + high) / 2
        live_mib = int(memory_mib * middle / 100)
        run = run_case("steady", strategy, major=major, memory_mib=memory_mib, param=live_mib, profile=profile)
        if run is None:
            return None
        log(run)
        runs.append(run)
        if run.outcome == "survived":
            low, best = middle, run
        else:
            high = middle
    return {
        "workload": "steady",
        "strategy": strategy,
        "major": major,
        "memory_mib": memory_mib,
        "largest_surviving_live_pct": best.live_pct if best else None,
        "outcomes": sorted({r.outcome for r in runs}),
        "runs": [asdict(r) for r in runs],
    }


def run_profile(
    name: str, profile: Profile, workloads: Sequence[str], strategies: Sequence[str] = STRATEGIES
) -> dict[str, Any]:
    started = time.time()
    runs: list[dict[str, Any]] = []
    searches: list[dict[str, Any]] = []

    def log(run: Run) -> None:
        print(json.dumps(asdict(run)), file=sys.stderr, flush=True)

    for major in profile.majors:
        for size in profile.sizes_mib:
            for workload in (w for w in workloads if w != "steady"):
                param = {"cluster": workers_for(size), "buffers": buffers_for(size)}.get(workload)
                for strategy in strategies:
                    run = run_case(workload, strategy, major=major, memory_mib=size, param=param, profile=profile)
                    if run is not None:
                        log(run)
                        runs.append(asdict(run))
        if "steady" in workloads:
            for size in profile.steady_sizes_mib:
                for strategy in strategies:
                    found = search_steady(strategy, major, size, profile, log)
                    if found is not None:
                        searches.append(found)
    return {
        "profile": name,
        "settings": asdict(profile),
        "sidecar_settings": dict(SIDECAR_SETTINGS),
        # Wall time of this process; with --resume, the reused runs' time is spent in the earlier one.
        "elapsed_s": round(time.time() - started),
        "reused_runs": len(REUSED),
        "reused_elapsed_s": round(sum(r.elapsed_s for r in REUSED)),
        "runs": runs,
        "steady": searches,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="short")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--out", type=Path, help="default: bench/results/<profile>.json")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--majors", help="Node majors instead of the profile's, e.g. 22,24")
    parser.add_argument("--sizes", help="container sizes (MiB) instead of the profile's, for every workload")
    parser.add_argument(
        "--sidecar-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a NODE_HEAP_* setting for every sidecar run, e.g. NODE_HEAP_HEADROOM_RATIO=0",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="LOG",
        help="reuse the runs in the stderr of an interrupted run with the same options",
    )
    args = parser.parse_args()
    profile = PROFILES[args.profile]
    if args.majors:
        profile = replace(profile, majors=tuple(int(m) for m in args.majors.split(",")))
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(","))
        profile = replace(profile, sizes_mib=sizes, steady_sizes_mib=sizes)
    for setting in args.sidecar_setting:
        name, _, value = setting.partition("=")
        if not name.startswith("NODE_HEAP_"):
            parser.error(f"--sidecar-setting {setting!r}: expected NODE_HEAP_<NAME>=<value>")
        SIDECAR_SETTINGS[name] = value
    if args.resume:
        FINISHED.update(load_finished(args.resume))
    # A stopped benchmark still removes its cgroups (the context managers run on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    reason = memcg_unavailable_reason()
    if reason:
        print(f"bench: {reason}", file=sys.stderr)
        return 2
    from bench.report import render_chart, render_tables  # noqa: PLC0415 (matplotlib: only when drawing)

    data = run_profile(args.profile, profile, args.workloads.split(","), args.strategies.split(","))
    out = args.out or RESULTS / f"{args.profile}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(render_tables(data))
    render_chart(data, out.with_suffix(".png"))
    print(f"\nraw: {out}\nchart: {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
