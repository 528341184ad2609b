"""The env file: its exact text, then real shells and real Node binaries reading it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from sidecar.errors import OutputError
from sidecar.outputs.envfile import render_env_file, write_env_file
from tests.nodes import MAJORS, cached_node
from tests.strict import unavailable

REPORT_JS = Path(__file__).parent / "js" / "report.js"
FLAGS = ("--max-old-space-size=807", "--max-semi-space-size=4")
MIB = 1 << 20
EXPECTED = """\
# node-heap-sidecar test
NODE_HEAP_OPTIONS='--max-old-space-size=807 --max-semi-space-size=4'
NODE_HEAP_SH=sh-only; if false; then
NODE_OPTIONS='--max-old-space-size=807 --max-semi-space-size=4'
NODE_HEAP_SH=sh-only; fi
NODE_HEAP_SH=sh-only; case " ${NODE_OPTIONS-} " in *" --max-old-space-size"*|*" --max_old_space_size"*) \
echo "node-heap-sidecar keeps the heap size already in NODE_OPTIONS (planned 807 MiB)" >&2 ;; \
*) NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--max-old-space-size=807" ;; esac
NODE_HEAP_SH=sh-only; case " ${NODE_OPTIONS-} " in *" --max-semi-space-size"*|*" --max_semi_space_size"*) ;; \
*) NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--max-semi-space-size=4" ;; esac
NODE_HEAP_SH=sh-only; export NODE_HEAP_OPTIONS NODE_OPTIONS; unset NODE_HEAP_SH
"""
SHELLS = {"dash": ["dash"], "bash-posix": ["bash", "--posix"], "busybox-ash": ["busybox", "sh"]}


def shell(name: str) -> list[str]:
    argv = SHELLS[name]
    if shutil.which(argv[0]) is None:
        unavailable(f"{argv[0]} is not installed")
    return argv


def node(major: int) -> Path:
    binary = cached_node(major)
    if binary is None:
        unavailable(f"Node {major} is not installed (python -m tests.nodes installs it)")
    return binary


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NODE_")}
    env.update(extra)
    return env


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / "node-heap.env"
    path.write_text(render_env_file(FLAGS, ["node-heap-sidecar test"]))
    return path


class TestRenderEnvFile:
    def test_flags(self) -> None:
        """Our flags, the sh merge and the Node-only line, in that order."""
        assert render_env_file(FLAGS, ["node-heap-sidecar test"]) == EXPECTED

    def test_no_flags(self) -> None:
        """Without a heap flag the file only says why, and sets NODE_HEAP_OPTIONS empty."""
        assert render_env_file((), ["no limit"]) == "# no limit\nNODE_HEAP_OPTIONS=''\nexport NODE_HEAP_OPTIONS\n"

    def test_comments_are_plain_words(self) -> None:
        """Newlines, quotes, `$(...)`, backticks, `=` and `:` never reach the file as syntax."""
        text = render_env_file((), ["a\nrm -rf /", "x $(touch y) `id` 'q' \"d\" k=v a: b # c \\ é"])
        assert text.splitlines()[:2] == ["# a rm -rf /", "# x  (touch y)  id   q   d  k v a, b   c"]

    @pytest.mark.parametrize(
        "flag", ["--max-old-space-size=1;id", "--max-old-space-size=$(id)", "--inspect=0", "--max-old-space-size=1 x"]
    )
    def test_refuses_anything_but_heap_flags(self, flag: str) -> None:
        """Only `--max-(old|semi)-space-size=<digits>` can be written."""
        with pytest.raises(ValueError, match="not a heap flag the env file can carry"):
            render_env_file([flag], [])


class TestSourcedBySh:
    @pytest.mark.parametrize("sh", list(SHELLS))
    @pytest.mark.parametrize(
        ("runtime", "expected"),
        [
            (None, "--max-old-space-size=807 --max-semi-space-size=4"),
            ("", "--max-old-space-size=807 --max-semi-space-size=4"),
            ("--enable-source-maps", "--enable-source-maps --max-old-space-size=807 --max-semi-space-size=4"),
            (
                '--title="a b" --require ./x.js',
                '--title="a b" --require ./x.js --max-old-space-size=807 --max-semi-space-size=4',
            ),
            ("--max-semi-space-size=32", "--max-semi-space-size=32 --max-old-space-size=807"),
            ("--max_old_space_size=99 --max_semi_space_size=2", "--max_old_space_size=99 --max_semi_space_size=2"),
            ("--max-old-space-size-percentage=75", "--max-old-space-size-percentage=75 --max-semi-space-size=4"),
        ],
    )
    def test_merges_with_the_runtime_node_options(
        self, env_file: Path, sh: str, runtime: str | None, expected: str
    ) -> None:
        """Each flag is appended unless NODE_OPTIONS already sets it; nothing else changes; set -eu is fine."""
        env = clean_env() if runtime is None else clean_env(NODE_OPTIONS=runtime)
        script = (
            f'set -eu; . "{env_file}"; printf "%s|%s|%s" "$NODE_OPTIONS" "$NODE_HEAP_OPTIONS" "${{NODE_HEAP_SH-unset}}"'
        )
        out = subprocess.run([*shell(sh), "-c", script], env=env, capture_output=True, text=True, check=True)
        assert out.stdout == f"{expected}|--max-old-space-size=807 --max-semi-space-size=4|unset"

    @pytest.mark.parametrize("sh", list(SHELLS))
    def test_says_when_the_app_keeps_its_own_heap(self, env_file: Path, sh: str) -> None:
        """A heap size already in NODE_OPTIONS is kept, with one line on stderr."""
        env = clean_env(NODE_OPTIONS="--max-old-space-size=99")
        out = subprocess.run([*shell(sh), "-c", f'. "{env_file}"'], env=env, capture_output=True, text=True, check=True)
        assert out.stderr == "node-heap-sidecar keeps the heap size already in NODE_OPTIONS (planned 807 MiB)\n"

    @pytest.mark.parametrize("sh", list(SHELLS))
    def test_nothing_from_outside_runs(self, tmp_path: Path, sh: str) -> None:
        """Comments built from hostile input are inert when the file is sourced."""
        marker = tmp_path / "pwned"
        hostile = [f"$(touch {marker})", f"`touch {marker}`", f"x\ntouch {marker}", f"'; touch {marker}; '"]
        path = tmp_path / "f.env"
        path.write_text(render_env_file(FLAGS, hostile))
        subprocess.run([*shell(sh), "-c", f'. "{path}"'], env=clean_env(), check=True)
        assert not marker.exists()


def node_report(argv: list[str], env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


@pytest.mark.parametrize("major", MAJORS)
class TestReadByNode:
    def test_env_file_flag(self, env_file: Path, major: int) -> None:
        """`node --env-file` applies both flags: heap_size_limit = 807 + 3 x 4 = 819 MiB."""
        report = node_report([str(node(major)), f"--env-file={env_file}", str(REPORT_JS)], clean_env())
        assert report["heap_size_limit"] == 819 * MIB
        assert report["node_heap_options"] == "--max-old-space-size=807 --max-semi-space-size=4"

    def test_env_file_flag_loses_to_an_existing_node_options(self, env_file: Path, major: int) -> None:
        """Node's documented precedence: a NODE_OPTIONS already in the environment wins over the file's."""
        env = clean_env(NODE_OPTIONS="--max-old-space-size=300 --max-semi-space-size=1")
        report = node_report([str(node(major)), f"--env-file={env_file}", str(REPORT_JS)], env)
        assert report["heap_size_limit"] == 303 * MIB

    def test_sourced_then_exec_node(self, env_file: Path, major: int) -> None:
        """`. file && exec node` gives Node both flags, after the app's own options."""
        script = f'. "{env_file}" && exec "{node(major)}" "{REPORT_JS}"'
        report = node_report(["sh", "-c", script], clean_env(NODE_OPTIONS="--enable-source-maps"))
        assert report["heap_size_limit"] == 819 * MIB
        assert report["node_options"] == "--enable-source-maps --max-old-space-size=807 --max-semi-space-size=4"


