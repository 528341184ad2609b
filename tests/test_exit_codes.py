"""The exit codes the README lists (generated from sidecar/errors.py EXIT_CODES) are the ones the commands
return: each situation run as a real process, its code looked up in the table by what the table says."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sidecar.errors import EXIT_CODES, SidecarError
from tests.runs import run_cli

REPO = Path(__file__).resolve().parent.parent


def documented(command: str, words: str) -> int:
    """The code the table gives `command` for a meaning containing `words`."""
    (found,) = [e.code for e in EXIT_CODES if command in e.commands and words in e.meaning]
    return found


def fargate_definition(tmp_path: Path, target: str) -> Path:
    definition = json.loads((REPO / "task-definition.json").read_text())
    for pair in definition["containerDefinitions"][0]["environment"]:
        if pair["name"] == "NODE_HEAP_TARGET":
            pair["value"] = target
    path = tmp_path / "td.json"
    path.write_text(json.dumps(definition))
    return path


class TestExitCodes:
    def test_every_error_class_is_in_the_table(self) -> None:
        """Each SidecarError subclass with a code of its own is documented, and no two rows share a code."""
        classes = {cls.exit_code for cls in SidecarError.__subclasses__()} | {1}
        codes = [e.code for e in EXIT_CODES]
        assert classes <= set(codes)
        assert len(codes) == len(set(codes))

    def test_bad_setting(self, tmp_path: Path) -> None:
        """A bad value: the settings row."""
        assert run_cli(tmp_path, NODE_HEAP_PROCESSES="0").code == documented("all", "invalid settings")

    def test_unknown_setting_in_closed_mode(self, tmp_path: Path) -> None:
        """A misspelt name in closed mode: the settings row too."""
        result = run_cli(tmp_path, NODE_HEAP_PROCESS="4", NODE_HEAP_ON_ERROR="closed", NODE_HEAP_MEMORY_MIB="512")
        assert result.code == documented("all", "invalid settings")

    def test_target_the_task_does_not_have(self, tmp_path: Path) -> None:
        """NODE_HEAP_TARGET names no container of the (Fargate) task: the target row, listing the containers."""
        path = fargate_definition(tmp_path, "web")
        result = run_cli(
            tmp_path,
            "emulate",
            "--task-definition",
            str(path),
            "--",
            sys.executable,
            "-m",
            "sidecar",
            NODE_HEAP_ECS_API="off",
        )
        assert result.code == documented("init job", "NODE_HEAP_TARGET")
        assert "(its containers beside this init container: app)" in result.stderr

    def test_too_small_in_closed_mode(self, tmp_path: Path) -> None:
        """64 MiB in closed mode: the too-small row."""
        result = run_cli(tmp_path, NODE_HEAP_MEMORY_MIB="64", NODE_HEAP_ON_ERROR="closed")
        assert result.code == documented("init job", "too small")

    def test_no_volume(self, tmp_path: Path) -> None:
        """The env file's directory is missing (the volume is not mounted): the env-file row."""
        result = run_cli(
            tmp_path, NODE_HEAP_ENV_FILE=str(tmp_path / "shared" / "node-heap.env"), NODE_HEAP_MEMORY_MIB="512"
        )
        assert result.code == documented("init job", "env file cannot be written")

    @pytest.mark.parametrize(
        ("program", "words"), [("/nonexistent/x", "not found"), ("/etc/hostname", "not executable")]
    )
    def test_emulate_command(self, tmp_path: Path, program: str, words: str) -> None:
        """`emulate -- COMMAND` that cannot start: one line, a shell's code."""
        path = fargate_definition(tmp_path, "app")
        result = run_cli(tmp_path, "emulate", "--task-definition", str(path), "--", program)
        assert result.code == documented("`emulate`", words)
        assert result.stderr.count("\n") == 1
