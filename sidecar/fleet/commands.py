"""The fleet commands' arguments, and their entry point for `sidecar/cli.py`.

Only argparse here: the commands' modules (and boto3) load when one of them runs, so the init
job's start-up does not pay for them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sidecar.errors import AdoptRefusedError, SettingsError, SidecarError

COMMANDS = ("audit", "adopt")
_MANAGED = ("NODE_HEAP_TARGET", "NODE_HEAP_ENV_FILE")  # adopt writes these itself


def add_parsers(commands: Any) -> None:
    """Add `audit` and `adopt` to the CLI's subparsers."""
    audit = commands.add_parser("audit", help="find the Node services at risk of an OOM kill (read-only)")
    audit.add_argument(
        "--cluster", action="append", help="cluster name or ARN (repeat, or comma-separate); default all"
    )
    audit.add_argument("--standalone", action="store_true", help="also audit running tasks that belong to no service")
    audit.add_argument("--since", default="24h", help="window for stopped tasks, e.g. 24h, 90m, 2d (default 24h)")
    audit.add_argument(
        "--fail-on",
        choices=("critical", "warning", "info", "never"),
        default="critical",
        help="exit 10 when a finding of this severity or worse exists (default critical)",
    )
    output = audit.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_const", const="json", dest="output", help="a JSON list")
    output.add_argument("--emf", action="store_const", const="emf", dest="output", help="CloudWatch EMF lines")
    audit.add_argument("--metrics-namespace", default="NodeHeapSidecar", help="EMF namespace")
    audit.add_argument("--concurrency", type=int, default=8, help="API calls in flight at once (default 8)")
    audit.add_argument("--retry-mode", choices=("standard", "adaptive"), default="standard", help="botocore retries")
    audit.add_argument("--max-attempts", type=int, default=8, help="attempts per call, retries included (default 8)")
    audit.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    _images(audit)
    _aws(audit)

    adopt = commands.add_parser("adopt", help="write a task definition with the sidecar wired in")
    adopt.add_argument(
        "file",
        nargs="?",
        help="a task definition (JSON, DescribeTaskDefinition output, a containerDefinitions list, a Terraform "
        "container_definitions string or `terraform show -json`, a CloudFormation template); - for stdin",
    )
    adopt.add_argument("--family", help="read FAMILY[:REVISION] (or its ARN) with DescribeTaskDefinition instead")
    adopt.add_argument("--image", help="the node-heap-sidecar image for the init container")
    adopt.add_argument("--container", action="append", default=[], help="a Node container (repeat); default: all")
    adopt.add_argument(
        "--mode",
        choices=("auto", "sh", "env-file"),
        default="auto",
        help="sh: source the file; env-file: node --env-file; auto (default): env-file for an image without a shell",
    )
    adopt.add_argument("--set", action="append", default=[], metavar="NODE_HEAP_X=VALUE", help="an init setting")
    adopt.add_argument("--argv", action="append", default=[], metavar="NAME=JSON", help="what NAME runs today, in full")
    adopt.add_argument(
        "--new-argv", action="append", default=[], metavar="NAME", help="NAME's --argv is meant to change what it runs"
    )
    adopt.add_argument("--init-name", default="node-heap-init")
    adopt.add_argument("--volume", default="node-heap")
    adopt.add_argument("--shared-path", default="/shared")
    adopt.add_argument("--log-group", help="awslogs group for the init container (default: the app's)")
    adopt.add_argument("--log-region", help="awslogs region for the init container (default: the app's)")
    adopt.add_argument("--init-memory-mib", type=int, default=64, help="init container memory without a task memory")
    adopt.add_argument("-o", "--output", type=Path, help="write here (atomically) instead of stdout")
    adopt.add_argument("--register", action="store_true", help="register the result (RegisterTaskDefinition)")
    _images(adopt)
    _aws(adopt)


def _images(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("images (what a container runs is read from its image)")
    group.add_argument("--offline", action="store_true", help="read image configs from the cache only, never call out")
    group.add_argument("--platform", default="linux/amd64", help="the platform of a multi-platform image")
    group.add_argument(
        "--registry",
        action="append",
        default=[],
        metavar="HOST=URL",
        help="read HOST's images at URL (a mirror or pull-through cache)",
    )
    group.add_argument("--image-deadline", type=float, default=20.0, help="seconds for every image lookup together")


def _aws(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help="AWS region (default: the standard chain, e.g. AWS_DEFAULT_REGION)")
    parser.add_argument("--endpoint-url", help="ECS endpoint (default: AWS's; AWS_ENDPOINT_URL_ECS also works)")


def main(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str],
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
    stderr_tty: bool,
) -> int:
    """Run `audit` or `adopt`; a SidecarError becomes one line per problem on stderr, and its exit code."""
    try:
        _check_fleet_extra()
        images = _image_reader(args, environ)
        if args.command == "audit":
            return _audit(args, stdout, stderr, stderr_tty, images)
        return _adopt(args, stdin, stdout, stderr, images)
    except (AdoptRefusedError, SettingsError) as exc:
        what = "refused: " if isinstance(exc, AdoptRefusedError) else ""
        stderr.writelines(f"node-heap-sidecar {args.command}: {what}{problem}\n" for problem in exc.problems)
        return exc.exit_code
    except SidecarError as exc:
        stderr.write(f"node-heap-sidecar {args.command}: {exc}\n")
        return exc.exit_code


