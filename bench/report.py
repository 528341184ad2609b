"""Tables (markdown) and a chart (PNG, matplotlib) from a benchmark result file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

STRATEGIES = ("node-default", "recipe-75", "percentage-75", "sidecar")
MARK = {"v8_abort": "abort", "survived": "ok", "kernel_kill": "**KILLED**", "hang": "**HANG**"}


def _cell(run: dict[str, Any]) -> str:
    """How the run ended and its peak memory without page cache (share of the container)."""
    mark = MARK.get(run["outcome"], run["outcome"])
    if run.get("hang_kind"):
        mark += f" ({run['hang_kind']})"
    return f"{mark} {run['peak_rss_pct']:.0f}%"


def _grid(entries: list[dict[str, Any]], cell: Any) -> str:
    """A markdown table: a row per (Node major, strategy), a column per container size."""
    sizes = sorted({e["memory_mib"] for e in entries})
    lines = ["| Node | strategy | " + " | ".join(f"{s} MiB" for s in sizes) + " |"]
    lines.append("| --- | --- | " + " | ".join("---" for _ in sizes) + " |")
    for major in sorted({e["major"] for e in entries}):
        for strategy in STRATEGIES:
            row = {e["memory_mib"]: e for e in entries if e["major"] == major and e["strategy"] == strategy}
            if row:
                cells = ["n/a" if row.get(size) is None else cell(row[size]) for size in sizes]
                lines.append(f"| {major} | {strategy} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def outcome_table(data: dict[str, Any], workload: str) -> str:
    runs = [r for r in data["runs"] if r["workload"] == workload]
    return _grid(runs, _cell) if runs else ""


def _steady_cell(search: dict[str, Any]) -> str:
    pct = search["largest_surviving_live_pct"]
    bad = [o for o in search["outcomes"] if o in ("kernel_kill", "hang")]
    return ("none" if pct is None else f"{pct:.0f}%") + (f" ({', '.join(bad)})" if bad else "")


def steady_table(data: dict[str, Any]) -> str:
    found = data.get("steady") or []
    return _grid(found, _steady_cell) if found else ""


def summary_table(data: dict[str, Any]) -> str:
    """Kernel kills and hangs per strategy, over every run (the steady searches included)."""
    every = list(data["runs"]) + [run for s in data.get("steady") or [] for run in s["runs"]]
    lines = [
        "| strategy | runs | kernel kills | hangs | V8 aborts | survived |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for strategy in STRATEGIES:
        counts = Counter(r["outcome"] for r in every if r["strategy"] == strategy)
        total = sum(counts.values())
        if total:
            lines.append(
                f"| {strategy} | {total} | {counts['kernel_kill']} | {counts['hang']} | "
                f"{counts['v8_abort']} | {counts['survived']} |"
            )
    return "\n".join(lines)


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def goals_table(data: dict[str, Any]) -> str:
    """The benchmark's goals (issue 4), checked per Node major against the runs themselves."""
    every = list(data["runs"]) + [run for s in data.get("steady") or [] for run in s["runs"]]
    lines = ["| goal | Node | measured | met |", "| --- | --- | --- | --- |"]
    for major in sorted({r["major"] for r in every}):
        mine = [r for r in every if r["major"] == major and r["strategy"] == "sidecar"]
        bad = [r for r in mine if r["outcome"] in ("kernel_kill", "hang")]
        lines.append(
            f"| sidecar: no kernel kill, no hang | {major} | {len(bad)} of {len(mine)} runs | {_yes(not bad)} |"
        )
        leak = {
            (r["strategy"], r["memory_mib"]): r for r in data["runs"] if r["workload"] == "leak" and r["major"] == major
        }
        big = [r for (strategy, size), r in sorted(leak.items()) if strategy == "sidecar" and size >= 1024]
        if big:
            usage = min(r["peak_usage_pct"] for r in big)
            rss = min(r["peak_rss_pct"] for r in big)
            lines.append(
                f"| leak, >= 1 GiB: sidecar peak >= 85 % | {major} | cgroup peak >= {usage:.0f} %, "
                f"without page cache >= {rss:.0f} % | {_yes(usage >= 85)} (cgroup), {_yes(rss >= 85)} (anon) |"
            )
        behind = [
            size
            for (strategy, size), r in leak.items()
            if strategy == "recipe-75"
            and r["outcome"] == "v8_abort"
            and ("sidecar", size) in leak
            and leak[("sidecar", size)]["peak_rss_pct"] < r["peak_rss_pct"]
        ]
        compared = [s for (st, s), r in leak.items() if st == "recipe-75" and r["outcome"] == "v8_abort"]
        if compared:
            where = ", ".join(f"{s} MiB" for s in sorted(behind)) or "none"
            lines.append(
                f"| leak: sidecar >= recipe-75 where it aborts cleanly | {major} | "
                f"{len(compared)} sizes compared; sidecar lower at: {where} | {_yes(not behind)} |"
            )
        steady = {
            s["strategy"]: s["largest_surviving_live_pct"]
            for s in data.get("steady") or []
            if s["major"] == major and s["memory_mib"] == 1024
        }
        if steady.get("sidecar") and steady.get("node-default") and steady.get("recipe-75"):
            ratio = steady["sidecar"] / steady["node-default"]
            lines.append(
                f"| steady, 1 GiB: sidecar >= 1.6x default and > recipe-75 | {major} | "
                f"{steady['sidecar']:.0f} % vs {steady['node-default']:.0f} % ({ratio:.2f}x) and "
                f"{steady['recipe-75']:.0f} % | {_yes(ratio >= 1.6 and steady['sidecar'] > steady['recipe-75'])} |"
            )
    return "\n".join(lines)


