"""The docs stay true: every generated block matches its source, every figure quoted in prose matches its
results file, links resolve, and the README stays a ten-minute read."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.readme import (
    BLOCKS,
    CHANGELOG,
    DOCS,
    README,
    REPO,
    Figure,
    block_names,
    doc_paths,
    figures,
    plan_decisions,
    plan_figures,
    render_doc,
    results_block,
    service_cpu_block,
    stale_figures,
)

DOC_IDS = [str(path.relative_to(REPO)) for path in doc_paths()]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def prose(path: Path) -> str:
    """A doc without its fenced code blocks (a `# comment` there is no heading, a `[x](y)` no link)."""
    return FENCE.sub("", path.read_text())


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but `-` and `_` dropped, spaces to `-`."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", prose(path), re.M)}


class TestGeneratedBlocks:
    @pytest.mark.parametrize("path", doc_paths(), ids=DOC_IDS)
    def test_doc_is_current(self, path: Path) -> None:
        """Each doc's generated blocks match their sources (`python -m tests.readme` rewrites them)."""
        text = path.read_text()
        assert render_doc(text, path.parent) == text

    def test_every_block_lives_in_a_doc(self) -> None:
        """No generated block was lost in a move: each one is in exactly one doc."""
        found = [name for path in doc_paths() for name in block_names(path.read_text())]
        assert sorted(found) == sorted(BLOCKS)

    def test_blocks_live_where_they_moved(self) -> None:
        """The README keeps the headline and the settings; the tables moved to docs/."""
        where = {name: path.name for path in doc_paths() for name in block_names(path.read_text())}
        assert where == {
            "headline": "README.md",
            "settings-table": "README.md",
            "exit-codes": "README.md",
            "adopt-example": "README.md",
            "footprint-table": "design.md",
            "results": "benchmarks.md",
            "results-cgroup-v2": "benchmarks.md",
            "service-results": "benchmarks.md",
            "service-sweep": "benchmarks.md",
            "service-cpu": "benchmarks.md",
            "startup": "benchmarks.md",
            "faults": "benchmarks.md",
            "calibration-footprint": "calibration.md",
            "calibration-start": "calibration.md",
            "calibration-young": "calibration.md",
        }

    def test_unknown_block_is_refused(self) -> None:
        """A block name nothing renders is an error that names it, not a block left alone."""
        with pytest.raises(ValueError) as raised:  # noqa: PT011 (the whole message is compared below)
            render_doc("<!-- nope:start -->\n<!-- nope:end -->\n", REPO)
        assert str(raised.value) == (
            "unknown generated block 'nope' (known: adopt-example, calibration-footprint, calibration-start, "
            "calibration-young, exit-codes, faults, footprint-table, headline, results, results-cgroup-v2, "
            "service-cpu, service-results, service-sweep, settings-table, startup)"
        )

    def test_block_without_end_is_refused(self) -> None:
        """A start marker without its end is an error, so no text after it is swallowed."""
        with pytest.raises(ValueError) as raised:  # noqa: PT011 (the whole message is compared below)
            block_names("<!-- results:start -->\ntext\n")
        assert str(raised.value) == "<!-- results:start --> has no end"

    def test_chart_path_is_relative_to_the_doc(self) -> None:
        """A chart rendered for docs/ points one level up, so it resolves from the moved block."""
        assert "![Heap leak and steady service](../bench/results/full.png)" in results_block(DOCS)
        assert "![Heap leak and steady service](bench/results/full.png)" in results_block(REPO)

    def test_no_goals_no_goals_table(self) -> None:
        """The CPU profile has no goals: its part has no "Service goals" heading and no empty table."""
        assert "Service goals" not in service_cpu_block(DOCS)


@pytest.fixture(scope="module")
def decisions() -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]:
    """The decisions of real `explain` runs the worked examples quote (a few seconds)."""
    return plan_decisions()


