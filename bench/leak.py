"""A heap leak in real memory cgroups: Node's default vs the 75 % recipe vs node-heap-sidecar.

For each Node major and container size, the same leak (tests/js/leak.js) runs in a fresh cgroup v1
memory cgroup with that limit (no swap), with the page cache dropped first so Node's binary is
charged to the container as in a fresh task. Outcomes: `v8_abort` (V8's clean heap-limit abort),
`kernel_kill` (memcg OOM kill), `hang` (no progress for 15 s: thrashing at the limit).

Strategies:
- `node-default`: no flag; Node sizes the heap from the cgroup limit it sees.
- `recipe-75`: `--max-old-space-size` = 75 % of the container, clamped to 512..8192 MiB.
- `sidecar`: the real CLI (`python -m sidecar` with NODE_HEAP_MEMORY_MIB and the Node version),
  then `sh -c '. node-heap.env && exec node leak.js'`.

Run: `.venv/bin/python -m bench.leak [--majors 20,22] [--sizes 128,256] [--out FILE]` (root).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.memcg import MIB, MemoryCgroup, drop_page_cache
from tests.nodes import MAJORS, install_node, node_version

REPO = Path(__file__).resolve().parent.parent
LEAK = REPO / "tests" / "js" / "leak.js"
SIZES_MIB = (128, 256, 512, 1024, 2048)
STRATEGIES = ("node-default", "recipe-75", "sidecar")


def recipe_75(memory_mib: int) -> int:
    return min(max(memory_mib * 75 // 100, 512), 8192)


def sidecar_env_file(memory_mib: int, major: int, directory: Path) -> Path:
    env_file = directory / "node-heap.env"
    subprocess.run(
        [sys.executable, "-m", "sidecar"],
        env={
            "PATH": "/usr/bin:/bin",
            "NODE_HEAP_MEMORY_MIB": str(memory_mib),
            "NODE_HEAP_NODE_VERSION": str(major),
            "NODE_HEAP_ENV_FILE": str(env_file),
        },
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return env_file


def run_one(strategy: str, major: int, memory_mib: int) -> dict[str, Any]:
    node = install_node(major)
    with tempfile.TemporaryDirectory() as tmp:
        if strategy == "node-default":
            argv = [str(node), str(LEAK)]
        elif strategy == "recipe-75":
            argv = [str(node), f"--max-old-space-size={recipe_75(memory_mib)}", str(LEAK)]
        else:
            env_file = sidecar_env_file(memory_mib, major, Path(tmp))
            argv = ["sh", "-c", f'. "{env_file}" && exec "{node}" "{LEAK}"']
        drop_page_cache()
        with MemoryCgroup(memory_mib * MIB) as cgroup:
            run = cgroup.run(argv, env={"PATH": "/usr/bin:/bin"}, timeout_s=300, stall_s=15)
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    limit = lines[0]["heap_size_limit"] if lines else None
    return {
        "strategy": strategy,
        "node": node_version(node),
        "major": major,
        "memory_mib": memory_mib,
        "outcome": run.outcome,
        "heap_size_limit_mib": None if limit is None else round(limit / MIB, 1),
        "peak_rss_mib": round(run.peak_rss_bytes / MIB, 1),
        "peak_rss_pct": round(100 * run.peak_rss_bytes / (memory_mib * MIB), 1),
        "elapsed_s": round(run.elapsed_s, 1),
    }


def markdown(results: list[dict[str, Any]]) -> str:
    sizes = sorted({r["memory_mib"] for r in results})
    rows = ["| Node | strategy | " + " | ".join(f"{s} MiB" for s in sizes) + " |"]
    rows.append("| --- | --- | " + " | ".join("---" for _ in sizes) + " |")
    for major in sorted({r["major"] for r in results}):
        for strategy in STRATEGIES:
            cells = []
            for size in sizes:
                match = [r for r in results if (r["major"], r["strategy"], r["memory_mib"]) == (major, strategy, size)]
                if not match:
                    cells.append("")
                    continue
                r = match[0]
                mark = {"v8_abort": "abort", "kernel_kill": "**KILLED**", "hang": "**HANG**"}.get(
                    r["outcome"], r["outcome"]
                )
                cells.append(f"{mark} {r['peak_rss_pct']:.0f}%")
            rows.append(f"| {major} | {strategy} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--majors", default=",".join(map(str, MAJORS)))
    parser.add_argument("--sizes", default=",".join(map(str, SIZES_MIB)))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = []
    for major in (int(m) for m in args.majors.split(",")):
        for size in (int(s) for s in args.sizes.split(",")):
            for strategy in STRATEGIES:
                result = run_one(strategy, major, size)
                print(json.dumps(result), file=sys.stderr, flush=True)
                results.append(result)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
