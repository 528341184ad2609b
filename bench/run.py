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
progress watchdog (tests/memcg.py: no output and no growth for `stall_s` at the limit = hung,
thrashing; on v2 also only once the kernel has hit the limit 1000 times since the last progress).
Outcomes: `survived` (steady: ran its time), `v8_abort` (V8's heap-limit abort: clean), `hang`,
`kernel_kill` (the memcg OOM killer), or something unexpected.

The cgroups: on v1, one cgroup with the container's limit (`docker run --memory`). On v2, the ECS
agent's layout with a task-level limit only (tests/cgroup2/ecs.py): `memory.max` on
`ecstasks.slice/ecstasks-<task>.slice`, Node in `docker-<id>.scope` without a limit of its own, in
a private cgroup namespace (Docker's default on v2); the outcome is read from `memory.events` of
both: the slice counts the limit hits (`max`, `oom`), the container's scope the kill (`oom_kill`).
`--cgroup v2` on a machine whose memory controller is v1 runs the whole benchmark in a User-Mode
Linux guest (a real Linux kernel with cgroup v2, tests/cgroup2/uml.py) with `--guest-memory-mib`.

Run: `.venv/bin/python -m bench.run --profile short|full [--cgroup auto|v1|v2]` (root).
Writes bench/results/<profile>.json, prints the tables, draws bench/results/<profile>.png. Every run
is also printed to stderr as one JSON line; `--resume that.log` reuses the runs an interrupted
benchmark already finished (same workload, strategy, Node major, size and parameter).
`--majors`, `--sizes`, `--workloads` and `--strategies` narrow a profile; `--sidecar-setting
NODE_HEAP_HEADROOM_RATIO=0` varies the sidecar's settings (with `--out` elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tests.cgroup2.ecs import EcsTask, Namespace, TaskLayout, ecs_task
from tests.memcg import MIB, MemoryCgroup, RunResult, drop_page_cache, memcg_unavailable_reason, memcg_version
from tests.nodes import CACHE, install_node, node_version

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
        if memcg_version() == 1:
            with MemoryCgroup(memory_mib * MIB) as cgroup:
                result = cgroup.run(argv, env=env, timeout_s=timeout, stall_s=profile.stall_s)
            return summarize(
                workload, strategy, node=node, major=major, memory_mib=memory_mib, param=param, result=result
            )
        with ecs_task(TaskLayout(memory_mib, Namespace.PRIVATE)) as task:
            argv = task.container_argv(argv)
            result = task.app.run(argv, env=env, timeout_s=timeout, stall_s=profile.stall_s, sample_s=V2_SAMPLE_S)
            counters = v2_counters(task, result)
    run = summarize(workload, strategy, node=node, major=major, memory_mib=memory_mib, param=param, result=result)
    return replace(run, detail={**run.detail, **counters})


V2_SAMPLE_S = 0.1  # the watchdog's period on v2: each sample reads three files, slow in a UML guest


def v2_counters(task: EcsTask, result: RunResult) -> dict[str, Any]:
    """How the run moved memory.events: at the task's slice (limit hits) and the container's scope (kills)."""
    return {
        "task_events": result.events[str(task.slice.path)],
        "container_events": result.events[str(task.app.path)],
        "limit_hits": result.limit_hits,
    }


def machine() -> dict[str, Any]:
    """Where the runs ran: cgroup version, kernel, memory, and (v2) the layout."""
    uname = os.uname()
    mem_total = next(
        int(line.split()[1]) * 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    cpuinfo = Path("/proc/cpuinfo").read_text()
    found: dict[str, Any] = {
        "cgroup": f"v{memcg_version()}",
        "kernel": f"{uname.sysname} {uname.release} {uname.machine}",
        "uml": "vendor_id\t: User Mode Linux" in cpuinfo,  # a User-Mode Linux guest (tests/cgroup2/uml.py)
        "mem_total_mib": mem_total // MIB,
        "cpus": os.cpu_count(),
        "layout": "one cgroup with the container's limit",
    }
    if memcg_version() == 2:
        found["layout"] = (
            "ECS task-level limit: memory.max on ecstasks-<task>.slice, Node in docker-<id>.scope "
            "without a limit, private cgroup namespace"
        )
    return found


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
        "machine": machine(),
        "settings": asdict(profile),
        "sidecar_settings": dict(SIDECAR_SETTINGS),
        # Wall time of this process; with --resume, the reused runs' time is spent in the earlier one.
        "elapsed_s": round(time.time() - started),
        "reused_runs": len(REUSED),
        "reused_elapsed_s": round(sum(r.elapsed_s for r in REUSED)),
        "runs": runs,
        "steady": searches,
    }


def merge_into(earlier: dict[str, Any], new: dict[str, Any], strategies: Sequence[str]) -> dict[str, Any]:
    """`earlier` with the runs of `strategies` replaced by `new`'s, and a record of what was re-measured.

    Refused unless both used the same Node versions and profile settings: a table mixing Node patch
    releases or matrices would compare what was not measured alike.
    """

    def versions(data: dict[str, Any]) -> dict[int, str]:
        every = data["runs"] + [run for search in data["steady"] for run in search["runs"]]
        return {run["major"]: run["node"] for run in every}

    before = versions(earlier)
    mismatch = {m: (v, before.get(m)) for m, v in versions(new).items() if before.get(m) != v}
    if mismatch:
        raise SystemExit(f"bench: --merge-into: Node versions differ (new, earlier): {mismatch}")
    if json.loads(json.dumps(new["settings"])) != earlier["settings"]:
        raise SystemExit("bench: --merge-into: the profile settings differ from the earlier run's")
    merged = dict(earlier)
    merged["runs"] = [r for r in earlier["runs"] if r["strategy"] not in strategies] + new["runs"]
    merged["steady"] = [s for s in earlier["steady"] if s["strategy"] not in strategies] + new["steady"]
    merged.setdefault("remeasured", []).append(
        {
            "strategies": list(strategies),
            "date": time.strftime("%Y-%m-%d", time.gmtime()),
            "elapsed_s": new["elapsed_s"],
            "sidecar_settings": new["sidecar_settings"],
        }
    )
    return merged


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
    parser.add_argument(
        "--cgroup",
        choices=("auto", "v1", "v2"),
        default="auto",
        help="auto: this machine's memory controller; v2 on a v1 machine: in a User-Mode Linux guest",
    )
    parser.add_argument("--guest-memory-mib", type=int, default=2048, help="RAM of that guest (--cgroup v2)")
    parser.add_argument(
        "--merge-into",
        type=Path,
        metavar="RESULTS",
        help="replace the --strategies' runs in an earlier result file with this run's (the others are kept): "
        "re-measures the sidecar after a rule change without re-running the alternatives, which do not use it",
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
    # A stopped benchmark still removes its cgroups, or stops its guest (cleanups run on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    out = args.out or RESULTS / f"{args.profile}{'-cgroup-v2' if args.cgroup == 'v2' else ''}.json"
    if args.cgroup == "v1" and memcg_version() == 2:
        parser.error("--cgroup v1: this machine's memory controller is on cgroup v2")
    if args.cgroup == "v2" and memcg_version() == 1:
        return run_in_uml(args, profile, out)
    if args.resume:
        FINISHED.update(load_finished(args.resume))
    reason = memcg_unavailable_reason()
    if reason:
        print(f"bench: {reason}", file=sys.stderr)
        return 2
    from bench.report import render_chart, render_tables  # noqa: PLC0415 (matplotlib: only when drawing)

    data = run_profile(args.profile, profile, args.workloads.split(","), args.strategies.split(","))
    if args.merge_into:
        data = merge_into(json.loads(args.merge_into.read_text()), data, args.strategies.split(","))
        out = args.out or args.merge_into
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(render_tables(data))
    render_chart(data, out.with_suffix(".png"))
    print(f"\nraw: {out}\nchart: {out.with_suffix('.png')}")
    return 0


def run_in_uml(args: argparse.Namespace, profile: Profile, out: Path) -> int:
    """This benchmark, again, inside a UML guest whose kernel has cgroup v2; output streamed here."""
    from tests.cgroup2.uml import GuestError, exit_status, run_in_guest  # noqa: PLC0415 (only for --cgroup v2)

    for major in profile.majors:  # the guest has no network and a read-only view of the cache
        install_node(major)
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    # The same arguments; a repeated option's last value wins, so these make the paths absolute.
    argv = [*sys.argv[1:], "--out", str(out)]
    shared = {out.parent}
    if args.resume:
        argv += ["--resume", str(args.resume.resolve())]
        shared.add(args.resume.resolve().parent)  # the guest's /tmp is its own
    try:
        run = run_in_guest(
            [sys.executable, "-m", "bench.run", *argv],
            env={"PATH": "/usr/bin:/bin", "NHS_NODE_CACHE": str(CACHE), "MPLCONFIGDIR": "/tmp/matplotlib"},
            cwd=Path.cwd(),
            rw_dirs=sorted(shared),
            memory_mib=args.guest_memory_mib,
            timeout_s=6 * 3600,
            stdout_fd=sys.stdout.fileno(),
            stderr_fd=sys.stderr.fileno(),
        )
    except GuestError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    if out.exists() and run.returncode == 0:  # how the guest was run, which it cannot see itself
        data = json.loads(out.read_text())
        host = os.uname()
        data["guest"] = {
            "memory_mib": args.guest_memory_mib,
            "host_kernel": f"{host.sysname} {host.release} {host.machine}",
            "host_cpus": os.cpu_count(),
            "boot_s": run.boot_s,
            "total_s": run.total_s,
        }
        out.write_text(json.dumps(data, indent=1) + "\n")
    print(
        f"bench: UML guest (kernel {run.kernel}) ran {run.command_s:.0f} s, {run.total_s:.0f} s in all", file=sys.stderr
    )
    return exit_status(run)


if __name__ == "__main__":
    sys.exit(main())
