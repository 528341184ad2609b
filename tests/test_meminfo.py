"""Tests for sidecar.sources.meminfo: MemTotal from /proc/meminfo (proc(5); "kB" means KiB).

Expected byte counts are the kB figure times 1024, worked out by hand.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sidecar.errors import SourceError
from sidecar.sources.meminfo import parse_meminfo, read_mem_total

FIXTURES = Path(__file__).parent / "fixtures" / "cgroup"

# The first lines of this machine's /proc/meminfo.
THIS_MACHINE = """MemTotal:       24683656 kB
MemFree:        24045648 kB
MemAvailable:   24340928 kB
"""


class TestParseMeminfo:
    def test_this_machine(self) -> None:
        """24683656 kB is 25276063744 bytes."""
        assert parse_meminfo(THIS_MACHINE) == 25276063744

    def test_memtotal_not_on_the_first_line(self) -> None:
        """MemTotal is found wherever it is, and lines without a kB unit do not matter."""
        text = "HugePages_Total:       0\nMemTotal:        3977908 kB\n"

        assert parse_meminfo(text) == 4073377792

    def test_no_memtotal(self) -> None:
        """A file without MemTotal is malformed, naming the file."""
        with pytest.raises(SourceError) as info:
            parse_meminfo("MemFree:        24045648 kB\n", where="/proc/meminfo")

        assert str(info.value) == "/proc/meminfo: no MemTotal line; expected 'MemTotal: <positive integer> kB'"

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            pytest.param(
                "MemTotal:       24683656 MB",
                "mi line 2: 'MemTotal:       24683656 MB': expected 'MemTotal: <positive integer> kB'",
                id="wrong-unit",
            ),
            pytest.param(
                "MemTotal:       lots kB",
                "mi line 2: 'MemTotal:       lots kB': expected 'MemTotal: <positive integer> kB'",
                id="not-a-number",
            ),
            pytest.param(
                "MemTotal:       0 kB",
                "mi line 2: 'MemTotal:       0 kB': expected 'MemTotal: <positive integer> kB'",
                id="zero",
            ),
        ],
    )
    def test_malformed_memtotal(self, line: str, message: str) -> None:
        """A MemTotal line that is not a positive number of kB names the file, line number and line."""
        with pytest.raises(SourceError) as info:
            parse_meminfo(f"MemFree:        1 kB\n{line}\n", where="mi")

        assert str(info.value) == message


class TestReadMemTotal:
    def test_fixture_tree(self) -> None:
        """The v1-docker-own-limit tree's 8002428 kB is 8194486272 bytes."""
        assert read_mem_total(FIXTURES / "v1-docker-own-limit" / "proc") == 8194486272

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing /proc/meminfo names the path and the OS error."""
        with pytest.raises(SourceError) as info:
            read_mem_total(tmp_path)

        assert str(info.value) == f"{tmp_path}/meminfo: cannot read: No such file or directory"

    def test_real_proc_matches_sysconf(self) -> None:
        """The real MemTotal equals the kernel's physical page count times the page size."""
        assert read_mem_total(Path("/proc")) == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
