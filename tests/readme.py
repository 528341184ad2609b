"""The docs' generated blocks and the figures their prose quotes, kept true to their sources.

The docs are README.md, CHANGELOG.md and docs/*.md (`doc_paths`). A generated block is the text
between `<!-- NAME:start -->` and `<!-- NAME:end -->` in any of them; `BLOCKS` maps each NAME to the
function that renders it from its source (sidecar/settings.py, sidecar/sizing/footprints.py,
bench/results/*.json), given the directory of the doc it lives in, so that a chart's path resolves
from wherever the block was moved. `python -m tests.readme` rewrites every block of every doc;
tests/test_readme.py fails when one is stale, unknown, or in no doc.

A figure quoted in prose is a `Figure`: words a doc must contain, built here from the results file
they come from (`figures()`, and `plan_figures()` from a real `explain` run), so a result or a plan
that changes makes tests/test_readme.py name the sentence to update.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import report_service
from bench.faults import render_table as render_faults_table
from bench.report import render_tables
from bench.startup import render_table as render_startup_table
from sidecar import __version__
from sidecar.errors import render_exit_codes_table
from sidecar.settings import render_settings_table
from sidecar.sizing.footprints import render_catalogue_table

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
CHANGELOG = REPO / "CHANGELOG.md"
DOCS = REPO / "docs"
RESULTS = REPO / "bench" / "results"
BENCH_RESULTS = RESULTS / "full.json"
FAULT_RESULTS = RESULTS / "faults.json"
STARTUP_RESULTS = RESULTS / "startup.json"
STARTUP_RESULTS_0_1 = RESULTS / "startup-0.1.0.json"
BENCH_RESULTS_V2 = RESULTS / "leak-cgroup-v2.json"
HEADROOM_RESULTS = RESULTS / "headroom-0.json"
CALIBRATION_RESULTS = RESULTS / "calibration.json"
SERVICE_RESULTS = RESULTS / "service-full.json"
SWEEP_RESULTS = RESULTS / "service-sweep-loaded.json"
CPU_RESULTS = RESULTS / "service-cpu-loaded.json"
SERVICE_COMMANDS = {
    "full": "make bench-service-full",
    "short": "make bench",
    "sweep": ".venv/bin/python -m bench.service --profile sweep",
    "cpu": ".venv/bin/python -m bench.service --profile cpu",
}
MARKER = re.compile(r"<!-- ([a-z0-9-]+):(start|end) -->")
SIGNALS = {-5: "SIGTRAP", -6: "SIGABRT", -11: "SIGSEGV"}  # start-up failures seen in calibration.json


def doc_paths(repo: Path = REPO) -> list[Path]:
    """Every doc that may hold a generated block or a checked figure."""
    return [repo / "README.md", repo / "CHANGELOG.md", *sorted((repo / "docs").glob("*.md"))]


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def _major(version: str) -> int:
    return int(version.lstrip("v").split(".")[0])


def _versions(runs: Iterable[Mapping[str, Any]]) -> str:
    return ", ".join(sorted({str(r["node"]) for r in runs}, key=_major))


def _link(target: Path, base: Path) -> str:
    """`target` as a relative link from a doc in `base` (GitHub resolves links relative to the doc)."""
    return Path(os.path.relpath(target, base)).as_posix()


def _pct(value: float) -> str:
    return f"{value:.0f}"


def _span(values: Iterable[float], fmt: Callable[[float], str] = _pct) -> str:
    """`12-34` (or `12` when all are alike) over rounded values."""
    shown = sorted({fmt(v) for v in values}, key=float)
    return shown[0] if len(shown) == 1 else f"{shown[0]}-{shown[-1]}"


def _words(values: Sequence[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


# ---- generated blocks -----------------------------------------------------------------------------


def headline_block(base: Path) -> str:
    """The README's one figure: kernel kills and hangs per heap setting over the whole cgroup v1 matrix."""
    data = _load(BENCH_RESULTS)
    every = data["runs"] + [run for search in data["steady"] for run in search["runs"]]
    settings = data["settings"]
    sizes = settings["sizes_mib"]
    low = f"{sizes[0]} MiB"
    high = f"{sizes[-1] // 1024} GiB" if sizes[-1] >= 1024 else f"{sizes[-1]} MiB"
    majors = _words([str(m) for m in settings["majors"]])
    labels = {
        "node-default": "Node's default",
        "recipe-75": "a flat 75 % (`--max-old-space-size` = 75 % of the container)",
        "sidecar": "**node-heap-sidecar**",
    }
    lines = ["| heap setting | runs killed by the kernel or hung at the limit |", "| --- | --- |"]
    for strategy, label in labels.items():
        runs = [r for r in every if r["strategy"] == strategy]
        bad = sum(1 for r in runs if r["outcome"] in ("kernel_kill", "hang"))
        lines.append(f"| {label} | {bad} of {len(runs)} |")
    return (
        f"A heap leak, a steady service, cluster workers and a Buffer-heavy app in real memory cgroups of\n"
        f"{low} to {high}, on Node {majors} (cgroup v1; every run in\n"
        f"[docs/benchmarks.md]({_link(DOCS / 'benchmarks.md', base)})):\n\n" + "\n".join(lines)
    )