def render_tables(data: dict[str, Any]) -> str:
    parts = [
        f"**Goals**\n\n{goals_table(data)}",
        f"**All runs** ({data['profile']} profile, {data['elapsed_s']} s)\n\n{summary_table(data)}",
    ]
    titles = {
        "leak": "**Heap leak**: how each run ended, and its peak memory",
        "cluster": "**Cluster workers** leaking at once (2 up to 512 MiB, 4 above)",
        "buffers": "**Buffer-heavy**: a quarter of the container in Buffers, then a heap leak",
    }
    for workload, title in titles.items():
        table = outcome_table(data, workload)
        if table:
            parts.append(f"{title}\n\n{table}")
    steady = steady_table(data)
    if steady:
        parts.append(
            "**Steady service**: the largest live set (share of the container) that survives "
            f"{data['settings']['steady_seconds']:g} s of churn\n\n{steady}"
        )
    return "\n\n".join(parts)


def render_chart(data: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 (a bench extra: imported only to draw)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    colors = {"node-default": "#999999", "recipe-75": "#e69f00", "percentage-75": "#cc79a7", "sidecar": "#0072b2"}
    markers = {"v8_abort": "o", "survived": "o", "kernel_kill": "X", "hang": "^"}
    leak = [r for r in data["runs"] if r["workload"] == "leak"]
    steady = data.get("steady") or []
    fig, axes = plt.subplots(1, 2 if steady else 1, figsize=(13 if steady else 7, 4.8), squeeze=False)
    ax = axes[0][0]
    for strategy in STRATEGIES:
        for major in sorted({r["major"] for r in leak}):
            points = sorted(
                (r["memory_mib"], r["peak_rss_pct"], r["outcome"])
                for r in leak
                if r["strategy"] == strategy and r["major"] == major
            )
            if not points:
                continue
            xs = [p[0] for p in points]
            ax.plot(xs, [p[1] for p in points], color=colors[strategy], alpha=0.5, linewidth=1)
            for x, y, outcome in points:
                ax.scatter(x, y, color=colors[strategy], marker=markers.get(outcome, "s"), s=40, zorder=3)
        ax.plot([], [], color=colors[strategy], label=strategy)
    ax.scatter([], [], color="black", marker="X", label="kernel kill")
    ax.scatter([], [], color="black", marker="^", label="hang")
    ax.scatter([], [], color="black", marker="o", label="V8 abort (clean)")
    ax.set_xscale("log", base=2)
    sizes = sorted({r["memory_mib"] for r in leak})
    ax.set_xticks(sizes, [str(size) for size in sizes])
    ax.minorticks_off()
    ax.set_xlabel("container memory (MiB)")
    ax.set_ylabel("peak memory, page cache excluded (% of container)")
    ax.set_title("Heap leak: who stops it, and how far it gets")
    ax.set_ylim(0, 105)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if steady:
        ax = axes[0][1]
        keys = sorted({(s["major"], s["memory_mib"]) for s in steady})
        width = 0.8 / len(STRATEGIES)
        for index, strategy in enumerate(STRATEGIES):
            values = []
            for key in keys:
                found = [s for s in steady if (s["major"], s["memory_mib"]) == key and s["strategy"] == strategy]
                values.append((found[0]["largest_surviving_live_pct"] or 0) if found else 0)
            positions = [i + index * width for i in range(len(keys))]
            ax.bar(positions, values, width, color=colors[strategy], label=strategy)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(keys))])
        ax.set_xticklabels([f"Node {m}\n{s} MiB" for m, s in keys], fontsize=8)
        ax.set_ylabel("largest surviving live set (% of the container)")
        ax.set_title("Steady service with churn")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
