"""The service benchmark: a real HTTP service under a real load generator, four ways of sizing the heap.

The server (bench/workloads/service.js, node:http) holds a live set of `live_pct` % of the
container in a cache and answers POST /render: parse a JSON body, render `items` cached records
into a JSON response (a Buffer, with an ETag), write one cache entry back. Two workloads:
`typical` (20 records per request) and `alloc-heavy` (100: five times the garbage per request).

The load generator is wrk (Debian's `wrk`, `make bench-deps`): written in C on an event loop, so
one thread on its own CPU drives the server without competing with it for a Node runtime or GC
(autocannon would run on Node too); its Lua hooks send the POST bodies and report any
percentile (p99.9). It is closed-loop: fixed concurrency (`connections`) for a fixed time, after a
warm-up that lets the JIT settle. The server runs in a fresh memory cgroup of the container's size
(bench/run.py's strategies, its real sidecar CLI and its outcomes: `survived`, `v8_abort`, `hang`,
`kernel_kill`), pinned with taskset to one CPU and wrk to another when the machine has two; with
`--cpu-quota` it also runs in a cgroup v1 CPU quota (a Fargate task's vCPUs).

The machine may be shared and noisy, so strategies are interleaved: every round runs each
strategy once per cell, in an order rotated round by round, and the report compares medians and
the median of the per-round ratios (sidecar / each alternative, measured in the same round). Each
run records the machine's load average.

Per run: requests/s, latency p50/p90/p99/p99.9 (wrk), CPU seconds per 1000 requests
(process.cpuUsage of the server), GC time share (perf_hooks `gc` entries, wall time), scavenges,
mark-compacts, peak memory (cgroup), and how it ended.

Strategy specs: a strategy of bench/run.py, then `+` items: `NODE_HEAP_*=v` (a sidecar setting),
`--flag=v` (appended to NODE_OPTIONS), `NAME=v` (environment), e.g. `sidecar+NODE_HEAP_SEMI_SPACE=32`,
`node-default+--v8-pool-size=1+UV_THREADPOOL_SIZE=1`.

Run: `.venv/bin/python -m bench.service --profile short|full|sweep|cpu` (root). Writes
bench/results/service-<profile>.json and prints the tables (bench/report_service.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bench import run as bench_run
from bench.cpucg import CpuQuota, cpu_quota_unavailable_reason
from bench.run import RESULTS, launch, supports_percentage
from sidecar.sizing.node_profile import node_own_semi_space_mib, profile_for
from tests.memcg import MIB, MemoryCgroup, RunResult, drop_page_cache, memcg_unavailable_reason
from tests.nodes import install_node, node_version

REPO = Path(__file__).resolve().parent.parent
SERVER = REPO / "bench" / "workloads" / "service.js"
WRK_SCRIPT = REPO / "bench" / "workloads" / "service.lua"
WORKLOAD_ITEMS = {"typical": 20, "alloc-heavy": 100}
BASE_STRATEGIES = ("node-default", "recipe-75", "percentage-75", "sidecar")


@dataclass(frozen=True)
class Profile:
    majors: tuple[int, ...]
    sizes_mib: tuple[int, ...]
    workloads: tuple[str, ...]
    strategies: tuple[str, ...]
    rounds: int
    seconds: float
    warmup_s: float = 3.0
    connections: int = 32
    live_pct: float = 30.0
    cpu_quotas: tuple[float | None, ...] = (None,)
    alloc_heavy_min_mib: int = 2048  # alloc-heavy runs only at this size and above (its goal's sizes)
    server_cpus: str = "0"  # taskset list for the server (wrk gets the last CPU)
    stall_s: float = 15.0
    steady_search: bool = False  # also the largest surviving live set per swept semi-space (bench/run.py)


PROFILES = {
    # `make bench`: Node 24 (largest own semi-space) at 1 and 2 GiB, both workloads: ~6 minutes.
    "short": Profile((24,), (1024, 2048), ("typical", "alloc-heavy"), BASE_STRATEGIES, 2, 6.0, 2.0),
    # `make bench-service-full`: the matrix, 5 rounds (about 2 hours on 2 CPUs).
    "full": Profile((20, 22, 24, 26), (512, 1024, 2048, 4096), ("typical", "alloc-heavy"), BASE_STRATEGIES, 5, 10.0),
    # The trade-off chart: the sidecar with fixed semi-spaces against Node's default (per major).
    "sweep": Profile(
        (20, 22, 24, 26),
        (1024, 2048),
        ("alloc-heavy",),
        (
            "node-default",
            "sidecar+NODE_HEAP_SEMI_SPACE=memory",
            "sidecar+NODE_HEAP_SEMI_SPACE=8",
            "sidecar+NODE_HEAP_SEMI_SPACE=16",
            "sidecar+NODE_HEAP_SEMI_SPACE=32",
            "sidecar+NODE_HEAP_SEMI_SPACE=64",
        ),
        3,
        8.0,
        alloc_heavy_min_mib=0,
        steady_search=True,
    ),
    # Item 3 of issue 9: does following a fractional vCPU with --v8-pool-size / UV_THREADPOOL_SIZE pay?
    "cpu": Profile(
        (22, 24),
        (1024,),
        ("typical", "alloc-heavy"),
        ("sidecar", "sidecar+--v8-pool-size=1+UV_THREADPOOL_SIZE=1"),
        5,
        8.0,
        cpu_quotas=(0.25, 0.5, 1.0),
        alloc_heavy_min_mib=0,
        server_cpus="0,1",
    ),
}


@dataclass(frozen=True)
class Spec:
    """A strategy of bench/run.py with extra sidecar settings, NODE_OPTIONS flags or environment."""

    label: str
    base: str
    settings: dict[str, str] = field(default_factory=dict)
    node_options: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


def parse_spec(text: str) -> Spec:
    base, *items = text.split("+")
    if base not in BASE_STRATEGIES:
        raise ValueError(f"strategy {text!r}: expected one of {', '.join(BASE_STRATEGIES)}, then +items")
    settings: dict[str, str] = {}
    env: dict[str, str] = {}
    flags: list[str] = []
    for item in items:
        name, eq, value = item.partition("=")
        if item.startswith("--"):
            flags.append(item)
        elif not eq or not name:
            raise ValueError(f"strategy {text!r}: {item!r} is not NAME=VALUE or --flag")
        elif name.startswith("NODE_HEAP_"):
            if base != "sidecar":
                raise ValueError(f"strategy {text!r}: {name} is a sidecar setting")
            settings[name] = value
        else:
            env[name] = value
    return Spec(text, base, settings, tuple(flags), env)


@dataclass
class ServiceRun:
    workload: str
    strategy: str
    node: str
    major: int
    memory_mib: int
    cpu_quota: float | None
    round: int
    outcome: str
    heap_size_limit_mib: float | None
    live_pct: float | None
    requests_per_s: float | None
    served: int | None  # requests the server answered in the measured window
    latency_ms: dict[str, float]
    errors: int
    cpu_s_per_1k: float | None
    gc_share: float | None  # GC time (perf_hooks, wall) / the measured window
    scavenges: int | None
    mark_compacts: int | None
    max_gc_pause_ms: float | None
    peak_usage_pct: float
    peak_rss_pct: float
    loadavg: tuple[float, float]  # 1-minute load average before and after the run
    elapsed_s: float
    throttled_s: float | None = None
    semi_space_mib: int | None = None  # the sidecar's flag, else what Node picks by itself (node_profile)
    swept: bool = False  # a sidecar run with a fixed NODE_HEAP_SEMI_SPACE (the trade-off chart)
    hang_kind: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_json(port: int, path: str, timeout_s: float = 10.0) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout_s) as resp:
        return json.loads(resp.read())


def wrk_argv(port: int, seconds: float, connections: int, cpu: str | None) -> list[str]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (make bench-deps installs Debian's wrk)")
    pin = ["taskset", "-c", cpu] if cpu is not None else []
    return [
        *pin,
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        f"http://127.0.0.1:{port}/render",
    ]


def cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def pinning(profile: Profile) -> tuple[str | None, str | None]:
    """(server CPUs, wrk CPU): different CPUs when the machine has at least two, else no pinning."""
    available = cpus()
    if len(available) < 2:
        return None, None
    return profile.server_cpus, str(available[-1])


@contextlib.contextmanager
def maybe_quota(vcpus: float | None) -> Iterator[CpuQuota | None]:
    if vcpus is None:
        yield None
        return
    with CpuQuota(vcpus) as quota:
        yield quota


def run_service(
    workload: str, spec: Spec, *, major: int, memory_mib: int, vcpus: float | None, round_no: int, profile: Profile
) -> ServiceRun | None:
    node = install_node(major)
    if spec.base == "percentage-75" and not supports_percentage(node):
        return None
    items = WORKLOAD_ITEMS[workload]
    live_mib = int(memory_mib * profile.live_pct / 100)
    port = free_port()
    server_cpu, wrk_cpu = pinning(profile)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, maybe_quota(vcpus) as quota:
        argv, env = launch(
            spec.base,
            [str(node), str(SERVER), str(port), str(live_mib), str(items)],
            memory_mib=memory_mib,
            major=major,
            directory=Path(tmp),
            hints=spec.settings,
        )
        env.update(spec.env)
        semi = planned_semi_space(Path(tmp) / "node-heap.env", major, memory_mib, env.get("NODE_OPTIONS"))
        if spec.node_options:
            env["NODE_OPTIONS"] = " ".join(filter(None, [env.get("NODE_OPTIONS"), *spec.node_options]))
        prefix = (quota.enter_argv() if quota else []) + (["taskset", "-c", server_cpu] if server_cpu else [])
        drop_page_cache()
        with MemoryCgroup(memory_mib * MIB) as cgroup:
            outcome: dict[str, RunResult] = {}
            budget_s = 180 + profile.warmup_s + profile.seconds
            server = threading.Thread(
                target=lambda: outcome.setdefault(
                    "result", cgroup.run([*prefix, *argv], env=env, timeout_s=budget_s, stall_s=profile.stall_s)
                )
            )
            server.start()
            measured = drive(port, server, profile, wrk_cpu, items)
            server.join()
        throttled = quota.throttled()[1] if quota else None
    result = outcome["result"]
    return summarize(
        workload,
        spec,
        node=node,
        major=major,
        memory_mib=memory_mib,
        vcpus=vcpus,
        round_no=round_no,
        result=result,
        measured=measured,
        loadavg=(load_before, os.getloadavg()[0]),
        throttled_s=throttled,
        semi_space_mib=semi,
    )


def planned_semi_space(env_file: Path, major: int, memory_mib: int, node_options: str | None) -> int:
    """The semi-space a run gets: the sidecar's flag, else Node's own choice (the calibrated model)."""
    text = (env_file.read_text() if env_file.exists() else "") + " " + (node_options or "")
    found = re.search(r"--max-semi-space-size=(\d+)", text)
    if found:
        return int(found.group(1))
    return node_own_semi_space_mib(profile_for((major, None)), memory_mib)


def drive(port: int, server: threading.Thread, profile: Profile, wrk_cpu: str | None, items: int) -> dict[str, Any]:
    """Wait for the server, warm it up, measure one window with wrk, collect its report, stop it."""
    measured: dict[str, Any] = {}
    deadline = time.monotonic() + 170
    while server.is_alive() and time.monotonic() < deadline:
        try:
            http_json(port, "/__report", timeout_s=2)
            break
        except OSError:
            time.sleep(0.2)
    if not server.is_alive():
        return measured
    wrk_env = {"PATH": "/usr/bin:/bin", "NHS_ITEMS": str(items)}
    try:
        if profile.warmup_s > 0:
            subprocess.run(
                wrk_argv(port, profile.warmup_s, profile.connections, wrk_cpu),
                env=wrk_env,
                capture_output=True,
                check=False,
                timeout=profile.warmup_s + 60,
            )
        http_json(port, "/__mark")
        wrk = subprocess.run(
            wrk_argv(port, profile.seconds, profile.connections, wrk_cpu),
            env=wrk_env,
            capture_output=True,
            text=True,
            check=False,
            timeout=profile.seconds + 60,
        )
        lines = [line for line in wrk.stdout.splitlines() if line.startswith("{")]
        if lines:
            measured["wrk"] = json.loads(lines[-1])
        measured["server"] = http_json(port, "/__report")
        http_json(port, "/__exit")
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        measured["error"] = f"{type(exc).__name__}: {exc}"
    return measured


def summarize(
    workload: str,
    spec: Spec,
    *,
    node: Path,
    major: int,
    memory_mib: int,
    vcpus: float | None,
    round_no: int,
    result: RunResult,
    measured: dict[str, Any],
    loadavg: tuple[float, float],
    throttled_s: float | None,
    semi_space_mib: int | None,
) -> ServiceRun:
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    listening = next((line for line in lines if line.get("phase") == "listening"), None)
    wrk, report = measured.get("wrk"), measured.get("server")
    outcome = result.outcome
    if outcome == "exit_0" and wrk and report:
        outcome = "survived"
    rps = latency = cpu_1k = gc_share = None
    errors = 0
    if wrk and report and outcome == "survived":
        rps = round(wrk["requests"] / (wrk["duration_us"] / 1e6), 1)
        latency = {k: round(v / 1000, 2) for k, v in wrk["latency_us"].items()}
        errors = sum(wrk["errors"].values())
        served = max(report["served"], 1)
        cpu_1k = round((report["cpu_user_s"] + report["cpu_system_s"]) / served * 1000, 4)
        gc_share = round(report["ms"] / 1000 / report["elapsed_s"], 4)
    return ServiceRun(
        workload=workload,
        strategy=spec.label,
        node=node_version(node),
        major=major,
        memory_mib=memory_mib,
        cpu_quota=vcpus,
        round=round_no,
        outcome=outcome,
        heap_size_limit_mib=round(listening["heap_size_limit"] / MIB, 1) if listening else None,
        live_pct=round(100 * listening["live_bytes"] / (memory_mib * MIB), 1) if listening else None,
        requests_per_s=rps,
        served=report["served"] if report else None,
        latency_ms=latency or {},
        errors=errors,
        cpu_s_per_1k=cpu_1k,
        gc_share=gc_share,
        scavenges=report["scavenges"] if report else None,
        mark_compacts=report["mark_compacts"] if report else None,
        max_gc_pause_ms=round(report["max_pause_ms"], 1) if report else None,
        peak_usage_pct=round(100 * result.peak_bytes / (memory_mib * MIB), 1),
        peak_rss_pct=round(100 * result.peak_rss_bytes / (memory_mib * MIB), 1),
        loadavg=(round(loadavg[0], 2), round(loadavg[1], 2)),
        elapsed_s=round(result.elapsed_s, 1),
        throttled_s=round(throttled_s, 2) if throttled_s is not None else None,
        semi_space_mib=semi_space_mib,
        swept=spec.settings.get("NODE_HEAP_SEMI_SPACE", "").isdigit(),
        hang_kind=result.hang_kind,
        detail={"error": measured["error"]} if "error" in measured else {},
    )


def cells(profile: Profile) -> list[tuple[str, int, int, float | None]]:
    """(workload, major, size, CPU quota) in the order a round visits them."""
    return [
        (workload, major, size, vcpus)
        for major in profile.majors
        for size in profile.sizes_mib
        for workload in profile.workloads
        if workload != "alloc-heavy" or size >= profile.alloc_heavy_min_mib
        for vcpus in profile.cpu_quotas
    ]


def run_profile(name: str, profile: Profile, log: Any = None) -> dict[str, Any]:
    started = time.time()
    specs = [parse_spec(s) for s in profile.strategies]
    runs: list[dict[str, Any]] = []
    for round_no in range(profile.rounds):
        for workload, major, size, vcpus in cells(profile):
            shift = round_no % len(specs)  # a different strategy goes first in every round
            for spec in specs[shift:] + specs[:shift]:
                run = run_service(
                    workload, spec, major=major, memory_mib=size, vcpus=vcpus, round_no=round_no, profile=profile
                )
                if run is None:
                    continue
                if log:
                    log(run)
                runs.append(asdict(run))
    steady = steady_searches(profile, specs) if profile.steady_search else []
    return {
        "profile": name,
        "settings": asdict(profile),
        "cpus": len(cpus()),
        "elapsed_s": round(time.time() - started),  # the steady searches included
        "runs": runs,
        "steady": steady,
    }


def steady_searches(profile: Profile, specs: Sequence[Spec]) -> list[dict[str, Any]]:
    """For each swept semi-space: the OOM benchmark's steady search (bench/run.py), the memory side of the trade-off."""
    found: list[dict[str, Any]] = []
    steady = replace(bench_run.PROFILES["full"], steady_seconds=12.0)
    for spec in specs:
        if spec.base != "sidecar" or "NODE_HEAP_SEMI_SPACE" not in spec.settings:
            continue
        bench_run.SIDECAR_SETTINGS.clear()
        bench_run.SIDECAR_SETTINGS.update(spec.settings)
        try:
            for major in profile.majors:
                for size in profile.sizes_mib:
                    search = bench_run.search_steady("sidecar", major, size, steady, log=lambda run: None)
                    if search is not None:
                        found.append(
                            {**search, "strategy": spec.label, "semi_space": spec.settings["NODE_HEAP_SEMI_SPACE"]}
                        )
        finally:
            bench_run.SIDECAR_SETTINGS.clear()
    return found


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="short")
    parser.add_argument("--out", type=Path, help="default: bench/results/service-<profile>.json")
    parser.add_argument("--majors", help="Node majors instead of the profile's, e.g. 22,24")
    parser.add_argument("--sizes", help="container sizes (MiB) instead of the profile's")
    parser.add_argument("--workloads", help="instead of the profile's: typical, alloc-heavy")
    parser.add_argument("--strategies", help="strategy specs instead of the profile's, comma-separated")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--seconds", type=float, help="measured seconds per run")
    parser.add_argument("--cpu-quota", help="vCPU quotas, e.g. 0.25,0.5,1 (cgroup v1 cpu controller)")
    args = parser.parse_args()
    profile = PROFILES[args.profile]
    if args.majors:
        profile = replace(profile, majors=tuple(int(m) for m in args.majors.split(",")))
    if args.sizes:
        profile = replace(profile, sizes_mib=tuple(int(s) for s in args.sizes.split(",")))
    if args.workloads:
        profile = replace(profile, workloads=tuple(args.workloads.split(",")), alloc_heavy_min_mib=0)
    if args.strategies:
        profile = replace(profile, strategies=tuple(args.strategies.split(",")))
    if args.rounds:
        profile = replace(profile, rounds=args.rounds)
    if args.seconds:
        profile = replace(profile, seconds=args.seconds)
    if args.cpu_quota:
        profile = replace(profile, cpu_quotas=tuple(float(q) for q in args.cpu_quota.split(",")))
    for spec in profile.strategies:
        try:
            parse_spec(spec)
        except ValueError as exc:
            parser.error(str(exc))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    reason = memcg_unavailable_reason()
    if reason is None and any(q is not None for q in profile.cpu_quotas):
        reason = cpu_quota_unavailable_reason()
    if reason is None and shutil.which("wrk") is None:
        reason = "wrk is not installed (make bench-deps)"
    if reason:
        print(f"bench.service: {reason}", file=sys.stderr)
        return 2
    from bench.report_service import render_service  # noqa: PLC0415 (matplotlib: only when drawing)

    narrowed = any(
        getattr(args, name) for name in ("majors", "sizes", "workloads", "strategies", "rounds", "seconds", "cpu_quota")
    )
    data = run_profile(
        args.profile, profile, log=lambda run: print(json.dumps(asdict(run)), file=sys.stderr, flush=True)
    )
    data["narrowed"] = narrowed
    out = args.out or RESULTS / f"service-{args.profile}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(render_service(data, out.with_suffix(".png"), data.get("steady")))
    print(f"\nraw: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
