"""Tests for sidecar.outputs.log: JSON through a pipe, lines a person reads on a terminal, the format setting.

The job runs as a real `python -m sidecar` process whose stdout is a pipe or the far end of a real
pseudo-terminal (os.openpty), so `auto` decides from a real isatty(). The figures are the README's worked
example: 1024 MiB for Node 22 gives old space 780 MiB and semi-space 16 MiB, 243 MiB kept back.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from sidecar.outputs import log
from sidecar.outputs.log import LogFormat

REPO = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def run_job(tmp_path: Path, *, terminal: bool, **env: str) -> tuple[int, str]:
    """The init job (memory given, Node 22, no ECS) with stdout on a pipe or a 200-column terminal; (code, stdout)."""
    environ = {
        "PATH": "/usr/bin:/bin",
        "NODE_HEAP_MEMORY_MIB": "1024",
        "NODE_HEAP_NODE_VERSION": "22",
        "NODE_HEAP_ECS_API": "off",
        "NODE_HEAP_ENV_FILE": str(tmp_path / "node-heap.env"),
        **env,
    }
    command = [sys.executable, "-m", "sidecar"]
    if not terminal:
        piped = subprocess.run(command, env=environ, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
        return piped.returncode, piped.stdout
    controller, far_end = pty.openpty()
    fcntl.ioctl(far_end, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    with subprocess.Popen(command, env=environ, cwd=REPO, stdout=far_end, stderr=subprocess.PIPE) as proc:
        os.close(far_end)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            shown += chunk
        code = proc.wait(timeout=60)
    os.close(controller)
    return code, shown.decode().replace("\r\n", "\n")  # the terminal turns each newline into CR LF


class TestAuto:
    def test_pipe_gets_complete_json(self, tmp_path: Path) -> None:
        """Not a terminal (as on ECS): one JSON object per line, the decision with every field and its EMF."""
        code, out = run_job(tmp_path, terminal=False, NODE_HEAP_LOG_FORMAT="auto")
        events = [json.loads(line) for line in out.splitlines()]
        assert code == 0
        assert [e["event"] for e in events] == ["settings_loaded", "source_read", "env_file_written", "decision"]
        decision = events[-1]
        assert (decision["heap_mib"], decision["semi_space_mib"], decision["kept_back_mib"]) == (780, 16, 243)
        assert {"candidates", "kept_back", "sources", "_aws", "ContainerMemoryBytes"} <= set(decision)

    def test_terminal_gets_readable_coloured_lines(self, tmp_path: Path) -> None:
        """On a terminal: console lines in colour, the decision cut to its key figures, nothing empty."""
        code, out = run_job(tmp_path, terminal=True, NODE_HEAP_LOG_FORMAT="auto")
        assert code == 0
        assert ANSI.search(out)
        lines = ANSI.sub("", out).splitlines()
        # `<time> [info     ] <event> key=value ...`: the event is the fourth word
        assert [line.split()[3] for line in lines] == ["settings_loaded", "source_read", "env_file_written", "decision"]
        assert re.fullmatch(
            STAMP + r" \[info     \] decision +status=planned memory_mib=1024 "
            r"memory_arithmetic='NODE_HEAP_MEMORY_MIB = 1024 MiB' heap_mib=780 semi_space_mib=16 processes=1 "
            r"kept_back_mib=243 node_options_added='--max-old-space-size=780 --max-semi-space-size=16' "
            rf"env_file={re.escape(str(tmp_path / 'node-heap.env'))}",
            lines[-1],
        )
        assert re.fullmatch(
            STAMP
            + r" \[info     \] settings_loaded +version=\S+ env_file=\S+ memory_mib=1024 on_error=open ecs_api=off",
            lines[0],
        )

    def test_the_file_is_the_same_either_way(self, tmp_path: Path) -> None:
        """Only the log changes with the terminal: the env file is byte for byte the same."""
        run_job(tmp_path, terminal=True, NODE_HEAP_LOG_FORMAT="auto")
        on_terminal = (tmp_path / "node-heap.env").read_bytes()
        run_job(tmp_path, terminal=False, NODE_HEAP_LOG_FORMAT="auto")
        assert (tmp_path / "node-heap.env").read_bytes() == on_terminal


class TestSetting:
    def test_json_on_a_terminal(self, tmp_path: Path) -> None:
        """NODE_HEAP_LOG_FORMAT=json wins over the terminal: JSON lines, no colour."""
        code, out = run_job(tmp_path, terminal=True, NODE_HEAP_LOG_FORMAT="json")
        assert code == 0
        assert [json.loads(line)["event"] for line in out.splitlines()][-1] == "decision"
        assert not ANSI.search(out)

    def test_console_through_a_pipe(self, tmp_path: Path) -> None:
        """NODE_HEAP_LOG_FORMAT=console through a pipe: console lines without colour codes."""
        code, out = run_job(tmp_path, terminal=False, NODE_HEAP_LOG_FORMAT="console")
        assert code == 0
        assert not ANSI.search(out)
        assert out.splitlines()[-1].split()[1:3] == ["[info", "]"]

    def test_warnings_by_code(self, tmp_path: Path) -> None:
        """A too-small container: each warning is its own console line, and the decision lists their codes."""
        code, out = run_job(tmp_path, terminal=False, NODE_HEAP_LOG_FORMAT="console", NODE_HEAP_MEMORY_MIB="64")
        lines = out.splitlines()
        assert code == 0
        assert [line.split()[3] for line in lines if "[warning" in line] == ["container_too_small", "no_heap_fits"]
        assert lines[-1].endswith(" warnings=container_too_small,no_heap_fits")
        assert " status=too_small " in lines[-1]


class TestResolveFormat:
    @pytest.mark.parametrize(
        ("fmt", "terminal", "resolved"),
        [
            (LogFormat.AUTO, True, LogFormat.CONSOLE),
            (LogFormat.AUTO, False, LogFormat.JSON),
            (LogFormat.JSON, True, LogFormat.JSON),
            (LogFormat.CONSOLE, False, LogFormat.CONSOLE),
        ],
    )
    def test_auto_follows_isatty(self, fmt: LogFormat, terminal: bool, resolved: LogFormat) -> None:
        """`auto` is console on a terminal and JSON elsewhere; `json` and `console` stay what they are."""
        controller, far_end = pty.openpty()
        try:
            with open(far_end, "w", closefd=False) as tty:
                assert log.resolve_format(fmt, tty if terminal else io.StringIO()) is resolved
        finally:
            os.close(far_end)
            os.close(controller)

    def test_closed_stream_is_not_a_terminal(self) -> None:
        """A closed stream raises on isatty(): it counts as no terminal, so `auto` gives JSON."""
        stream = io.StringIO()
        stream.close()
        assert log.resolve_format(LogFormat.AUTO, stream) is LogFormat.JSON


class TestConsoleTraceback:
    def test_a_bug_prints_a_traceback_without_locals(self) -> None:
        """In console mode a bug's traceback is plain text, and a local variable's value is not in it."""
        stream = io.StringIO()
        log.configure(stream, LogFormat.CONSOLE)
        secret = "AKIA-not-to-be-printed"
        try:
            raise RuntimeError(f"boom {len(secret)}")
        except RuntimeError as exc:
            log.get_logger().error("run_failed", error="a bug", exit_code=1, exc_info=exc)
        text = stream.getvalue()
        assert "run_failed" in text
        assert "Traceback (most recent call last):" in text
        assert "RuntimeError: boom 22" in text
        assert secret not in text
