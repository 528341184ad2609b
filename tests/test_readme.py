"""The README stays true: its generated blocks match their sources."""

from __future__ import annotations

from tests.readme import README, render_readme


class TestReadme:
    def test_generated_blocks_are_current(self) -> None:
        """The settings table and the results match their sources (`python -m tests.readme` rewrites them)."""
        text = README.read_text()
        assert render_readme(text) == text