def _service_part(path: Path, title: str, base: Path) -> str:
    data = _load(path)
    command = SERVICE_COMMANDS.get(data["profile"], "python -m bench.service")
    narrowed = " (narrowed on the command line)" if data.get("narrowed") else ""
    head = (
        f"{title}: Node {_versions(data['runs'])} on {data.get('cpus', 2)} vCPU, 24 GiB, Linux 6.18 x86_64, "
        f"cgroup v1; `{command}`{narrowed}, {data['elapsed_s'] // 60} minutes, raw figures in "
        f"`bench/results/{path.name}`."
    )
    chart = path.with_suffix(".png")
    picture = f"\n\n![{title.strip('*')}]({_link(chart, base)})" if chart.exists() else ""
    tables = report_service.render_tables(data)
    goals = report_service.goals_table(data)
    if goals.count("\n") < 2:  # the header and its rule only: no goal applies (the cpu profile has none)
        tables = tables.removeprefix(f"**Service goals** ({data['profile']} profile)\n\n{goals}\n\n")
    return head + picture + "\n\n" + tables


def service_block(base: Path) -> str:
    main = SERVICE_RESULTS if SERVICE_RESULTS.exists() else RESULTS / "service-short.json"
    return _service_part(main, "**Service benchmark**", base)


def service_sweep_block(base: Path) -> str:
    parts = [_service_part(p, "**Semi-space sweep**", base) for p in sorted(RESULTS.glob("service-sweep*.json"))]
    return "\n\n".join(parts)


def service_cpu_block(base: Path) -> str:
    return "\n\n".join(_service_part(p, "**CPU quota**", base) for p in sorted(RESULTS.glob("service-cpu*.json")))


def results_block(base: Path) -> str:
    data = _load(BENCH_RESULTS)
    runs = data["runs"] + [run for search in data["steady"] for run in search["runs"]]
    minutes = (data["elapsed_s"] + data.get("reused_elapsed_s", 0)) // 60
    resumed = f", {data['reused_runs']} runs of them before a restart and reused" if data.get("reused_runs") else ""
    again = "".join(
        f"; the {', '.join(m['strategies'])} rows measured again on {m['date']} with the current rules "
        f"({m['elapsed_s'] // 60} minutes, `--merge-into`)"
        for m in data.get("remeasured", [])
    )
    return (
        f"Node {_versions(runs)} on 2 vCPU, 24 GiB, Linux 6.18 x86_64, cgroup v1; `make bench-full`\n"
        f"({minutes} minutes{resumed}{again}; raw figures in `bench/results/full.json`). Each cell: how the run\n"
        "ended (`abort` = V8's clean heap-limit abort; `ok` = survived; **HANG** = no progress, at the\n"
        "cgroup limit (`at-limit`, the kernel re-reading evicted pages) or below it (`gc`, V8 stuck\n"
        "collecting); **KILLED** = the kernel's OOM killer) and the peak memory without page cache\n"
        "(memcg `total_rss`, what ECS reports as MemoryUtilized) as a share of the container.\n\n"
        f"![Heap leak and steady service]({_link(BENCH_RESULTS.with_suffix('.png'), base)})\n\n" + render_tables(data)
    )


def results_v2_block(base: Path) -> str:
    """The cgroup v2 rows, labelled with the guest they ran in (recorded by bench/run.py)."""
    data = _load(BENCH_RESULTS_V2)
    machine, guest = data["machine"], data.get("guest") or {}
    minutes = (data["elapsed_s"] + data.get("reused_elapsed_s", 0)) // 60
    where = f"{machine['kernel']}, cgroup v2"
    if machine.get("uml"):
        where += (
            f", in a User-Mode Linux guest ({machine['cpus']} CPU, {guest.get('memory_mib')} MiB of RAM: "
            f"MemTotal {machine['mem_total_mib']} MiB)\non the cgroup v1 host above"
        )
    return (
        f"Node {_versions(data['runs'])} on {where}; `make bench-cgroup-v2` ({minutes} minutes; raw figures in\n"
        "`bench/results/leak-cgroup-v2.json`, with each run's `memory.events` changes). The limit is ECS's\n"
        "task-level one: `memory.max` on the task's slice, Node in its container's scope without a limit\n"
        "of its own, in a private cgroup namespace (Docker's default on v2), so Node sees the machine's\n"
        "RAM and not the limit. Cells as above; the peak without page cache is the scope's `memory.stat`\n"
        "`anon`. Wall times in the guest are not comparable with the host's (system calls and page faults\n"
        "are several times slower under UML); outcomes and memory figures are the kernel's own.\n\n"
        f"![Heap leak on cgroup v2]({_link(BENCH_RESULTS_V2.with_suffix('.png'), base)})\n\n" + render_tables(data)
    )


def faults_block(base: Path) -> str:
    data = _load(FAULT_RESULTS)
    return (
        f"NODE_HEAP_DEADLINE_S={data['deadline_s']:g}, {data['repeats']} runs per fault and mode, Python "
        f"{data['python']}, on the 2-vCPU machine of the benchmark.\n\n" + render_faults_table(data)
    )


def startup_block(base: Path) -> str:
    data = _load(STARTUP_RESULTS)
    return f"{data['python']} in the image `{data['image']}`, {data['repeats']} runs each.\n\n" + render_startup_table(
        data
    )


def _young(entry: Mapping[str, Any]) -> dict[str, Any]:
    found = entry["young_generation"]
    return json.loads(found) if isinstance(found, str) else dict(found)


def calibration_young_block(base: Path) -> str:
    """The semi-space each Node line picks by itself, per memory range where no line changes its choice."""
    entries = [_young(e) for e in _load(CALIBRATION_RESULTS)]
    points = {e["major"]: {p["memory_mib"]: p["semi_space_mib"] for p in e["points"]} for e in entries}
    sizes = sorted({m for found in points.values() for m in found})
    # Spans of measured sizes over which no line changes its choice, named by their first and last point.
    spans: list[tuple[int, int]] = []
    for i, size in enumerate(sizes):
        if i and all(p[size] == p[sizes[i - 1]] for p in points.values()):
            spans[-1] = (spans[-1][0], size)
        else:
            spans.append((size, size))
    header = [f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in spans]
    rows: dict[tuple[float, ...], list[int]] = {}
    for major in sorted(points):
        rows.setdefault(tuple(points[major][lo] for lo, _ in spans), []).append(major)
    lines = ["| memory (MiB) | " + " | ".join(header) + " |", "| --- | " + " | ".join("---" for _ in header) + " |"]
    for values, majors in rows.items():
        lines.append(f"| Node {', '.join(map(str, majors))} | " + " | ".join(f"{v:g}" for v in values) + " |")
    versions = ", ".join(e["version"].lstrip("v") for e in entries)
    return f"Semi-space in MiB on Node {versions}:\n\n" + "\n".join(lines)