class TestFigures:
    def test_prose_figures_match_their_results(self) -> None:
        """Every figure the prose quotes from bench/results/*.json is what the file says."""
        assert stale_figures(figures()) == []

    def test_worked_examples_match_the_plan(self, decisions: tuple[Any, Any, Any]) -> None:
        """The worked examples, the CHANGELOG's FireLens example and the old spaces at 1 GiB are what a
        real `explain` prints."""
        assert stale_figures(plan_figures(*decisions)) == []

    def test_firelens_example_is_700_mib(self, decisions: tuple[Any, Any, Any]) -> None:
        """The FireLens example's old space, worked out by hand in docs/design.md (735 MiB for old space and
        its 5 %: 700 + 35), is what the CHANGELOG says (it once said 723)."""
        _, firelens, _ = decisions
        assert (firelens["memory_mib"], firelens["heap_mib"], firelens["semi_space_mib"]) == (924, 700, 8)
        assert "(old space 700 MiB;" in CHANGELOG.read_text()

    def test_a_stale_figure_is_reported(self) -> None:
        """Words a doc does not contain are reported, so the check can fail."""
        missing = Figure("README.md", "2 of the 7 steady runs", "bench/results/headroom-0.json")
        assert stale_figures([missing]) == [missing]

    def test_figures_match_across_line_breaks(self) -> None:
        """A figure wrapped over two lines of a doc is still found (markdown renders it as one line)."""
        wrapped = Figure("docs/benchmarks.md", "Node's default hangs or is killed in 40 of 120 runs", "full.json")
        assert stale_figures([wrapped]) == []

    @pytest.mark.parametrize(
        "drifted",
        [
            "old space 723 MiB",
            "2 of the 7 steady runs",
            "1 MiB up to 512 MiB",
            "113.8 MB",
            "5-8\n  points ahead",
            "within a point",
            "structlog (about 45 ms",
        ],
    )
    def test_drifted_figures_are_gone(self, drifted: str) -> None:
        """Figures that once drifted from their source are said nowhere any more."""
        assert all(" ".join(drifted.split()) not in " ".join(p.read_text().split()) for p in doc_paths())

    def test_image_size_is_the_last_rehearsals(self) -> None:
        """Every doc quotes the image size of the last rehearsal (bench/results/rehearsal.json)."""
        record = json.loads((REPO / "bench" / "results" / "rehearsal.json").read_text())
        texts = " ".join(" ".join(p.read_text().replace("**", "").split()) for p in doc_paths())
        whole = set(re.findall(r"(\d+\.\d) MB (?:on the local stand-in|uncompressed)", texts))
        ours = set(re.findall(r"(\d+\.\d) MB (?:of it|to the slim)", texts))
        assert (whole, ours) == ({f"{record['image_mb']:.1f}"}, {f"{record['layers_mb']:.1f}"})


class TestLinks:
    @pytest.mark.parametrize("path", doc_paths(), ids=DOC_IDS)
    def test_relative_links_resolve(self, path: Path) -> None:
        """Every relative link and image points at a file that exists, and every anchor at a heading."""
        broken = []
        for target in LINK.findall(prose(path)):
            if re.match(r"^[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            resolved = (path.parent / file).resolve() if file else path
            if not resolved.exists() or (anchor and resolved.suffix == ".md" and anchor not in anchors(resolved)):
                broken.append(target)
        assert broken == []

    @pytest.mark.parametrize("path", doc_paths(), ids=DOC_IDS)
    def test_no_empty_table(self, path: Path) -> None:
        """Every table has at least one row after its header."""
        lines = [*prose(path).splitlines(), ""]
        headers_only = [
            lines[i - 1]
            for i, line in enumerate(lines)
            if line.startswith("| ---") and not lines[i + 1].startswith("|")
        ]
        assert headers_only == []


class TestReadmeLength:
    def test_stated_word_count_is_right(self) -> None:
        """The README says how long it is, within 5 % of its real word count."""
        text = README.read_text()
        stated = re.search(r"about ([\d,]+) words", text)
        assert stated is not None
        assert abs(int(stated.group(1).replace(",", "")) - len(text.split())) <= 0.05 * len(text.split())

    def test_a_ten_minute_read(self) -> None:
        """The README stays under 3,500 words; the rest lives in docs/."""
        assert len(README.read_text().split()) <= 3500

    def test_sections_in_order(self) -> None:
        """The README's sections come in the order a platform engineer needs them."""
        assert re.findall(r"^## (.+)$", prose(README), re.M) == [
            "What it does",
            "Prerequisites",
            "Quick start",
            "Deploy",
            "Configuration",
            "Exit codes",
            "Troubleshooting",
            "Rollback",
            "Security and IAM",
            "How the code is laid out",
            "More",
        ]
