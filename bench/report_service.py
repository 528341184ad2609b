"""Tables (markdown) and charts (PNG) from a service benchmark result file (bench/service.py).

Comparisons are made round by round: a ratio is the median, over the rounds, of (sidecar / the
other strategy) measured in the same round of the same cell, so a noisy minute of the machine
weighs on both sides of it.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.report import STRATEGIES

Run = dict[str, Any]
Cell = tuple[str, int, int, float | None]  # workload, major, size, CPU quota


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def cell_of(run: Run) -> Cell:
    return (run["workload"], run["major"], run["memory_mib"], run.get("cpu_quota"))


def cells(data: dict[str, Any]) -> list[Cell]:
    return sorted({cell_of(r) for r in data["runs"]}, key=lambda c: (c[0] != "typical", c[1], c[2], c[3] or 0))


def strategies_in(runs: Sequence[Run]) -> list[str]:
    """Base strategies in their usual order, then the variants in the order they first appear."""
    seen = list(dict.fromkeys(r["strategy"] for r in runs))
    return [s for s in STRATEGIES if s in seen] + [s for s in seen if s not in STRATEGIES]


def survived_all(runs: Sequence[Run]) -> bool:
    return bool(runs) and all(r["outcome"] == "survived" for r in runs)


def paired_ratio(mine: Sequence[Run], theirs: Sequence[Run], key: Callable[[Run], float | None]) -> float | None:
    """Median over the rounds both ran of key(mine) / key(theirs)."""
    by_round = {r["round"]: key(r) for r in theirs}
    ratios = []
    for run in mine:
        other, value = by_round.get(run["round"]), key(run)
        if other and value is not None:
            ratios.append(value / other)
    return _median(ratios)


def rps(run: Run) -> float | None:
    value: float | None = run.get("requests_per_s")
    return value


def p99(run: Run) -> float | None:
    value: float | None = run.get("latency_ms", {}).get("p99")
    return value


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _outcomes(runs: Sequence[Run]) -> str:
    counts: dict[str, int] = {}
    for run in runs:
        counts[run["outcome"]] = counts.get(run["outcome"], 0) + 1
    marks = {"survived": "ok", "kernel_kill": "**KILLED**", "hang": "**HANG**", "v8_abort": "abort"}
    return ", ".join(f"{marks.get(k, k)} {v}" for k, v in sorted(counts.items()))


def service_table(data: dict[str, Any], workload: str) -> str:
    rows = [
        "| Node | MiB | strategy | semi-space | heap limit | req/s | p50 ms | p99 ms | p99.9 ms | CPU s / 1k req "
        "| GC time | scavenges / 1k req | mark-compacts / 1k req | peak | runs | sidecar ÷ this: req/s, p99 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for cell in (c for c in cells(data) if c[0] == workload):
        runs = [r for r in data["runs"] if cell_of(r) == cell]
        quota = f" @{cell[3]:g} vCPU" if cell[3] else ""
        sidecar = [r for r in runs if r["strategy"] == "sidecar"]
        for strategy in strategies_in(runs):
            mine = [r for r in runs if r["strategy"] == strategy]
            ok = [r for r in mine if r["outcome"] == "survived"]
            lat = [r["latency_ms"] for r in ok]

            def med(key: str, of: Sequence[Run] = ok) -> float | None:
                return _median([r[key] for r in of if r.get(key) is not None])

            versus = "-"
            if strategy != "sidecar" and sidecar:
                speed = paired_ratio(sidecar, mine, rps)
                tail = paired_ratio(sidecar, mine, p99)
                versus = f"{_fmt(speed, '.2f')}x, {_fmt(tail, '.2f')}x"
            limit = med("heap_size_limit_mib", mine)
            gc = med("gc_share")
            semi = med("semi_space_mib", mine)
            per_1k = {
                key: _median([1000 * r[key] / r["served"] for r in ok if r.get("served")])
                for key in ("scavenges", "mark_compacts")
            }
            rows.append(
                f"| {cell[1]} | {cell[2]}{quota} | {strategy} | {_fmt(semi, '.0f')} MiB | {_fmt(limit, '.0f')} MiB "
                f"| {_fmt(med('requests_per_s'), '.0f')} "
                f"| {_fmt(_median([x['p50'] for x in lat]), '.1f')} | {_fmt(_median([x['p99'] for x in lat]), '.1f')} "
                f"| {_fmt(_median([x['p99_9'] for x in lat]), '.1f')} | {_fmt(med('cpu_s_per_1k'), '.3f')} "
                f"| {_fmt(None if gc is None else 100 * gc, '.1f')} % | {_fmt(per_1k['scavenges'], '.2f')} "
                f"| {_fmt(per_1k['mark_compacts'], '.2f')} | {_fmt(med('peak_rss_pct', mine), '.0f')} % "
                f"| {_outcomes(mine)} | {versus} |"
            )
    return "\n".join(rows)


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def goals_table(data: dict[str, Any]) -> str:
    """Issue 9's throughput goals, per cell, against the runs themselves."""
    lines = ["| goal | Node | MiB | workload | measured | met |", "| --- | --- | --- | --- | --- | --- |"]
    for cell in cells(data):
        workload, major, size, quota = cell
        if quota is not None or size < 1024:
            continue
        runs = [r for r in data["runs"] if cell_of(r) == cell]
        sidecar = [r for r in runs if r["strategy"] == "sidecar"]
        if not sidecar:
            continue
        survivors = {
            s: [r for r in runs if r["strategy"] == s]
            for s in STRATEGIES
            if s != "sidecar" and survived_all([r for r in runs if r["strategy"] == s])
        }
        if survivors and survived_all(sidecar):
            best = max(survivors, key=lambda s: _median([rps(r) or 0 for r in survivors[s]]) or 0)
            speed = paired_ratio(sidecar, survivors[best], rps) or 0
            tail = paired_ratio(sidecar, survivors[best], p99) or 0
            gc_mine = _median([r["gc_share"] for r in sidecar]) or 0
            default = [r for r in runs if r["strategy"] == "node-default" and r["outcome"] == "survived"]
            gc_default = _median([r["gc_share"] for r in default])
            gc_ok = gc_default is None or gc_mine <= gc_default
            lines.append(
                "| req/s >= 0.98x, p99 <= 1.05x the best survivor; GC share <= default "
                f"| {major} | {size} | {workload} "
                f"| {speed:.2f}x, {tail:.2f}x {best}; GC {100 * gc_mine:.1f} % vs "
                f"{_fmt(None if gc_default is None else 100 * gc_default, '.1f')} % | "
                f"{_yes(speed >= 0.98 and tail <= 1.05 and gc_ok)} |"
            )
        elif not survived_all(sidecar):
            lines.append(
                f"| sidecar survives every run | {major} | {size} | {workload} | {_outcomes(sidecar)} | **no** |"
            )
        default = [r for r in runs if r["strategy"] == "node-default"]
        if workload == "alloc-heavy" and size >= 2048 and default:
            versus_default = paired_ratio(sidecar, default, rps)
            met = versus_default is not None and versus_default >= 1.10
            lines.append(
                f"| alloc-heavy, >= 2 GiB: req/s >= 1.10x node-default | {major} | {size} | {workload} "
                f"| {_fmt(versus_default, '.2f')}x | {_yes(met)} |"
            )
    return "\n".join(lines)


