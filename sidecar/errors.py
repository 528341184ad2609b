"""Every way the sidecar can fail, one class each, with its exit code; `EXIT_CODES` is the one list of
every code the commands return, and the README's table is generated from it (tests/readme.py)."""

from __future__ import annotations

from dataclasses import dataclass


class SidecarError(Exception):
    """Root of the sidecar's errors; the message is one line."""

    exit_code = 1


class SettingsError(SidecarError):
    """One or more settings are invalid; lists every bad variable at once."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class TargetError(SidecarError):
    """The Node container cannot be identified (ambiguous, or not in the task)."""

    exit_code = 3


class NoLimitError(SidecarError):
    """No trustworthy memory limit for the Node container: none at all, or only the machine's MemTotal
    (raised in `closed` mode only)."""

    exit_code = 4


class TooSmallError(SidecarError):
    """The container cannot hold a useful heap (raised in `closed` mode only)."""

    exit_code = 5


class OutputError(SidecarError):
    """The env file could not be written."""

    exit_code = 6


class PinError(SidecarError):
    """The app's own heap flag gives more old space than the container holds (raised in `closed` mode only)."""

    exit_code = 7


class SourceError(SidecarError):
    """A memory source answered with something malformed; recorded by the job, never fatal alone."""


class FleetApiError(SidecarError):
    """A fleet command could not read the ECS API at all (credentials, permissions, endpoint)."""

    exit_code = 11


class AdoptRefusedError(SidecarError):
    """`adopt` refuses a task definition it cannot rewrite safely; lists every reason at once, each saying
    what to do."""

    exit_code = 12

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else problems
        super().__init__("; ".join(self.problems))


FINDINGS_EXIT = 10  # audit: a finding at or above --fail-on (not an error: the report is complete)
NOT_FOUND_EXIT = 127  # emulate -- COMMAND: COMMAND not found (a shell's code)
NOT_EXECUTABLE_EXIT = 126  # emulate -- COMMAND: COMMAND not executable


@dataclass(frozen=True, slots=True)
class ExitCode:
    code: int
    commands: str
    meaning: str


EXIT_CODES: tuple[ExitCode, ...] = (
    ExitCode(0, "all", "done (the init job wrote the env file; in `open` mode also without a limit: see the warnings)"),
    ExitCode(1, "all", "a bug: the traceback is in the `run_failed` event"),
    ExitCode(SettingsError.exit_code, "all", "invalid settings, arguments or input, every problem listed"),
    ExitCode(TargetError.exit_code, "init job", "the Node container cannot be told, or `NODE_HEAP_TARGET` names none"),
    ExitCode(NoLimitError.exit_code, "init job", "no memory limit found, in `closed` mode"),
    ExitCode(TooSmallError.exit_code, "init job", "container too small for `NODE_HEAP_MIN_MIB`, in `closed` mode"),
    ExitCode(OutputError.exit_code, "init job", "the env file cannot be written (no volume, read-only, full)"),
    ExitCode(PinError.exit_code, "init job", "the app's own heap flag does not fit, in `closed` mode"),
    ExitCode(FINDINGS_EXIT, "`audit`", "a finding at or above `--fail-on` (default `critical`)"),
    ExitCode(FleetApiError.exit_code, "`audit`, `adopt`", "the ECS API could not be read (all of it, or a part)"),
    ExitCode(AdoptRefusedError.exit_code, "`adopt`", "cannot be wired safely; each reason says what to give"),
    ExitCode(NOT_EXECUTABLE_EXIT, "`emulate`", "the command after `--` is not executable"),
    ExitCode(NOT_FOUND_EXIT, "`emulate`", "the command after `--` is not found"),
)


def render_exit_codes_table() -> str:
    """The README's exit-code table, from EXIT_CODES."""
    rows = ["| code | command | meaning |", "| --- | --- | --- |"]
    rows += [f"| {e.code} | {e.commands} | {e.meaning} |" for e in EXIT_CODES]
    return "\n".join(rows)