FLEET_MODULES = ("requests", "dxf", "docker", "ruamel.yaml")  # pyproject.toml's `fleet` extra


def _check_fleet_extra() -> None:
    """The fleet commands' libraries are an extra the init job does without: say how to get them."""
    missing = [name for name in FLEET_MODULES if importlib.util.find_spec(name.split(".")[0]) is None]
    if missing:
        raise SettingsError(
            [f"audit and adopt need {', '.join(missing)}: pip install 'node-heap-sidecar[fleet]' (the image has them)"]
        )


def _image_reader(args: argparse.Namespace, environ: Mapping[str, str]) -> Any:
    from sidecar.fleet.images import ImageReader  # noqa: PLC0415

    registries: dict[str, str] = {}
    problems = []
    for value in args.registry:
        host, sep, url = value.partition("=")
        if not sep or not host or not url.startswith(("http://", "https://")):
            problems.append(f"--registry {value!r}: expected HOST=URL, e.g. docker.io=https://mirror.example.com")
        registries[host] = url
    if problems:
        raise SettingsError(problems)
    return ImageReader.from_environ(
        environ,
        offline=args.offline,
        platform=args.platform,
        deadline_s=args.image_deadline,
        registry_urls=registries,
        ecr_endpoint_url=environ.get("AWS_ENDPOINT_URL_ECR") or None,
    )


def _audit(args: argparse.Namespace, stdout: TextIO, stderr: TextIO, stderr_tty: bool, images: Any) -> int:
    from sidecar.fleet.audit import AuditOptions, audit_clusters, run_audit  # noqa: PLC0415

    options = AuditOptions(
        clusters=audit_clusters(args.cluster),
        standalone=args.standalone,
        since=args.since,
        fail_on=args.fail_on,
        output=args.output or "table",
        namespace=args.metrics_namespace,
        concurrency=args.concurrency,
        region=args.region,
        endpoint_url=args.endpoint_url,
        retry_mode=args.retry_mode,
        max_attempts=args.max_attempts,
        progress=not args.no_progress,
    )
    return run_audit(options, stdout, stderr, now=datetime.now(UTC), stderr_tty=stderr_tty, images=images)


def _adopt(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, stderr: TextIO, images: Any) -> int:
    from sidecar.fleet.adopt import AdoptCommand, run_adopt  # noqa: PLC0415
    from sidecar.fleet.rewrite import AdoptOptions  # noqa: PLC0415

    rewrite = AdoptOptions(
        image=args.image,
        containers=tuple(args.container),
        mode=args.mode,
        settings=_settings(args.set),
        argv=_argvs(args.argv),
        new_argv=tuple(args.new_argv),
        init_name=args.init_name,
        volume=args.volume,
        shared_path=args.shared_path,
        log_group=args.log_group,
        log_region=args.log_region,
        init_memory_mib=args.init_memory_mib,
    )
    command = AdoptCommand(rewrite, args.file, args.family, args.output, args.register, args.region, args.endpoint_url)
    return run_adopt(command, stdin, stdout, stderr, images=images)


def _settings(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """`--set NODE_HEAP_X=VALUE` pairs; an unknown name is refused as the init job refuses it."""
    from sidecar.settings import unknown_settings  # noqa: PLC0415

    found, problems = [], []
    for value in values:
        name, sep, setting = value.partition("=")
        unknown = unknown_settings({name: setting})
        if not sep or not name.startswith("NODE_HEAP_"):
            problems.append(f"--set {value!r}: expected NODE_HEAP_NAME=VALUE")
        elif unknown:
            closest = unknown[0][1]
            problems.append(
                f"--set {name}: not a setting of node-heap-sidecar" + (f" (did you mean {closest}?)" if closest else "")
            )
        elif name in _MANAGED:
            problems.append(f"--set {name}: adopt sets it itself (use --container and --shared-path)")
        else:
            found.append((name, setting))
    if problems:
        raise SettingsError(problems)
    return tuple(found)


def _argvs(values: Sequence[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    problems = []
    for value in values:
        name, sep, text = value.partition("=")
        try:
            argv = json.loads(text) if sep else None
        except json.JSONDecodeError:
            argv = None
        if not name or not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            problems.append(f'--argv {value!r}: expected NAME=\'["program", "arg", ...]\' (a JSON list of strings)')
        else:
            found[name] = argv
    if problems:
        raise SettingsError(problems)
    return found
