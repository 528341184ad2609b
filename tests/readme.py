"""The README's generated blocks: the configuration table (from settings.py) and the benchmark's
tables (from bench/results/full.json). `python -m tests.readme` rewrites them;
tests/test_readme.py fails when they are stale."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from bench.faults import render_table as render_faults_table
from bench.report import render_tables
from sidecar.job.settings import render_settings_table

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
BENCH_RESULTS = REPO / "bench" / "results" / "full.json"
FAULT_RESULTS = REPO / "bench" / "results" / "faults.json"


def results_block() -> str:
    data = json.loads(BENCH_RESULTS.read_text())
    runs = data["runs"] + [run for search in data["steady"] for run in search["runs"]]
    versions = ", ".join(sorted({r["node"] for r in runs}, key=lambda v: int(v.lstrip("v").split(".")[0])))
    minutes = (data["elapsed_s"] + data.get("reused_elapsed_s", 0)) // 60
    resumed = f", {data['reused_runs']} runs of them before a restart and reused" if data.get("reused_runs") else ""
    return (
        f"Node {versions} on 2 vCPU, 24 GiB, Linux 6.18 x86_64, cgroup v1; `make bench-full`\n"
        f"({minutes} minutes{resumed}; raw figures in `bench/results/full.json`). Each cell: how the run\n"
        "ended (`abort` = V8's clean heap-limit abort; `ok` = survived; **HANG** = no progress, at the\n"
        "cgroup limit (`at-limit`, the kernel re-reading evicted pages) or below it (`gc`, V8 stuck\n"
        "collecting); **KILLED** = the kernel's OOM killer) and the peak memory without page cache\n"
        "(memcg `total_rss`, what ECS reports as MemoryUtilized) as a share of the container.\n\n"
        "![Heap leak and steady service](bench/results/full.png)\n\n" + render_tables(data)
    )


def replace_block(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"README has no {name} block")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def faults_block() -> str:
    data = json.loads(FAULT_RESULTS.read_text())
    return (
        f"NODE_HEAP_DEADLINE_S={data['deadline_s']:g}, {data['repeats']} runs per fault and mode, Python "
        f"{data['python']}, on the 2-vCPU machine of the benchmark.\n\n" + render_faults_table(data)
    )


def render_readme(text: str) -> str:
    text = replace_block(text, "settings-table", render_settings_table())
    text = replace_block(text, "faults", faults_block())
    return replace_block(text, "results", results_block())


if __name__ == "__main__":
    README.write_text(render_readme(README.read_text()))
    sys.exit(0)
