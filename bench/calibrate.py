"""Measure the per-version constants of the heap model (sidecar/sizing/node_profile.py) on real Node.

For each Node major:
- idle footprint: RssFile (the binary's resident pages, shared by all Node processes of a
  container) and RssAnon of a process that loaded http, zlib and crypto;
- heap overhead: a pure heap leak with `--max-old-space-size=X --max-semi-space-size=1` in a large
  memory cgroup, with the page cache warm so only anonymous memory is charged; the cgroup's
  peak usage at V8's heap-limit abort, fitted as `intercept + slope * X` over several X;
- the smallest old space Node starts with: `--max-old-space-size=X --max-semi-space-size=1` for
  X = 1, 2, ... until the idle script (http, zlib, crypto loaded) exits 0 three times in a row
  from that X on (below it Node aborts, traps or segfaults during start-up).

Run: `.venv/bin/python -m bench.calibrate [--majors 20,22] [--out bench/results/calibration.json]`
(root, cgroup v1 memory controller).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.memcg import MIB, MemoryCgroup
from tests.nodes import MAJORS, install_node, node_version

REPO = Path(__file__).resolve().parent.parent
LEAK = REPO / "tests" / "js" / "leak.js"
IDLE = "require('http');require('zlib');require('crypto');" + (REPO / "tests" / "js" / "report.js").read_text()
OLD_SIZES_MIB = (64, 256, 1024, 2048)
START_SEARCH_MIB = range(1, 33)
START_REPEATS = 3


def smallest_start(node: Path) -> dict[str, Any]:
    """The smallest --max-old-space-size (semi-space 1 MiB) from which every larger one starts too."""
    exits: dict[int, list[int]] = {}
    for old in START_SEARCH_MIB:
        argv = [str(node), f"--max-old-space-size={old}", "--max-semi-space-size=1", "-e", IDLE]
        exits[old] = [subprocess.run(argv, capture_output=True, check=False).returncode for _ in range(START_REPEATS)]
    failing = [old for old, codes in exits.items() if any(codes)]
    smallest = (max(failing) + 1) if failing else min(START_SEARCH_MIB)
    return {
        "smallest_start_old_mib": smallest,
        "start_exit_codes": {str(old): codes for old, codes in exits.items() if old <= smallest},
    }


def measure(major: int) -> dict[str, object]:
    node = install_node(major)
    with MemoryCgroup(8192 * MIB) as cg:  # also warms the page cache, charged to this cgroup
        idle = json.loads(cg.run([str(node), "-e", IDLE]).stdout)
        cg.run([str(node), "--max-old-space-size=64", str(LEAK)])
    points: list[dict[str, Any]] = []
    xs: list[float] = []
    ys: list[float] = []
    for old in OLD_SIZES_MIB:
        with MemoryCgroup(8192 * MIB) as cg:  # fresh, so the cached binary is charged elsewhere
            run = cg.run([str(node), f"--max-old-space-size={old}", "--max-semi-space-size=1", str(LEAK)])
        peak_mib = round(run.peak_bytes / MIB, 1)
        points.append({"old_mib": old, "outcome": run.outcome, "peak_mib": peak_mib})
        xs.append(old)
        ys.append(peak_mib)
    slope, intercept = statistics.linear_regression(xs, ys)
    worst = max(y - x for x, y in zip(xs, ys, strict=True))
    return {
        "major": major,
        "version": node_version(node),
        **smallest_start(node),
        "idle_rss_file_mib": round(idle["status"]["RssFile"] / MIB, 1),
        "idle_rss_anon_mib": round(idle["status"]["RssAnon"] / MIB, 1),
        "leak_points": points,
        "fit_intercept_mib": round(intercept, 1),
        "fit_slope": round(slope, 4),
        "worst_peak_minus_old_mib": round(worst, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--majors", default=",".join(map(str, MAJORS)))
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--only-start",
        action="store_true",
        help="measure only the smallest old space Node starts with, and merge it into --out",
    )
    args = parser.parse_args()
    majors = [int(m) for m in args.majors.split(",")]
    if args.only_start:
        known = {r["major"]: r for r in json.loads(args.out.read_text())} if args.out and args.out.exists() else {}
        for major in majors:
            node = install_node(major)
            known.setdefault(major, {"major": major, "version": node_version(node)}).update(smallest_start(node))
        results = list(known.values())
    else:
        results = [measure(major) for major in majors]
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
