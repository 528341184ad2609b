"""The benchmark's bookkeeping: the goals verdicts in the README and resuming an interrupted run.

The runs themselves are real Node in real cgroups (`make bench`); here the inputs are hand-made
results whose verdicts are known, so a wrong comparison in the report shows up.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from bench import run as bench_run
from bench.report import goals_table, render_tables


def leak(strategy: str, size: int, outcome: str, rss: float, usage: float, *, major: int = 22) -> dict[str, Any]:
    return {
        "workload": "leak",
        "strategy": strategy,
        "major": major,
        "memory_mib": size,
        "outcome": outcome,
        "peak_rss_pct": rss,
        "peak_usage_pct": usage,
        "hang_kind": "at-limit" if outcome == "hang" else None,
    }


def steady(strategy: str, pct: float | None, major: int = 22) -> dict[str, Any]:
    return {
        "workload": "steady",
        "strategy": strategy,
        "major": major,
        "memory_mib": 1024,
        "largest_surviving_live_pct": pct,
        "outcomes": ["survived", "v8_abort"],
        "runs": [],
    }


def data(runs: list[dict[str, Any]], searches: list[dict[str, Any]]) -> dict[str, Any]:
    return {"profile": "test", "settings": {"steady_seconds": 8}, "elapsed_s": 1, "runs": runs, "steady": searches}


def row(table: str, goal: str) -> list[str]:
    found = [line for line in table.splitlines() if line.startswith(f"| {goal}")]
    assert len(found) == 1, table
    return [cell.strip() for cell in found[0].strip("|").split("|")]


def test_goals_met() -> None:
    table = goals_table(
        data(
            [
                leak("recipe-75", 512, "hang", 95, 100),
                leak("sidecar", 512, "v8_abort", 77, 93),
                leak("recipe-75", 1024, "v8_abort", 77, 86),
                leak("sidecar", 1024, "v8_abort", 86, 91),
            ],
            [steady("node-default", 40), steady("recipe-75", 60), steady("sidecar", 70)],
        )
    )
    assert row(table, "sidecar: no kernel kill")[2:] == ["0 of 2 runs", "yes"]
    assert row(table, "leak, >= 1 GiB")[3] == "yes (cgroup), yes (anon)"
    # The recipe's hang at 512 MiB is not a comparison: only its clean aborts count.
    assert row(table, "leak: sidecar >= recipe-75")[2:] == ["1 sizes compared; sidecar lower at: none", "yes"]
    assert row(table, "steady, 1 GiB")[2:] == ["70 % vs 40 % (1.75x) and 60 %", "yes"]


def test_goals_missed_are_named() -> None:
    table = goals_table(
        data(
            [
                leak("sidecar", 128, "hang", 90, 100),
                leak("recipe-75", 2048, "v8_abort", 77, 83),
                leak("sidecar", 2048, "v8_abort", 76, 88),
            ],
            [steady("node-default", 45), steady("recipe-75", 65), steady("sidecar", 70)],
        )
    )
    assert row(table, "sidecar: no kernel kill")[2:] == ["1 of 2 runs", "**no**"]
    assert row(table, "leak, >= 1 GiB")[2:] == [
        "cgroup peak >= 88 %, without page cache >= 76 %",
        "yes (cgroup), **no** (anon)",
    ]
    assert row(table, "leak: sidecar >= recipe-75")[2:] == ["1 sizes compared; sidecar lower at: 2048 MiB", "**no**"]
    assert row(table, "steady, 1 GiB")[3] == "**no**"  # 70 / 45 = 1.56x


def test_tables_mark_hangs_and_kills() -> None:
    text = render_tables(
        data(
            [leak("node-default", 128, "hang", 91, 100), leak("recipe-75", 128, "kernel_kill", 97, 100)],
            [],
        )
    )
    assert "| 22 | node-default | **HANG** (at-limit) 91% |" in text
    assert "| 22 | recipe-75 | **KILLED** 97% |" in text
    assert "| node-default | 1 | 0 | 1 | 0 | 0 |" in text


def test_resume_reuses_finished_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run found in an interrupted benchmark's log is not run again (no Node, no cgroup)."""
    finished = bench_run.Run(
        workload="leak",
        strategy="sidecar",
        node="v22.0.0",
        major=22,
        memory_mib=128,
        param=None,
        outcome="v8_abort",
        heap_size_limit_mib=63.0,
        peak_usage_pct=100.0,
        peak_rss_pct=50.0,
        elapsed_s=1.0,
    )
    log = tmp_path / "bench.log"
    log.write_text("bench: starting\n" + json.dumps(asdict(finished)) + "\n")
    monkeypatch.setattr(bench_run, "FINISHED", bench_run.load_finished(log))
    monkeypatch.setattr(bench_run, "REUSED", [])
    monkeypatch.setattr(bench_run, "install_node", lambda major: pytest.fail("ran a finished case"))
    profile = bench_run.PROFILES["short"]
    assert bench_run.run_case("leak", "sidecar", major=22, memory_mib=128, param=None, profile=profile) == finished
    reused = bench_run.REUSED
    assert reused == [finished]
    with pytest.raises(pytest.fail.Exception):
        bench_run.run_case("leak", "sidecar", major=22, memory_mib=256, param=None, profile=profile)


def test_sidecar_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sidecar is told what a user would tell it: 4 workers + the primary, the Buffers held."""
    assert bench_run.hints_for("cluster", 4) == {"NODE_HEAP_PROCESSES": "5"}
    assert bench_run.hints_for("buffers", 256) == {"NODE_HEAP_RESERVE_MIB": "256"}
    assert bench_run.hints_for("leak", None) == {}
    monkeypatch.setattr(bench_run, "SIDECAR_SETTINGS", {"NODE_HEAP_HEADROOM_RATIO": "0"})
    assert bench_run.hints_for("cluster", 2) == {"NODE_HEAP_PROCESSES": "3", "NODE_HEAP_HEADROOM_RATIO": "0"}