def load_line(data: dict[str, Any]) -> str:
    loads = [x for r in data["runs"] for x in r["loadavg"]]
    if not loads:
        return ""
    return (
        f"{len(data['runs'])} runs in {data['elapsed_s']} s; the machine's 1-minute load average "
        f"over the runs: {min(loads):.1f} to {max(loads):.1f} (median {statistics.median(loads):.1f}) on "
        f"{data.get('cpus', '?')} CPUs."
    )


def render_tables(data: dict[str, Any]) -> str:
    s = data["settings"]
    parts = [
        f"**Service goals** ({data['profile']} profile)\n\n{goals_table(data)}",
        f"{load_line(data)} Each run: {s['warmup_s']:g} s of warm-up, then {s['seconds']:g} s of wrk at "
        f"{s['connections']} connections, a live set of {s['live_pct']:g} % of the container; medians over "
        f"{s['rounds']} rounds.",
    ]
    titles = {
        "typical": "**Typical service** (20 records per request)",
        "alloc-heavy": "**Allocation-heavy service** (100 records per request)",
    }
    for workload, title in titles.items():
        if any(r["workload"] == workload for r in data["runs"]):
            parts.append(f"{title}\n\n{service_table(data, workload)}")
    return "\n\n".join(parts)


def render_service(data: dict[str, Any], chart: Path | None = None, steady: list[dict[str, Any]] | None = None) -> str:
    if chart is not None:
        render_chart(data, chart, steady)
    return render_tables(data)


