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

from bench import report_service
from bench import run as bench_run
from bench import service as bench_service
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


class TestMergeInto:
    """`--merge-into`: the sidecar re-measured after a rule change, the alternatives kept."""

    @staticmethod
    def result(strategies: dict[str, str], node: str = "v22.23.3") -> dict[str, Any]:
        runs = [dict(leak(s, 1024, outcome, 80, 85), node=node) for s, outcome in strategies.items()]
        return dict(data(runs, [dict(steady(s, 50), node=node) for s in strategies]), sidecar_settings={})

    def test_replaces_only_the_strategies_run_again(self) -> None:
        earlier = self.result({"node-default": "hang", "sidecar": "kernel_kill"})
        merged = bench_run.merge_into(earlier, self.result({"sidecar": "v8_abort"}), ["sidecar"])
        outcomes = sorted((r["strategy"], r["outcome"]) for r in merged["runs"])
        assert outcomes == [("node-default", "hang"), ("sidecar", "v8_abort")]
        assert [s["strategy"] for s in merged["steady"]] == ["node-default", "sidecar"]
        assert merged["remeasured"][0]["strategies"] == ["sidecar"]

    def test_refuses_other_node_versions(self) -> None:
        earlier = self.result({"node-default": "hang", "sidecar": "kernel_kill"})
        with pytest.raises(SystemExit, match="Node versions differ"):
            bench_run.merge_into(earlier, self.result({"sidecar": "v8_abort"}, node="v22.23.5"), ["sidecar"])


def test_sidecar_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sidecar is told what a user would tell it: 4 workers + the primary, the Buffers held."""
    assert bench_run.hints_for("cluster", 4) == {"NODE_HEAP_PROCESSES": "5"}
    assert bench_run.hints_for("buffers", 256) == {"NODE_HEAP_RESERVE_MIB": "256"}
    assert bench_run.hints_for("leak", None) == {}
    monkeypatch.setattr(bench_run, "SIDECAR_SETTINGS", {"NODE_HEAP_HEADROOM_RATIO": "0"})
    assert bench_run.hints_for("cluster", 2) == {"NODE_HEAP_PROCESSES": "3", "NODE_HEAP_HEADROOM_RATIO": "0"}


def service(strategy: str, round_no: int, rps: float, p99: float, gc: float, **extra: Any) -> dict[str, Any]:
    """A service benchmark run (bench/service.py's record) with the figures the report reads."""
    return {
        "workload": extra.get("workload", "typical"),
        "strategy": strategy,
        "major": 22,
        "memory_mib": extra.get("size", 1024),
        "cpu_quota": None,
        "round": round_no,
        "outcome": extra.get("outcome", "survived"),
        "heap_size_limit_mib": 800.0,
        "requests_per_s": rps,
        "served": int(rps * 10),
        "latency_ms": {"p50": p99 / 4, "p99": p99, "p99_9": p99 * 2},
        "cpu_s_per_1k": 0.3,
        "gc_share": gc,
        "scavenges": 50,
        "mark_compacts": 1,
        "peak_rss_pct": 40.0,
        "loadavg": [1.0, 1.5],
        "semi_space_mib": 16,
        "swept": False,
    }


def service_data(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"profile": "test", "elapsed_s": 1, "cpus": 2, "runs": runs, "settings": {}}


class TestServiceGoals:
    def test_ratios_are_paired_by_round(self) -> None:
        """Round 0 is slow for everyone, round 1 fast: the per-round ratios are 1.0 and 1.0, whatever the medians."""
        mine = [service("sidecar", 0, 100, 10, 0.01), service("sidecar", 1, 300, 10, 0.01)]
        theirs = [service("node-default", 0, 100, 10, 0.02), service("node-default", 1, 300, 10, 0.02)]
        assert report_service.paired_ratio(mine, theirs, report_service.rps) == 1.0

    def test_met_against_the_best_survivor(self) -> None:
        """The best surviving alternative is the recipe (1000 req/s); the sidecar does 990 (0.99x) with a p99
        of 10.4 ms against 10 (1.04x) and less GC than Node's default: met."""
        table = report_service.goals_table(
            service_data(
                [
                    service("node-default", 0, 900, 12, 0.05),
                    service("recipe-75", 0, 1000, 10, 0.03),
                    service("percentage-75", 0, 2000, 5, 0.01, outcome="v8_abort"),  # faster, but did not survive
                    service("sidecar", 0, 990, 10.4, 0.02),
                ]
            )
        )
        assert row(table, "req/s >= 0.98x")[1:] == [
            "22",
            "1024",
            "typical",
            "0.99x, 1.04x recipe-75; GC 2.0 % vs 5.0 %",
            "yes",
        ]

    def test_missed_on_latency_and_gc(self) -> None:
        """Fast enough (1.00x) but a p99 1.10x the best, and more GC than Node's default: missed."""
        table = report_service.goals_table(
            service_data([service("node-default", 0, 1000, 10, 0.02), service("sidecar", 0, 1000, 11, 0.03)])
        )
        assert row(table, "req/s >= 0.98x")[4:] == ["1.00x, 1.10x node-default; GC 3.0 % vs 2.0 %", "**no**"]

    def test_alloc_heavy_needs_ten_percent(self) -> None:
        """At 2 GiB on the allocation-heavy service, 1.08x Node's default misses the 1.10x goal."""
        runs = [
            service("node-default", 0, 500, 20, 0.1, workload="alloc-heavy", size=2048),
            service("sidecar", 0, 540, 18, 0.05, workload="alloc-heavy", size=2048),
        ]
        table = report_service.goals_table(service_data(runs))
        assert row(table, "alloc-heavy, >= 2 GiB")[4:] == ["1.08x", "**no**"]

    def test_sidecar_that_does_not_survive_is_named(self) -> None:
        """A sidecar run that ended any other way than surviving fails the goal and says how it ended."""
        runs = [service("node-default", 0, 500, 20, 0.1), service("sidecar", 0, 0, 0, 0, outcome="hang")]
        table = report_service.goals_table(service_data(runs))
        assert row(table, "sidecar survives every run")[4:] == ["**HANG** 1", "**no**"]


class TestServiceSpecs:
    def test_variant_spec(self) -> None:
        """A strategy spec carries sidecar settings, NODE_OPTIONS flags and environment apart."""
        spec = bench_service.parse_spec("sidecar+NODE_HEAP_SEMI_SPACE=32+--v8-pool-size=1+UV_THREADPOOL_SIZE=1")
        assert (spec.base, spec.settings, spec.node_options, spec.env) == (
            "sidecar",
            {"NODE_HEAP_SEMI_SPACE": "32"},
            ("--v8-pool-size=1",),
            {"UV_THREADPOOL_SIZE": "1"},
        )

    def test_sidecar_setting_on_another_strategy(self) -> None:
        """NODE_HEAP_* settings only mean something to the sidecar."""
        with pytest.raises(ValueError, match="NODE_HEAP_SEMI_SPACE is a sidecar setting"):
            bench_service.parse_spec("node-default+NODE_HEAP_SEMI_SPACE=32")

    def test_rounds_rotate_the_order(self) -> None:
        """Every cell of a profile is visited once per round; alloc-heavy only from its smallest size."""
        profile = bench_service.PROFILES["full"]
        visited = bench_service.cells(profile)
        assert ("alloc-heavy", 20, 1024, None) not in visited
        assert ("alloc-heavy", 20, 2048, None) in visited
        assert len(visited) == 4 * (4 + 2)
