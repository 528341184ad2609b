"""Tests for sidecar.sizing.nodeopts: NODE_OPTIONS split as Node splits it, and the heap flags pinned in it.

Splitting cases follow nodejs/node `src/node_options.cc` `ParseNodeOptionsEnvVar`: spaces (only
spaces) separate arguments, a double quote toggles quoting and starts no argument by itself, and
inside quotes a backslash escapes the next character. Expected lists are worked out by hand from
those rules; `--require "file with spaces.js"` is the case Node's own tests use.
"""

from __future__ import annotations

import pytest

from sidecar.sizing.nodeopts import HeapPins, find_heap_pins, split_node_options


class TestSplitNodeOptions:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param("", [], id="empty"),
            pytest.param(
                "--max-old-space-size=4096 --no-warnings",
                ["--max-old-space-size=4096", "--no-warnings"],
                id="spaces-split",
            ),
            pytest.param("  --a   --b  ", ["--a", "--b"], id="runs-of-spaces"),
            pytest.param("--title=a\tb", ["--title=a\tb"], id="tab-does-not-split"),
            pytest.param(
                '--require "file with spaces.js"',
                ["--require", "file with spaces.js"],
                id="quotes-group",
            ),
            pytest.param(
                '--im"port" "file:///tmp/my hook.mjs"',
                ["--import", "file:///tmp/my hook.mjs"],
                id="quotes-inside-an-argument",
            ),
            pytest.param('"--im\\port" ./hook.mjs', ["--import", "./hook.mjs"], id="escape-letter"),
            pytest.param('"say \\"hi\\""', ['say "hi"'], id="escaped-quotes"),
            pytest.param('"C:\\\\app"', ["C:\\app"], id="escaped-backslash"),
            pytest.param("C:\\app", ["C:\\app"], id="backslash-outside-quotes-kept"),
            pytest.param("'--import' ./a.mjs", ["'--import'", "./a.mjs"], id="single-quotes-literal"),
            pytest.param('--require "" ./hook.cjs', ["--require", "./hook.cjs"], id="empty-quotes-no-arg"),
            pytest.param('""', [], id="only-empty-quotes"),
            pytest.param('" "', [" "], id="quoted-space"),
            pytest.param('--title="" x', ["--title=", "x"], id="empty-quotes-after-equals"),
            pytest.param('--a "b c', ["--a", "b c"], id="unterminated-quote"),
        ],
    )
    def test_split(self, value: str, expected: list[str]) -> None:
        """NODE_OPTIONS splits into the arguments Node would see."""
        assert split_node_options(value) == expected