def calibration_footprint_block(base: Path) -> str:
    """Idle footprint and the heap-leak peaks per old-space size, with the fitted overhead."""
    entries = _load(CALIBRATION_RESULTS)
    olds = [p["old_mib"] for p in entries[0]["leak_points"]]
    lines = [
        f"| Node | RssFile (MiB) | RssAnon (MiB) | peak at X={' / '.join(map(str, olds))} (MiB) | fit |",
        "| --- | --- | --- | --- | --- |",
    ]
    for e in entries:
        peaks = " / ".join(f"{p['peak_mib']:.1f}" for p in e["leak_points"])
        lines.append(
            f"| {e['version'].lstrip('v')} | {e['idle_rss_file_mib']:.1f} | {e['idle_rss_anon_mib']:.1f} | {peaks} "
            f"| {e['fit_intercept_mib']:.1f} + {e['fit_slope']:.3f} X |"
        )
    return "\n".join(lines)


def _below(codes: Mapping[str, Sequence[int]], smallest: int) -> str:
    """`1-2: SIGTRAP; 3: SIGABRT` from the exit codes (negative: signals) of each size below the smallest start."""
    groups: list[tuple[int, int, str]] = []
    for size in sorted(int(s) for s in codes if int(s) < smallest):
        seen = sorted(set(codes[str(size)]))
        name = " or ".join(SIGNALS.get(c, f"exit {c}") for c in seen)
        if groups and groups[-1][2] == name and groups[-1][1] == size - 1:
            groups[-1] = (groups[-1][0], size, name)
        else:
            groups.append((size, size, name))
    return "; ".join(f"{lo}: {name}" if lo == hi else f"{lo}-{hi}: {name}" for lo, hi, name in groups)


def calibration_start_block(base: Path) -> str:
    """The smallest old space each Node line starts with, and how it fails below it."""
    lines = ["| Node | smallest start (MiB) | below it (three runs each, all alike) |", "| --- | --- | --- |"]
    for e in _load(CALIBRATION_RESULTS):
        smallest = e["smallest_start_old_mib"]
        lines.append(f"| {e['version'].lstrip('v')} | {smallest} | {_below(e['start_exit_codes'], smallest)} |")
    return "\n".join(lines)


ADOPT_EXAMPLE_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop-api:2024.12.1"


def adopt_example_block(base: Path) -> str:
    """adopt on a task definition that leaves the program to an image whose config says
    `ENTRYPOINT ["docker-entrypoint.sh"]`, `CMD ["npm", "start"]`, `NODE_VERSION=22.11.0` (the rewrite run
    here, with that config as images.py reports it): the app container and the init container's settings."""
    from sidecar.fleet.images import ImageFacts, ImageLookup  # noqa: PLC0415
    from sidecar.fleet.rewrite import AdoptOptions, adopt_definition  # noqa: PLC0415

    facts = ImageFacts(
        reference=ADOPT_EXAMPLE_IMAGE,
        digest=None,
        entrypoint=("docker-entrypoint.sh",),
        cmd=("npm", "start"),
        env=(("NODE_VERSION", "22.11.0"),),
        user="node",
        working_dir="/app",
        labels=(),
        platform="linux/amd64",
        source="registry",
    )
    logs = {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/shop", "awslogs-region": "eu-west-1"}}
    app = {"name": "api", "image": ADOPT_EXAMPLE_IMAGE, "essential": True, "logConfiguration": logs}
    definition = {
        "family": "shop",
        "taskRoleArn": "arn:aws:iam::123456789012:role/shop-task",
        "cpu": "512",
        "memory": "1024",
        "containerDefinitions": [app],
    }
    lookups = {ADOPT_EXAMPLE_IMAGE: ImageLookup(ADOPT_EXAMPLE_IMAGE, facts, None)}
    options = AdoptOptions(image="<account>.dkr.ecr.<region>.amazonaws.com/node-heap-sidecar:" + __version__)
    adoption = adopt_definition("task-definition", definition, options, lookups)
    containers = {c["name"]: c for c in adoption.document["containerDefinitions"]}
    shown = {k: containers["api"][k] for k in ("name", "entryPoint", "command", "dependsOn")}
    init_env = {pair["name"]: pair["value"] for pair in containers["node-heap-init"]["environment"]}
    notes = "\n".join(f"adopt: note: {note}" for note in adoption.notes)
    return (
        "```json\n{\n" + ",\n".join(f'  "{k}": {json.dumps(v)}' for k, v in shown.items()) + "\n}\n```\n\n"
        "The init container gets "
        + ", ".join(f"`{k}={v}`" for k, v in init_env.items())
        + ", and stderr says:\n\n```text\n"
        + notes
        + "\n```"
    )


BLOCKS: dict[str, Callable[[Path], str]] = {
    "headline": headline_block,
    "settings-table": lambda base: render_settings_table(),
    "exit-codes": lambda base: render_exit_codes_table(),
    "adopt-example": adopt_example_block,
    "footprint-table": lambda base: render_catalogue_table(),
    "results": results_block,
    "results-cgroup-v2": results_v2_block,
    "service-results": service_block,
    "service-sweep": service_sweep_block,
    "service-cpu": service_cpu_block,
    "startup": startup_block,
    "faults": faults_block,
    "calibration-footprint": calibration_footprint_block,
    "calibration-start": calibration_start_block,
    "calibration-young": calibration_young_block,
}


def block_names(text: str) -> list[str]:
    """The generated blocks of a doc, in order; a start without its end (or the reverse) is an error."""
    names, open_name = [], None
    for match in MARKER.finditer(text):
        name, edge = match.groups()
        if edge == "start" and open_name is None:
            open_name = name
        elif edge == "end" and open_name == name:
            names.append(name)
            open_name = None
        else:
            raise ValueError(f"<!-- {name}:{edge} --> is out of place (open block: {open_name})")
    if open_name is not None:
        raise ValueError(f"<!-- {open_name}:start --> has no end")
    return names


def render_doc(text: str, base: Path, blocks: Mapping[str, Callable[[Path], str]] = BLOCKS) -> str:
    """`text` with each of its generated blocks rendered for a doc in directory `base`."""
    for name in block_names(text):
        if name not in blocks:
            raise ValueError(f"unknown generated block {name!r} (known: {', '.join(sorted(blocks))})")
        body = blocks[name](base)
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)  # type: ignore[misc]
    return text