def render_chart(data: dict[str, Any], path: Path, steady: list[dict[str, Any]] | None = None) -> None:
    """Requests/s of each strategy relative to Node's default, per cell; with a semi-space sweep,
    the trade-off (semi-space vs requests/s vs the largest surviving live set) per major."""
    import matplotlib  # noqa: PLC0415 (a bench extra: imported only to draw)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    runs = data["runs"]
    sweep = len([s for s in strategies_in(runs) if s.startswith("sidecar")]) > 1
    panels = 3 if sweep else 1
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 4.8), squeeze=False)
    ax = axes[0][0]
    colors = {"node-default": "#999999", "recipe-75": "#e69f00", "percentage-75": "#cc79a7", "sidecar": "#0072b2"}
    keys = [c for c in cells(data) if c[3] is None]
    strategies = strategies_in(runs)
    palette = ["#009e73", "#56b4e9", "#d55e00", "#f0e442", "#000000", "#882255"]
    for index, variant in enumerate(s for s in strategies if s not in colors):
        colors[variant] = palette[index % len(palette)]
    width = 0.8 / max(len(strategies), 1)
    for index, strategy in enumerate(strategies):
        values = []
        for cell in keys:
            mine = [r for r in runs if cell_of(r) == cell and r["strategy"] == strategy]
            default = [r for r in runs if cell_of(r) == cell and r["strategy"] == "node-default"]
            values.append(paired_ratio(mine, default, rps) or 0)
        ax.bar([i + index * width for i in range(len(keys))], values, width, color=colors[strategy], label=strategy)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(keys))])
    ax.set_xticklabels([f"{w}\nNode {m}\n{s} MiB" for w, m, s, _ in keys], fontsize=7)
    ax.set_ylabel("requests/s relative to node-default (same round)")
    ax.set_title("HTTP service throughput")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    if sweep:
        trade_off(axes[0][1], axes[0][2], data, steady)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def trade_off(speed_ax: Any, gc_ax: Any, data: dict[str, Any], steady: list[dict[str, Any]] | None) -> None:
    """Per (major, size): each sidecar variant at the semi-space it ran with, its requests/s relative
    to node-default (labelled with its largest surviving live set, when searched) and its GC share."""
    runs = data["runs"]
    variants = [s for s in strategies_in(runs) if s.startswith("sidecar")]
    ticks: set[int] = set()
    for workload, major, size, quota in cells(data):
        if quota is None:
            here = [r for r in runs if cell_of(r) == (workload, major, size, quota)]
            default = [r for r in here if r["strategy"] == "node-default"]
            points = []
            for variant in variants:
                mine = [r for r in here if r["strategy"] == variant and r["outcome"] == "survived"]
                semi = _median([r["semi_space_mib"] for r in mine if r.get("semi_space_mib")])
                ratio = paired_ratio(mine, default, rps)
                gc = _median([r["gc_share"] for r in mine if r.get("gc_share") is not None])
                live = [
                    x["largest_surviving_live_pct"]
                    for x in steady or []
                    if (x["major"], x["memory_mib"], x["strategy"]) == (major, size, variant)
                ]
                if semi is not None and ratio is not None:
                    points.append((semi, ratio, 100 * (gc or 0), live[0] if live else None))
                    ticks.add(int(semi))
            if not points:
                continue
            points.sort()
            label = f"{workload}, Node {major}, {size} MiB"
            speed_ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
            gc_ax.plot([p[0] for p in points], [p[2] for p in points], marker="o", label=label)
            for semi, ratio, _, live_pct in points:
                if live_pct is not None:
                    speed_ax.annotate(
                        f"{live_pct:.0f}%", (semi, ratio), fontsize=7, xytext=(3, 3), textcoords="offset points"
                    )
    for ax, ylabel, title in (
        (speed_ax, "requests/s relative to node-default", "Semi-space vs requests/s (label: surviving live set)"),
        (gc_ax, "GC time (% of the run)", "Semi-space vs GC time"),
    ):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(ticks), [str(t) for t in sorted(ticks)])
        ax.minorticks_off()
        ax.set_xlabel("semi-space (MiB)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    speed_ax.axhline(1.0, color="black", linewidth=0.8)
