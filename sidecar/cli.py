"""Entry point: `python -m sidecar [run|explain|emulate]`. The only module that reads the environment.

- `run` (the default, and the container's entrypoint): detect, plan, write the env file, log.
- `explain [--json]`: the same decision, printed; nothing is written.
- `emulate`: a local task metadata endpoint from a task definition; with `-- COMMAND`, runs
  COMMAND against it (the README's quick start runs the init job that way).
- `audit`, `adopt`: the fleet commands (sidecar/fleet/): find the Node services at risk, wire the
  sidecar into a task definition.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from sidecar import __version__
from sidecar.errors import SettingsError, SidecarError
from sidecar.fleet import commands as fleet
from sidecar.job.run import explain, report_bug, run, say
from sidecar.outputs import log
from sidecar.outputs.log import LogFormat
from sidecar.settings import VARS, load_settings

COMMANDS = ("run", "explain", "emulate", *fleet.COMMANDS)


class _Parser(argparse.ArgumentParser):
    """A command line error is a settings error: one line, exit code 2, and a `run_failed` event."""

    def error(self, message: str) -> NoReturn:
        raise SettingsError([f"command line: {message}"])


def build_parser() -> argparse.ArgumentParser:
    settings = _Parser(add_help=False)
    group = settings.add_argument_group("settings (each overrides its environment variable)")
    for var in VARS:
        default = f"default {var.default!r}" if var.default is not None else "unset by default"
        group.add_argument(var.flag, dest=var.field, metavar=var.env, help=f"{var.help} ({default})")

    parser = _Parser(
        prog="node-heap-sidecar",
        description="Size a Node.js heap to its ECS task and write it to an env file.",
    )
    parser.add_argument("--version", action="version", version=f"node-heap-sidecar {__version__}")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", parents=[settings], help="the init job (default)")
    explain = commands.add_parser("explain", parents=[settings], help="print the decision; write nothing")
    explain.add_argument("--json", action="store_true", help="print the decision as JSON")
    em = commands.add_parser("emulate", help="serve task metadata v4 from a task definition on 127.0.0.1")
    em.add_argument("--task-definition", type=Path, default=Path("task-definition.json"))
    em.add_argument("--launch-type", choices=("FARGATE", "EC2"), default="FARGATE")
    em.add_argument("--self", dest="self_name", help="the init container's name (default: the one waited on)")
    em.add_argument("--task-memory", type=int, help="task memory in MiB (default: the task definition's)")
    em.add_argument("--port", type=int, default=0)
    em.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND: run it against the endpoint, then stop")
    fleet.add_parsers(commands)
    return parser


def entrypoint() -> NoReturn:
    """`python -m sidecar` and the `node-heap-sidecar` script: run `main`, then exit with its code at once.

    Everything is written (the env file fsynced, the log flushed) when `main` returns; interpreter
    shutdown would only add time to the task's start, and wait on a source abandoned at the deadline.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    environ = os.environ if environ is None else environ
    stdout = stdout or sys.stdout
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv = ["run", *argv]
    flags: dict[str, Any] = {}
    try:
        args = build_parser().parse_args(argv)
        if args.command == "emulate":
            return _emulate(args, environ, stdout)
        if args.command in fleet.COMMANDS:
            return fleet.main(
                args, environ=environ, stdin=sys.stdin, stdout=stdout, stderr=sys.stderr, stderr_tty=sys.stderr.isatty()
            )
        flags = {var.field: getattr(args, var.field) for var in VARS}
        settings = load_settings(environ, flags)
    except SettingsError as exc:
        return _fail(exc, _log_format(environ, flags), stdout)
    except Exception as exc:  # a bug before the job could start: still one event and one line
        log.configure(stdout, _log_format(environ, flags))
        return report_bug(exc, log.get_logger())
    if args.command == "explain":
        return explain(settings, stdout, as_json=args.json)
    return run(settings, stdout)


def _emulate(args: argparse.Namespace, environ: Mapping[str, str], stdout: TextIO) -> int:
    from sidecar import emulate  # noqa: PLC0415 (a development tool: its HTTP server is not the job's to import)

    try:
        definition = emulate.load_task_definition(args.task_definition)
        emulated = emulate.build_task(
            definition,
            launch_type=args.launch_type,
            self_name=args.self_name,
            task_memory_mib=args.task_memory,
        )
    except SettingsError as exc:
        say(str(exc))
        return exc.exit_code
    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if command:
        task_env = emulate.container_environment(definition, emulated.container["Name"])
        try:
            return emulate.run_command(emulated, command, environ, task_environment=task_env, port=args.port)
        except emulate.CommandError as exc:
            say(str(exc))
            return exc.exit_code
    with emulate.Emulator(emulated, port=args.port) as endpoint:
        stdout.write(f"ECS_CONTAINER_METADATA_URI_V4={endpoint.uri}\n")
        stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def _fail(exc: SidecarError, fmt: LogFormat, stdout: TextIO) -> int:
    log.configure(stdout, fmt)
    log.get_logger().error("run_failed", error=str(exc), exit_code=exc.exit_code)
    say(str(exc))
    return exc.exit_code


def _log_format(environ: Mapping[str, str], flags: Mapping[str, Any]) -> LogFormat:
    raw = flags.get("log_format") or environ.get("NODE_HEAP_LOG_FORMAT") or "auto"
    try:
        return LogFormat(str(raw).strip().lower())
    except ValueError:
        return LogFormat.AUTO