def render_readme(text: str) -> str:
    """The README with its blocks rendered (kept for callers that only know the README)."""
    return render_doc(text, REPO)


def render_all(repo: Path = REPO) -> dict[Path, str]:
    """Every doc's text with its generated blocks rendered."""
    return {path: render_doc(path.read_text(), path.parent) for path in doc_paths(repo)}


# ---- figures quoted in prose ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figure:
    """Words that `doc` (relative to the repo) must contain, and the file they come from."""

    doc: str
    words: str
    source: str


def _every_run(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(data["runs"]) + [run for s in data.get("steady") or [] for run in s["runs"]]


def _bad(runs: Iterable[Mapping[str, Any]]) -> int:
    return sum(1 for r in runs if r["outcome"] in ("kernel_kill", "hang"))


def _full_figures() -> list[Figure]:
    data, src = _load(BENCH_RESULTS), "bench/results/full.json"
    every = _every_run(data)
    strategies = ("node-default", "recipe-75", "percentage-75", "sidecar")
    by = {s: [r for r in every if r["strategy"] == s] for s in strategies}
    leak = {(r["strategy"], r["major"], r["memory_mib"]): r for r in data["runs"] if r["workload"] == "leak"}
    steady = {(s["strategy"], s["major"], s["memory_mib"]): s["largest_surviving_live_pct"] for s in data["steady"]}
    majors = data["settings"]["majors"]
    big = [r for (s, _, m), r in leak.items() if s == "sidecar" and m >= 1024]
    at_1g = [r for (s, _, m), r in leak.items() if s == "sidecar" and m == 1024]
    from_2g = [r for (s, _, m), r in leak.items() if s == "sidecar" and m >= 2048]
    recipe_2g = [r for (s, _, m), r in leak.items() if s == "recipe-75" and m >= 2048]
    ratios = [steady[("sidecar", m, 1024)] / steady[("node-default", m, 1024)] for m in majors]
    ahead_2g = [steady[("sidecar", m, 2048)] - steady[("recipe-75", m, 2048)] for m in majors]
    tied = (24, 26)  # the majors where the recipe's heap limit at 1 GiB matches the sidecar's

    def at_1g_of(strategy: str, field: str, fmt: str) -> str:
        return " and ".join(format(leak[(strategy, m, 1024)][field], fmt) for m in tied)

    b = "docs/benchmarks.md"
    return [
        Figure(
            b,
            f"Node's default hangs or is killed in {_bad(by['node-default'])} of {len(by['node-default'])} runs, "
            f"`recipe-75` in {_bad(by['recipe-75'])} of {len(by['recipe-75'])}, `percentage-75` in "
            f"{_bad(by['percentage-75'])} of {len(by['percentage-75'])}",
            src,
        ),
        Figure(b, f"{_bad(by['sidecar'])} of its {len(by['sidecar'])} runs", src),
        Figure(b, f"({_span(r['peak_usage_pct'] for r in big)} %, what", src),
        Figure(
            b,
            f"({_span(r['peak_rss_pct'] for r in big)} %: {_span(r['peak_rss_pct'] for r in at_1g)} % at 1 GiB)",
            src,
        ),
        Figure(
            b,
            f"({_span(r['peak_rss_pct'] for r in from_2g)} % against {_span(r['peak_rss_pct'] for r in recipe_2g)} %)",
            src,
        ),
        Figure(
            b,
            f"({at_1g_of('sidecar', 'peak_rss_pct', '.1f')} % against "
            f"{at_1g_of('recipe-75', 'peak_rss_pct', '.1f')} %)",
            src,
        ),
        Figure(
            b,
            f"({at_1g_of('sidecar', 'heap_size_limit_mib', '.0f')} MiB against "
            f"{at_1g_of('recipe-75', 'heap_size_limit_mib', '.0f')})",
            src,
        ),
        Figure(
            b,
            f"({_span(ratios, lambda v: f'{v:.2f}')}x: "
            f"{', '.join(_pct(steady[('sidecar', m, 1024)]) for m in majors)} % against "
            f"{_span(steady[('node-default', m, 1024)] for m in majors)} %)",
            src,
        ),
        Figure(b, f"at 2 GiB it is {_span(ahead_2g)} points ahead on every major", src),
        Figure(
            b,
            f"the `speed` default gives {', '.join(_pct(steady[('sidecar', m, 1024)]) for m in majors[:-1])} and "
            f"{_pct(steady[('sidecar', majors[-1], 1024)])} %",
            src,
        ),
        Figure(b, f"({steady[('sidecar', 24, 1024)]:.1f} vs {steady[('recipe-75', 24, 1024)]:.1f} %)", src),
        Figure("README.md", f"| Node's default | {_bad(by['node-default'])} of {len(by['node-default'])} |", src),
        Figure(
            "CHANGELOG.md",
            f"0 kernel kills and 0 hangs in the sidecar's {len(by['sidecar'])} runs, against "
            f"{_bad(by['node-default'])}, {_bad(by['recipe-75'])} and {_bad(by['percentage-75'])}",
            src,
        ),
    ]


def _headroom_figures() -> list[Figure]:
    data, src = _load(HEADROOM_RESULTS), "bench/results/headroom-0.json"
    full = _load(BENCH_RESULTS)
    (search,) = data["steady"]
    runs = search["runs"]
    hung = [r for r in runs if r["outcome"] == "hang"]
    hung.sort(key=lambda r: r["param"])  # the live-set target in MiB
    targets = " and ".join(_pct(100 * r["param"] / search["memory_mib"]) for r in hung)
    (leak,) = data["runs"]
    default = next(
        s["largest_surviving_live_pct"]
        for s in full["steady"]
        if (s["strategy"], s["major"], s["memory_mib"]) == ("node-default", search["major"], search["memory_mib"])
    )
    ratio = search["largest_surviving_live_pct"] / default
    sidecar_full = [r for r in _every_run(full) if r["strategy"] == "sidecar"]
    return [
        Figure("docs/benchmarks.md", f"{len(hung)} of the {len(runs)} steady runs", src),
        Figure("docs/benchmarks.md", f"(live-set targets of {targets} %)", src),
        Figure(
            "docs/benchmarks.md",
            f"gets a {leak['heap_size_limit_mib']:.0f} MiB heap limit; the leak then reaches "
            f"{_pct(leak['peak_rss_pct'])} % without page cache, and the steady service survives with "
            f"{_pct(search['largest_surviving_live_pct'])} % ({ratio:.2f}x the default)",
            src,
        ),
        Figure("docs/calibration.md", f"hung at the cgroup limit in {len(hung)} of {len(runs)} runs", src),
        Figure("docs/calibration.md", f"with the default, none of {len(sidecar_full)} runs hung", src),
    ]


def _v2_figures() -> list[Figure]:
    data, src = _load(BENCH_RESULTS_V2), "bench/results/leak-cgroup-v2.json"
    full = _load(BENCH_RESULTS)
    mine = [r for r in data["runs"] if r["strategy"] == "sidecar"]
    others = [r for r in data["runs"] if r["strategy"] != "sidecar"]
    kills = [r for r in others if r["outcome"] == "kernel_kill"]
    hangs = [r for r in others if r["outcome"] == "hang"]
    v1 = {
        (r["major"], r["memory_mib"]): r for r in full["runs"] if r["workload"] == "leak" and r["strategy"] == "sidecar"
    }
    gaps = [abs(r["peak_rss_pct"] - v1[(r["major"], r["memory_mib"])]["peak_rss_pct"]) for r in mine]
    limits = {r["strategy"]: r["heap_size_limit_mib"] for r in others if r["memory_mib"] == 1024 and r["major"] == 22}
    one_g = {r["major"]: r["heap_size_limit_mib"] for r in mine if r["memory_mib"] == 1024}
    hits = [r["detail"]["limit_hits"] for r in hangs]
    defaults = [r["heap_size_limit_mib"] for r in others if r["strategy"] == "node-default"]
    b = "docs/benchmarks.md"
    return [
        Figure(b, f"the sidecar's {len(mine)} runs all end in V8's abort", src),
        Figure(b, f"at {_span(r['peak_rss_pct'] for r in mine)} % of the task without page cache", src),
        Figure(b, f"within {max(gaps):.0f} points of the v1 figures", src),
        Figure(b, f"{_bad(others)} of {len(others)} runs killed or hung", src),
        Figure(b, f"in each of the {len(kills)} kills", src),
        Figure(b, f"in each of the {len(hangs)} hangs", src),
        Figure(b, f"{min(hits) // 1000} 000-{-(-max(hits) // 1000)} 000 limit hits", src),
        Figure(b, f"about {_span(defaults)} MiB in the", src),
        Figure(b, f"`--max-old-space-size-percentage=75` gives {limits['percentage-75']:.0f} MiB", src),
        Figure(b, f"heap limit {one_g[22]:.0f} MiB on Node 22", src),
    ]


def _rows(table: str) -> list[dict[str, str]]:
    """A rendered markdown table's rows, each a mapping of header to cell."""
    lines = [line for line in table.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[2:]]


def _by_cell(table: str) -> dict[tuple[str, str, str], dict[str, str]]:
    """A service table's rows by (Node, MiB, strategy)."""
    return {(row["Node"], row["MiB"], row["strategy"]): row for row in _rows(table)}


def _service_figures() -> list[Figure]:
    data, src = _load(SERVICE_RESULTS), "bench/results/service-full.json"
    b = "docs/benchmarks.md"
    typical = _by_cell(report_service.service_table(data, "typical"))

    def cell(major: int, mib: int, strategy: str, column: str) -> str:
        return typical[(str(major), str(mib), strategy)][column]

    scav = "scavenges / 1k req"
    every_goal = _rows(report_service.goals_table(data))
    goals = [g for g in every_goal if g["goal"].startswith("req/s")]
    speed = [float(g["measured"].split("x")[0]) for g in goals]
    tail = [float(g["measured"].split(", ")[1].split("x")[0]) for g in goals]
    gc_ok = [
        float(g["measured"].split("GC ")[1].split(" %")[0]) <= float(g["measured"].split("vs ")[1].split(" %")[0])
        for g in goals
    ]
    slow = [s for s in speed if s < 0.98]
    heavy_rows = _by_cell(report_service.service_table(data, "alloc-heavy"))

    def gc(rows: dict[tuple[str, str, str], dict[str, str]], major: int, mib: int, strategy: str) -> str:
        return rows[(str(major), str(mib), strategy)]["GC time"].removesuffix(" %")

    def gc_pair(rows: dict[tuple[str, str, str], dict[str, str]], major: int, mib: int) -> str:
        return f"{gc(rows, major, mib, 'sidecar')} against {gc(rows, major, mib, 'node-default')} %"

    loads = [x for r in data["runs"] for x in r["loadavg"]]
    heavy = {g["Node"]: g["measured"] for g in every_goal if g["goal"].startswith("alloc-heavy")}
    return [
        Figure(
            b,
            f"(Node 22, 1 GiB: {cell(22, 1024, 'sidecar', scav)} against {cell(22, 1024, 'node-default', scav)}; "
            f"2 GiB: {cell(22, 2048, 'sidecar', scav)} against {cell(22, 2048, 'node-default', scav)})",
            src,
        ),
        Figure(b, f"Node's default in {sum(gc_ok)} of {len(gc_ok)} cells", src),
        Figure(
            b,
            f"GC time share falls ({gc_pair(typical, 22, 1024)}, {gc_pair(typical, 22, 2048)}; alloc-heavy at "
            f"2 GiB {gc_pair(heavy_rows, 22, 2048)})",
            src,
        ),
        Figure(
            b,
            f"above it on Node 20 at 2 GiB ({gc_pair(typical, 20, 2048)} typical, {gc_pair(heavy_rows, 20, 2048)} "
            f"alloc-heavy) and on Node 24 alloc-heavy ({gc_pair(heavy_rows, 24, 2048)},",
            src,
        ),
        Figure(b, f"a quiet machine, load average {_span(loads, lambda v: f'{v:.1f}')})", src),
        Figure(
            b,
            f"measured {cell(24, 1024, 'sidecar', 'req/s')} against {cell(24, 1024, 'recipe-75', 'req/s')} "
            f"requests/s and {cell(24, 1024, 'sidecar', 'p99 ms')} against {cell(24, 1024, 'recipe-75', 'p99 ms')} "
            "ms p99",
            src,
        ),
        Figure(
            b,
            f"in {len(speed) - len(slow)} of {len(speed)} cells and below it in {len(slow)} "
            f"({_span(slow, lambda v: f'{v:.2f}')}x",
            src,
        ),
        Figure(b, f"its p99 is within 1.05x in {sum(t <= 1.05 for t in tail)} of {len(tail)} cells", src),
        Figure(
            b,
            f"met on Node 20 ({heavy['20']}) and 26 ({heavy['26']}), not on 22 ({heavy['22']}) and 24 ({heavy['24']},",
            src,
        ),
    ]


def _sweep_figures() -> list[Figure]:
    data, src = _load(SWEEP_RESULTS), "bench/results/service-sweep-loaded.json"
    b = "docs/benchmarks.md"
    heavy = _by_cell(report_service.service_table(data, "alloc-heavy"))

    def gc(major: int, mib: int, strategy: str) -> str:
        row = heavy[(str(major), str(mib), strategy)]
        return f"{float(row['scavenges / 1k req']):.1f} and {row['GC time']}"

    def own24(column: str) -> list[float]:
        """Node 24 at 1 GiB with a 16 MiB semi-space: Node's own default, and the sidecar's default."""
        return [float(heavy[("24", "1024", s)][column].removesuffix(" %")) for s in ("node-default", "sidecar")]

    steady = {(s["strategy"], s["major"], s["memory_mib"]): s["largest_surviving_live_pct"] for s in data["steady"]}
    wide = "sidecar+NODE_HEAP_SEMI_SPACE=64"
    small = ("sidecar+NODE_HEAP_SEMI_SPACE=memory", "sidecar+NODE_HEAP_SEMI_SPACE=node")
    peaks = [heavy[(str(m), "1024", wide)]["peak"].rstrip(" %") for m in (22, 24)]
    loads = [x for r in data["runs"] for x in r["loadavg"]]
    return [
        Figure(b, f"Node 22, 1 GiB: {gc(22, 1024, 'node-default')} of the time in GC", src),
        Figure(b, f"{gc(22, 1024, 'sidecar')} with the default's 16 MiB", src),
        Figure(b, f"{gc(22, 1024, wide)} with 64 MiB", src),
        Figure(b, f"Node 22, 2 GiB: {gc(22, 2048, 'node-default')} (Node's 8 MiB)", src),
        Figure(b, f"{gc(22, 2048, 'sidecar')} (32 MiB)", src),
        Figure(b, f"Node 24, 1 GiB: {gc(24, 1024, small[0])} with 0.1.0's 4 MiB", src),
        Figure(
            b,
            f"{_span(own24('scavenges / 1k req'), lambda v: f'{v:.1f}')} and "
            f"{_span(own24('GC time'), lambda v: f'{v:.1f}')} % with Node's own and the default's 16 MiB",
            src,
        ),
        Figure(b, f"peaked at {_span(float(p) for p in peaks)} % of a 1 GiB container", src),
        Figure(
            b,
            f"survived with a live set of only {_pct(steady[(wide, 22, 1024)])} % (Node 22) and "
            f"{_pct(steady[(wide, 24, 1024)])} % (Node 24) of 1 GiB, against "
            f"{_span(steady[(s, 22, 1024)] for s in small)} % and {_span(steady[(s, 24, 1024)] for s in small)} %",
            src,
        ),
        Figure(
            b,
            f"{_span(steady[(wide, m, 2048)] for m in (22, 24))} % against "
            f"{_span(steady[(s, m, 2048)] for s in small for m in (22, 24))} % at 2 GiB",
            src,
        ),
        Figure(b, f"(load average {_span(loads)})", src),
    ]


def _cpu_figures() -> list[Figure]:
    data, src = _load(CPU_RESULTS), "bench/results/service-cpu-loaded.json"
    quotas = sorted({r["cpu_quota"] for r in data["runs"]})
    one = next(s for s in data["settings"]["strategies"] if s != "sidecar")
    speeds, tails = [], []
    for quota in quotas:
        mine = [r for r in data["runs"] if r["cpu_quota"] == quota and r["strategy"] == "sidecar"]
        theirs = [r for r in data["runs"] if r["cpu_quota"] == quota and r["strategy"] == one]
        speeds.append(f"{report_service.paired_ratio(mine, theirs, report_service.rps):.2f}x")
        tails.append(f"{report_service.paired_ratio(mine, theirs, report_service.p99):.2f}x")
    loads = [x for r in data["runs"] for x in r["loadavg"]]
    return [
        Figure(
            "docs/benchmarks.md",
            f"came out at {_words(speeds)} requests/s and {_words(tails)} p99",
            src,
        ),
        Figure("docs/benchmarks.md", f"(load average {_span(loads)})", src),
    ]


def _startup_figures() -> list[Figure]:
    now, before = _load(STARTUP_RESULTS), _load(STARTUP_RESULTS_0_1)
    imports = {row["module"]: row["cumulative_ms"] for row in now["imports"]}
    return [
        Figure(
            "docs/benchmarks.md",
            f"took the job from {before['job_memory_given']['median_ms']:.0f} ms",
            "bench/results/startup-0.1.0.json",
        ),
        Figure(
            "docs/benchmarks.md",
            f"structlog ({imports['structlog']:.0f} ms cumulative",
            "bench/results/startup.json",
        ),
        Figure("docs/benchmarks.md", f"urllib3 ({imports['urllib3']:.0f} ms:", "bench/results/startup.json"),
        Figure(
            "CHANGELOG.md",
            f"from {before['job_memory_given']['median_ms']:.0f} to {now['job_memory_given']['median_ms']:.0f} ms "
            "in the image",
            "bench/results/startup*.json",
        ),
    ]


def _fault_figures() -> list[Figure]:
    data = _load(FAULT_RESULTS)
    worst = max(mode["max_s"] for row in data["rows"] for mode in (row["open"], row["closed"]))
    return [Figure("docs/design.md", f"at most {worst:.1f} s with the default deadline", "bench/results/faults.json")]


def _calibration_figures() -> list[Figure]:
    entries = _load(CALIBRATION_RESULTS)
    src = "bench/results/calibration.json"
    young = {e["major"]: {p["memory_mib"]: p["semi_space_mib"] for p in _young(e)["points"]} for e in entries}
    sizes = (256, 512, 1024, 2048, 4096)
    groups: dict[tuple[float, ...], list[int]] = {}
    for major in sorted(young):
        groups.setdefault(tuple(young[major][s] for s in sizes), []).append(major)
    said = [
        " / ".join(f"{v:g}" for v in values) + f" MiB{' at 256 MiB, 512 MiB, 1, 2 and 4 GiB' if i == 0 else ''} "
        f"on Node {' and '.join(map(str, majors))}"
        for i, (values, majors) in enumerate(groups.items())
    ]
    points = [len(_young(e)["points"]) for e in entries]
    mismatches = sum(len(_young(e)["model_mismatches"]) for e in entries)
    smallest = ", ".join(str(e["smallest_start_old_mib"]) for e in entries[:-1])
    return [
        Figure("docs/design.md", "; ".join(said), src),
        Figure(
            "docs/calibration.md",
            f"It matches all {_span(points)} measured points of every major" if not mismatches else "(mismatches)",
            src,
        ),
        Figure(
            "docs/design.md",
            f"measured by `bench.calibrate`: {smallest} and {entries[-1]['smallest_start_old_mib']} MiB",
            src,
        ),
        Figure(
            "CHANGELOG.md",
            "measured: " + "/".join(str(e["smallest_start_old_mib"]) for e in entries) + " MiB",
            src,
        ),
    ]


def _fuzz_figures() -> list[Figure]:
    from tests import test_fuzz  # noqa: PLC0415 (hypothesis and the fault suite's helpers: only for this)

    counts = (test_fuzz.PAYLOAD_CASES, test_fuzz.API_CASES, test_fuzz.CGROUP_CASES, test_fuzz.SETTINGS_CASES)
    return [
        Figure(
            "docs/development.md",
            f"{counts[0]} mutated task metadata payloads, {counts[1]} mutated ECS API answers, {counts[2]} mutated "
            f"cgroup trees (v1 and v2) and {counts[3]} hostile settings, {sum(counts)} cases in all",
            "tests/test_fuzz.py",
        ),
        Figure("CHANGELOG.md", f"{sum(counts)} property-based cases", "tests/test_fuzz.py"),
    ]


def figures() -> list[Figure]:
    """Every figure the docs' prose quotes from a results file, as the words that must be there."""
    return [
        *_full_figures(),
        *_headroom_figures(),
        *_v2_figures(),
        *_service_figures(),
        *_sweep_figures(),
        *_cpu_figures(),
        *_startup_figures(),
        *_fault_figures(),
        *_calibration_figures(),
        *_fuzz_figures(),
        Figure("docs/design.md", f"# node-heap-sidecar {__version__}, generated", "sidecar/__init__.py"),
    ]


def explain(environ: Mapping[str, str], task_definition: Path | None = None) -> dict[str, Any]:
    """The decision record of a real `python -m sidecar explain --json`, emulated from a task definition if given."""
    command = [sys.executable, "-m", "sidecar", "explain", "--json"]
    if task_definition is not None:
        emulate = ["emulate", "--task-definition", str(task_definition), "--"]
        command = [sys.executable, "-m", "sidecar", *emulate, *command]
    # A fixed machine: a Fargate-like cgroup v2 view with no limit of its own (the test machine's own
    # cgroups or memory could otherwise lower the plan).
    machine = REPO / "tests" / "fixtures" / "cgroup" / "v2-private-namespace-max"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "NODE_HEAP_ECS_API": "off",
        "NODE_HEAP_PROC_ROOT": str(machine / "proc"),
        "NODE_HEAP_CGROUP_ROOT": str(machine / "sys" / "fs" / "cgroup"),
        **environ,
    }
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=True)
    record: dict[str, Any] = json.loads(done.stdout)
    return record