class TestFindHeapPins:
    @pytest.mark.parametrize("value", [None, "", "   ", "--enable-source-maps --no-warnings"])
    def test_no_heap_flags(self, value: str | None) -> None:
        """Unset, empty or heap-free NODE_OPTIONS pins nothing."""
        assert find_heap_pins(value) == HeapPins()

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(
                "--max-old-space-size=512",
                HeapPins(512, None, None, "--max-old-space-size=512"),
                id="dashes",
            ),
            pytest.param(
                "--max_old_space_size=512",
                HeapPins(512, None, None, "--max-old-space-size=512"),
                id="underscores",
            ),
            pytest.param(
                "--max_old-space_size=512",
                HeapPins(512, None, None, "--max-old-space-size=512"),
                id="mixed",
            ),
            pytest.param(
                "--max-old-space-size 768",
                HeapPins(768, None, None, "--max-old-space-size=768"),
                id="value-as-next-argument",
            ),
            pytest.param(
                '"--max-old-space-size=1024" --require "./a b.js"',
                HeapPins(1024, None, None, "--max-old-space-size=1024"),
                id="quoted",
            ),
            pytest.param(
                "--max-semi-space-size=64",
                HeapPins(None, None, 64, "--max-semi-space-size=64"),
                id="semi-space",
            ),
            pytest.param(
                "--max_semi_space_size 32",
                HeapPins(None, None, 32, "--max-semi-space-size=32"),
                id="semi-space-underscores-next-argument",
            ),
            pytest.param(
                "--max-semi-space-size=0.5",
                HeapPins(None, None, 1, "--max-semi-space-size=0.5"),
                id="semi-space-below-one-is-one",
            ),
            pytest.param(
                "--max-old-space-size-percentage=75",
                HeapPins(None, 75.0, None, "--max-old-space-size-percentage=75"),
                id="percentage",
            ),
            pytest.param(
                "--max_old_space_size_percentage 25.5",
                HeapPins(None, 25.5, None, "--max-old-space-size-percentage=25.5"),
                id="percentage-underscores-next-argument",
            ),
            pytest.param(
                "--max-old-space-size=1536 --max-semi-space-size=32 --enable-source-maps",
                HeapPins(1536, None, 32, "--max-old-space-size=1536 --max-semi-space-size=32"),
                id="old-and-semi",
            ),
        ],
    )
    def test_pins(self, value: str, expected: HeapPins) -> None:
        """Each heap flag is found in either spelling and either form, and logged with dashes and `=`."""
        assert find_heap_pins(value) == expected

    def test_last_wins(self) -> None:
        """Of a repeated flag the last value counts, as in V8; the text keeps both."""
        pins = find_heap_pins("--max-old-space-size=256 --max_old_space_size=1024")

        assert pins == HeapPins(1024, None, None, "--max-old-space-size=256 --max-old-space-size=1024")

    @pytest.mark.parametrize(
        ("value", "text"),
        [
            pytest.param(
                "--max-old-space-size-percentage=50 --max-old-space-size=512",
                "--max-old-space-size-percentage=50 --max-old-space-size=512",
                id="percentage-first",
            ),
            pytest.param(
                "--max-old-space-size=512 --max-old-space-size-percentage=50",
                "--max-old-space-size=512 --max-old-space-size-percentage=50",
                id="percentage-last",
            ),
        ],
    )
    def test_percentage_wins_over_size(self, value: str, text: str) -> None:
        """--max-old-space-size-percentage wins over --max-old-space-size in any order (nodejs/node#59082)."""
        assert find_heap_pins(value) == HeapPins(None, 50.0, None, text)

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param("--max-old-space-size=abc", id="word"),
            pytest.param("--max-old-space-size=512MB", id="unit"),
            pytest.param("--max-old-space-size=0", id="zero"),
            pytest.param("--max-old-space-size=-5", id="negative"),
            pytest.param("--max-old-space-size=", id="empty"),
            pytest.param("--max-old-space-size=nan", id="nan"),
            pytest.param("--max-old-space-size=inf", id="inf"),  # int(inf) raised OverflowError
            pytest.param("--max-old-space-size=1e400", id="overflows-to-inf"),
            pytest.param("--max-semi-space-size=inf", id="semi-inf"),
            pytest.param("--max-old-space-size-percentage=-inf", id="percentage-minus-inf"),
            pytest.param("--max-old-space-size", id="no-value-at-the-end"),
            pytest.param('--max-old-space-size "" ', id="empty-quoted-value"),
            pytest.param("--max-old-space-size-foo=512", id="longer-name"),
            pytest.param("--max-old-space=512", id="shorter-name"),
            pytest.param("-max-old-space-size=512", id="single-dash"),
        ],
    )
    def test_garbage_ignored(self, value: str) -> None:
        """A heap flag without a positive finite number, or a flag that only looks like one, pins nothing."""
        assert find_heap_pins(value) == HeapPins()

    def test_garbage_does_not_undo_an_earlier_pin(self) -> None:
        """A later unreadable value leaves the earlier readable one in force."""
        pins = find_heap_pins("--max-old-space-size=512 --max-old-space-size=lots")

        assert pins == HeapPins(512, None, None, "--max-old-space-size=512")

    def test_next_flag_is_not_a_value(self) -> None:
        """A flag followed by another flag has no value, and the other flag still counts."""
        pins = find_heap_pins("--max-old-space-size --max-semi-space-size=16")

        assert pins == HeapPins(None, None, 16, "--max-semi-space-size=16")


class TestHeapPins:
    @pytest.mark.parametrize(
        ("pins", "expected"),
        [
            pytest.param(HeapPins(), False, id="none"),
            pytest.param(HeapPins(512), True, id="size"),
            pytest.param(HeapPins(None, 75.0), True, id="percentage"),
            pytest.param(HeapPins(None, None, 64), False, id="semi-space-only"),
        ],
    )
    def test_pins_old_space(self, pins: HeapPins, expected: bool) -> None:
        """Old space is pinned by a size or a percentage; the semi-space flag alone does not pin it."""
        assert pins.pins_old_space is expected
