"""The README's generated blocks: the configuration table (from settings.py), the footprint table
(from sizing/siblings.py), the benchmark's tables (from bench/results/full.json, cgroup v1, and
bench/results/leak-cgroup-v2.json, cgroup v2), the fault suite's (bench/results/faults.json) and the
service benchmark's (bench/results/service-full.json, else service-short.json; then every
service-sweep*.json and service-cpu*.json).
`python -m tests.readme` rewrites them; tests/test_readme.py fails when they are stale."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from bench import report_service
from bench.faults import render_table as render_faults_table
from bench.report import render_tables
from bench.startup import render_table as render_startup_table
from sidecar.settings import render_settings_table
from sidecar.sizing.footprints import render_catalogue_table

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
RESULTS = REPO / "bench" / "results"
BENCH_RESULTS = RESULTS / "full.json"
FAULT_RESULTS = RESULTS / "faults.json"
STARTUP_RESULTS = RESULTS / "startup.json"
BENCH_RESULTS_V2 = RESULTS / "leak-cgroup-v2.json"
SERVICE_COMMANDS = {
    "full": "make bench-service-full",
    "short": "make bench",
    "sweep": ".venv/bin/python -m bench.service --profile sweep",
    "cpu": ".venv/bin/python -m bench.service --profile cpu",
}


def _versions(runs: list[dict[str, object]]) -> str:
    return ", ".join(sorted({str(r["node"]) for r in runs}, key=lambda v: int(v.lstrip("v").split(".")[0])))


def _service_part(path: Path, title: str) -> str:
    data = json.loads(path.read_text())
    command = SERVICE_COMMANDS.get(data["profile"], "python -m bench.service")
    narrowed = " (narrowed on the command line)" if data.get("narrowed") else ""
    head = (
        f"{title}: Node {_versions(data['runs'])} on {data.get('cpus', 2)} vCPU, 24 GiB, Linux 6.18 x86_64, "
        f"cgroup v1; `{command}`{narrowed}, {data['elapsed_s'] // 60} minutes, raw figures in "
        f"`bench/results/{path.name}`."
    )
    chart = path.with_suffix(".png")
    picture = f"\n\n![{title.strip('*')}](bench/results/{chart.name})" if chart.exists() else ""
    return head + picture + "\n\n" + report_service.render_tables(data)


def service_block() -> str:
    main = RESULTS / "service-full.json"
    if not main.exists():
        main = RESULTS / "service-short.json"
    parts = [_service_part(main, "**Service benchmark**")]
    parts += [_service_part(p, "**Semi-space sweep**") for p in sorted(RESULTS.glob("service-sweep*.json"))]
    parts += [_service_part(p, "**CPU quota**") for p in sorted(RESULTS.glob("service-cpu*.json"))]
    return "\n\n".join(parts)


def results_block() -> str:
    data = json.loads(BENCH_RESULTS.read_text())
    runs = data["runs"] + [run for search in data["steady"] for run in search["runs"]]
    versions = ", ".join(sorted({r["node"] for r in runs}, key=lambda v: int(v.lstrip("v").split(".")[0])))
    minutes = (data["elapsed_s"] + data.get("reused_elapsed_s", 0)) // 60
    resumed = f", {data['reused_runs']} runs of them before a restart and reused" if data.get("reused_runs") else ""
    again = "".join(
        f"; the {', '.join(m['strategies'])} rows measured again on {m['date']} with the current rules "
        f"({m['elapsed_s'] // 60} minutes, `--merge-into`)"
        for m in data.get("remeasured", [])
    )
    return (
        f"Node {versions} on 2 vCPU, 24 GiB, Linux 6.18 x86_64, cgroup v1; `make bench-full`\n"
        f"({minutes} minutes{resumed}{again}; raw figures in `bench/results/full.json`). Each cell: how the run\n"
        "ended (`abort` = V8's clean heap-limit abort; `ok` = survived; **HANG** = no progress, at the\n"
        "cgroup limit (`at-limit`, the kernel re-reading evicted pages) or below it (`gc`, V8 stuck\n"
        "collecting); **KILLED** = the kernel's OOM killer) and the peak memory without page cache\n"
        "(memcg `total_rss`, what ECS reports as MemoryUtilized) as a share of the container.\n\n"
        "![Heap leak and steady service](bench/results/full.png)\n\n" + render_tables(data)
    )


def results_v2_block() -> str:
    """The cgroup v2 rows, labelled with the guest they ran in (recorded by bench/run.py)."""
    data = json.loads(BENCH_RESULTS_V2.read_text())
    versions = ", ".join(sorted({r["node"] for r in data["runs"]}, key=lambda v: int(v.lstrip("v").split(".")[0])))
    machine, guest = data["machine"], data.get("guest") or {}
    minutes = (data["elapsed_s"] + data.get("reused_elapsed_s", 0)) // 60
    where = f"{machine['kernel']}, cgroup v2"
    if machine.get("uml"):
        where += (
            f", in a User-Mode Linux guest ({machine['cpus']} CPU, {guest.get('memory_mib')} MiB of RAM: "
            f"MemTotal {machine['mem_total_mib']} MiB)\non the cgroup v1 host above"
        )
    return (
        f"Node {versions} on {where}; `make bench-cgroup-v2` ({minutes} minutes; raw figures in\n"
        "`bench/results/leak-cgroup-v2.json`, with each run's `memory.events` changes). The limit is ECS's\n"
        "task-level one: `memory.max` on the task's slice, Node in its container's scope without a limit\n"
        "of its own, in a private cgroup namespace (Docker's default on v2), so Node sees the machine's\n"
        "RAM and not the limit. Cells as above; the peak without page cache is the scope's `memory.stat`\n"
        "`anon`. Wall times in the guest are not comparable with the host's (system calls and page faults\n"
        "are several times slower under UML); outcomes and memory figures are the kernel's own.\n\n"
        "![Heap leak on cgroup v2](bench/results/leak-cgroup-v2.png)\n\n" + render_tables(data)
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


def startup_block() -> str:
    data = json.loads(STARTUP_RESULTS.read_text())
    return f"{data['python']} in the image `{data['image']}`, {data['repeats']} runs each.\n\n" + render_startup_table(
        data
    )


def render_readme(text: str) -> str:
    text = replace_block(text, "settings-table", render_settings_table())
    text = replace_block(text, "startup", startup_block())
    text = replace_block(text, "faults", faults_block())
    text = replace_block(text, "footprint-table", render_catalogue_table())
    text = replace_block(text, "results", results_block())
    text = replace_block(text, "results-cgroup-v2", results_v2_block())
    return replace_block(text, "service-results", service_block())


if __name__ == "__main__":
    README.write_text(render_readme(README.read_text()))
    sys.exit(0)