def firelens_task_definition() -> dict[str, Any]:
    """The shipped task definition with the FireLens docs' log router beside Node, without its reservation."""
    definition: dict[str, Any] = _load(REPO / "task-definition.json")
    firelens = _load(REPO / "tests" / "fixtures" / "ecs" / "firelens-task-definition.json")
    router = dict(firelens["containerDefinitions"][0])
    router.pop("memoryReservation")
    definition["containerDefinitions"].append(router)
    return definition


def plan_figures(shipped: Mapping[str, Any], firelens: Mapping[str, Any], at_1g: Mapping[str, Any]) -> list[Figure]:
    """The worked examples' figures, from the decisions for the shipped task and for the FireLens one, and
    the old space at 1 GiB per Node major (`at_1g`: "20", "22", "24", "26", and "22-memory" for 0.1.0's rule)."""

    def kept(decision: Mapping[str, Any], name: str) -> int:
        return int(next(k["mib"] for k in decision["kept_back"] if k["name"].startswith(name)))

    src = "python -m sidecar explain"
    out = []
    for d in (shipped, firelens):
        budget = d["memory_mib"] - kept(d, "node binary") - kept(d, "headroom")
        out += [
            Figure("docs/design.md", f"| **memory** | **{d['memory_mib']} MiB** |", src),
            Figure("docs/design.md", f"| headroom, 10 % | {kept(d, 'headroom')} MiB |", src),
            Figure("docs/design.md", f"| budget for the one isolate | {budget} MiB |", src),
            Figure("docs/design.md", f"| young generation | {d['young_mib']} MiB |", src),
            Figure("docs/design.md", f"semi-space {d['semi_space_mib']} MiB (uses {3 * d['semi_space_mib']})", src),
            Figure("docs/design.md", f"| **old space** | **{d['heap_mib']} MiB** |", src),
        ]
    heaps = {major: d["heap_mib"] for major, d in at_1g.items()}
    return [
        *out,
        Figure(
            "docs/design.md",
            f"`heap_size_limit` = {shipped['heap_mib']} + 3 x {shipped['semi_space_mib']} = "
            f"{shipped['heap_mib'] + 3 * shipped['semi_space_mib']} MiB",
            src,
        ),
        Figure(
            "CHANGELOG.md",
            f"now gives Node {firelens['memory_mib']} MiB instead of {shipped['memory_mib']} (old space "
            f"{firelens['heap_mib']} MiB",
            src,
        ),
        Figure(
            "docs/benchmarks.md",
            f"({heaps['20']}, {heaps['22']}, {heaps['24']} MiB against 768; on Node 26 {heaps['26']} against 768",
            src,
        ),
        Figure("docs/benchmarks.md", f"(Node 22: old space {heaps['22']} instead of {heaps['22-memory']} MiB", src),
        Figure("CHANGELOG.md", f"old space is smaller: {heaps['22']} instead of {heaps['22-memory']} MiB", src),
    ]


