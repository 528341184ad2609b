"""The output step's check of where the env file goes: a missing or read-only volume is an output error
(exit 6), found before any source is read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sidecar.errors import OutputError
from sidecar.outputs.atomic import check_writable, write_atomically


class TestCheckWritable:
    def test_writable_directory(self, tmp_path: Path) -> None:
        """A file path in an existing, writable directory passes, and so does a file left by an earlier run."""
        check_writable(tmp_path / "node-heap.env")
        (tmp_path / "node-heap.env").write_text("old\n")
        check_writable(tmp_path / "node-heap.env")

    def test_directory_missing(self, tmp_path: Path) -> None:
        """A directory that does not exist (the volume is not mounted) is exit 6, naming both paths."""
        path = tmp_path / "shared" / "node-heap.env"
        with pytest.raises(OutputError) as info:
            check_writable(path)

        assert info.value.exit_code == 6
        assert str(info.value) == f"{path}: its directory '{tmp_path}/shared' does not exist (mount the volume)"

    def test_parent_is_a_regular_file(self, tmp_path: Path) -> None:
        """A parent that is a regular file is no directory: reported like a missing one."""
        (tmp_path / "shared").write_text("")
        path = tmp_path / "shared" / "node-heap.env"
        with pytest.raises(OutputError) as info:
            check_writable(path)

        assert str(info.value) == f"{path}: its directory '{tmp_path}/shared' does not exist (mount the volume)"

    @pytest.mark.skipif(os.access("/proc/sys", os.W_OK), reason="/proc/sys is writable here (not a read-only mount)")
    def test_directory_on_a_read_only_mount(self) -> None:
        """A directory on a read-only mount is not writable, even for root: exit 6, as the README says."""
        with pytest.raises(OutputError) as info:
            check_writable(Path("/proc/sys/node-heap.env"))

        assert info.value.exit_code == 6
        assert (
            str(info.value) == "/proc/sys/node-heap.env: its directory '/proc/sys' is not writable (read-only volume?)"
        )

    def test_path_is_a_directory(self, tmp_path: Path) -> None:
        """A path naming an existing directory is reported: the env file must be a file."""
        (tmp_path / "shared").mkdir()
        with pytest.raises(OutputError) as info:
            check_writable(tmp_path / "shared")

        assert str(info.value) == f"{tmp_path}/shared: is a directory, expected a file path"

    def test_name_too_long(self, tmp_path: Path) -> None:
        """A file name longer than the filesystem allows (255) is one line, not a traceback."""
        path = tmp_path / ("e" * 300)
        (path.parent).mkdir(exist_ok=True)
        with pytest.raises(OutputError) as info:
            check_writable(path)

        assert str(info.value) == f"{path}: not a usable file path (File name too long)"


class TestWriteAtomically:
    def test_utf8_by_default(self, tmp_path: Path) -> None:
        """adopt's output keeps non-ASCII text (a task definition's description) as UTF-8."""
        path = tmp_path / "adopted.json"
        write_atomically(path, '{"description": "caf\u00e9"}\n')

        assert path.read_bytes() == b'{"description": "caf\xc3\xa9"}\n'

    def test_encoding_refused_is_an_output_error(self, tmp_path: Path) -> None:
        """Text the encoding cannot carry is an output error, and no file (nor temp file) is left."""
        with pytest.raises(OutputError):
            write_atomically(tmp_path / "x.env", "caf\u00e9\n", encoding="ascii")

        assert list(tmp_path.iterdir()) == []