class TestWriteEnvFile:
    def test_writes_readable_file(self, tmp_path: Path) -> None:
        """The file lands with mode 0644 (a non-root Node user can read it) and no temp file is left."""
        path = tmp_path / "node-heap.env"
        write_env_file(path, "A='1'\n")
        assert path.read_text() == "A='1'\n"
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        assert sorted(p.name for p in tmp_path.iterdir()) == ["node-heap.env"]

    def test_replaces_atomically(self, tmp_path: Path) -> None:
        """An existing file is replaced by rename: a reader holding the old one keeps reading the old text."""
        path = tmp_path / "node-heap.env"
        path.write_text("old\n")
        with path.open() as old_reader:
            write_env_file(path, "new\n")
            assert old_reader.read() == "old\n"
        assert path.read_text() == "new\n"

    def test_missing_directory(self, tmp_path: Path) -> None:
        """A directory that does not exist is an OutputError naming the path."""
        path = tmp_path / "nope" / "node-heap.env"
        with pytest.raises(OutputError) as caught:
            write_env_file(path, "x\n")
        assert str(caught.value) == f"{path}: cannot create a temp file in {path.parent}: No such file or directory"

    def test_directory_refused_leaves_nothing(self, tmp_path: Path) -> None:
        """A directory where the file belongs is refused before any temp file is made."""
        path = tmp_path / "node-heap.env"
        path.mkdir()
        with pytest.raises(OutputError) as caught:
            write_env_file(path, "x\n")
        assert str(caught.value) == f"{path}: is a directory, expected a regular file (or nothing) there"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["node-heap.env"]

    @pytest.mark.parametrize("kind", ["fifo", "socket", "char-device"])
    def test_special_file_not_replaced(self, tmp_path: Path, kind: str) -> None:
        """A pipe, socket or device node at the path is left alone (as root a rename would replace it)."""
        path = tmp_path / "node-heap.env"
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "socket":
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(str(path))
            sock.close()
        else:
            if os.geteuid() != 0:
                pytest.skip("mknod of a device needs root")
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # the same device as /dev/null
        before = os.lstat(path)
        with pytest.raises(OutputError) as caught:
            write_env_file(path, "x\n")
        after = os.lstat(path)
        assert str(caught.value) == f"{path}: is a device, socket or pipe, expected a regular file (or nothing) there"
        assert (after.st_ino, after.st_mode, sorted(p.name for p in tmp_path.iterdir())) == (
            before.st_ino,
            before.st_mode,
            ["node-heap.env"],
        )

    def test_stale_temp_files_removed(self, tmp_path: Path) -> None:
        """Temp files a killed run left more than a minute ago are removed; a fresh one (a writer at work) stays."""
        path = tmp_path / "node-heap.env"
        stale, fresh = tmp_path / ".node-heap.env.abc123.tmp", tmp_path / ".node-heap.env.def456.tmp"
        stale.write_text("half")
        fresh.write_text("half")
        old = time.time() - 120
        os.utime(stale, (old, old))
        write_env_file(path, "x\n")
        assert sorted(p.name for p in tmp_path.iterdir()) == [fresh.name, path.name]