def plan_decisions() -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]:
    """The decisions `plan_figures` needs, each from a real `explain` run (a few seconds in all)."""
    shipped = explain({}, REPO / "task-definition.json")
    with tempfile.TemporaryDirectory() as tmp:
        definition = Path(tmp) / "firelens.json"
        definition.write_text(json.dumps(firelens_task_definition()))
        firelens = explain({}, definition)
    at_1g = {
        str(major): explain({"NODE_HEAP_MEMORY_MIB": "1024", "NODE_HEAP_NODE_VERSION": str(major)})
        for major in (20, 22, 24, 26)
    }
    at_1g["22-memory"] = explain(
        {"NODE_HEAP_MEMORY_MIB": "1024", "NODE_HEAP_NODE_VERSION": "22", "NODE_HEAP_SEMI_SPACE": "memory"}
    )
    return shipped, firelens, at_1g


def stale_figures(found: Iterable[Figure], repo: Path = REPO) -> list[Figure]:
    """The figures whose doc no longer says them (whitespace compared loosely, as markdown renders it)."""
    texts: dict[str, str] = {}
    missing = []
    for figure in found:
        if figure.doc not in texts:
            texts[figure.doc] = " ".join((repo / figure.doc).read_text().split())
        if " ".join(figure.words.split()) not in texts[figure.doc]:
            missing.append(figure)
    return missing


def main() -> int:
    for path, text in render_all().items():
        if path.read_text() != text:
            path.write_text(text)
            print(f"rewrote {path.relative_to(REPO)}")
    for figure in stale_figures([*figures(), *plan_figures(*plan_decisions())]):
        print(f"{figure.doc} no longer says {figure.words!r} (from {figure.source})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
