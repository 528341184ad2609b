"""Settings: the environment (and CLI flags) turned into one validated, immutable value.

One declaration (`VARS`) feeds parsing, the CLI flags, the error messages and the README's
configuration table, so they cannot drift apart. Every bad value is reported at once.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sidecar.errors import SettingsError
from sidecar.notices import Notice
from sidecar.outputs.log import LogFormat
from sidecar.sizing.plan import YoungRule
from sidecar.text import shown
from sidecar.units import PLAUSIBLE_MAX_MIB


class OnError(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class EcsApi(enum.Enum):
    AUTO = "auto"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class Settings:
    metadata_uri: str | None
    target: tuple[str, ...] | None  # the Node container(s), by name
    env_file: Path
    memory_mib: int | None
    processes: int
    reserve_mib: int
    tmpfs_mib: tuple[tuple[str, int], ...]
    sibling_mib: tuple[tuple[str, int], ...]
    sibling_default_mib: int
    headroom_ratio: float
    ratio: float | None
    min_mib: int
    max_mib: int | None
    semi_space: YoungRule | int
    on_error: OnError
    ecs_api: EcsApi
    node_version: str | None
    metrics_namespace: str
    cgroup_root: Path
    proc_root: Path
    log_format: LogFormat
    deadline_s: float = 5.0
    warnings: tuple[Notice, ...] = ()  # what is wrong but not fatal (an unknown NODE_HEAP_* name in open mode)


class _Invalid(ValueError):
    """A converter's complaint: `expected` completes "expected ..."."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


MAX_MIB = PLAUSIBLE_MAX_MIB  # beyond any machine, and it keeps every flag to 8 digits
MAX_PROCESSES = 1024


def _int(minimum: int, maximum: int = MAX_MIB) -> Callable[[str], int]:
    def convert(raw: str) -> int:
        text = raw.strip()
        if not re.fullmatch(r"[0-9]{1,12}", text) or not minimum <= int(text) <= maximum:
            raise _Invalid(f"a whole number from {minimum} to {maximum}")
        return int(text)

    return convert


def _ratio(*, zero_ok: bool) -> Callable[[str], float]:
    def convert(raw: str) -> float:
        low = "at least 0 and below 1" if zero_ok else "greater than 0 and at most 1"
        try:
            value = float(raw.strip())
        except ValueError:
            raise _Invalid(f"a number {low}") from None
        ok = (0 <= value < 1) if zero_ok else (0 < value <= 1)
        if not ok:
            raise _Invalid(f"a number {low}")
        return value

    return convert


def _seconds(low: float, high: float) -> Callable[[str], float]:
    def convert(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            value = float("nan")
        if not low <= value <= high:  # also false for nan
            raise _Invalid(f"a number of seconds from {low:g} to {high:g}")
        return value

    return convert


def _choice(enum_cls: type[enum.Enum]) -> Callable[[str], Any]:
    names = [member.value for member in enum_cls]

    def convert(raw: str) -> Any:
        try:
            return enum_cls(raw.strip().lower())
        except ValueError:
            raise _Invalid("one of " + ", ".join(names)) from None

    return convert


SEMI_SPACE_SETTING_MAX_MIB = 1024


def _semi_space(raw: str) -> YoungRule | int:
    text = raw.strip().lower()
    if re.fullmatch(r"[0-9]{1,4}", text) and 1 <= int(text) <= SEMI_SPACE_SETTING_MAX_MIB:
        return int(text)
    try:
        return YoungRule(text)
    except ValueError:
        names = ", ".join(rule.value for rule in YoungRule)
        raise _Invalid(f"one of {names}, or a semi-space in MiB from 1 to {SEMI_SPACE_SETTING_MAX_MIB}") from None


def _metadata_uri(raw: str) -> str:
    try:
        parts = urlsplit(raw.strip())
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number or out of range)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise _Invalid("an http:// URL") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _Invalid("an http:// URL")
    return raw.strip().rstrip("/")


MAX_TARGETS = 10  # ECS allows 10 containers in a task definition


def _container_names(raw: str) -> tuple[str, ...]:
    # ECS container names: up to 255 letters, numbers, underscores and hyphens; several are comma-separated.
    names = tuple(name.strip() for name in raw.split(","))
    expected = "an ECS container name (letters, digits, '_' or '-'), or several separated by commas"
    if not all(re.fullmatch(r"[A-Za-z0-9_-]{1,255}", name) for name in names) or len(names) > MAX_TARGETS:
        raise _Invalid(expected)
    if len(set(names)) != len(names):
        raise _Invalid(f"{expected}, each once")
    return names


def _mib_pairs(key: str, key_pattern: str, example: str) -> Callable[[str], tuple[tuple[str, int], ...]]:
    """`KEY=MiB` pairs separated by commas, each key once (`log_router=96,xray-daemon=32`, `/tmp=256`)."""
    expected = f"{key}=MiB pairs separated by commas, e.g. {example}"

    def convert(raw: str) -> tuple[tuple[str, int], ...]:
        pairs: dict[str, int] = {}
        for item in (part.strip() for part in raw.split(",")):
            if not item:
                continue
            match = re.fullmatch(rf"({key_pattern})\s*=\s*([0-9]{{1,12}})", item)
            if match is None:
                raise _Invalid(f"{expected} ({item!r} is not one)")
            name, value = match.group(1), int(match.group(2))
            if value > MAX_MIB:
                raise _Invalid(f"{expected} ({item!r}: at most {MAX_MIB} MiB)")
            if name in pairs:
                raise _Invalid(f"{expected}, each {key} once ({name!r} appears twice)")
            pairs[name] = value
        return tuple(pairs.items())

    return convert


# Container names (or footprint-catalogue keys), and tmpfs mount points of the Node container.
_sibling_mib = _mib_pairs("name", r"[A-Za-z0-9_-]{1,255}", "log_router=96,xray-daemon=32")
_tmpfs_mib = _mib_pairs("path", r"/[A-Za-z0-9._/-]{0,255}", "/tmp=256,/dev/shm=64")


def _node_version(raw: str) -> str:
    text = raw.strip().lstrip("v")
    if not re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,4}){0,2}", text):
        raise _Invalid("a Node.js version such as 22 or 22.21.0")
    return text


def _namespace(raw: str) -> str:
    # Empty turns metrics off; otherwise the CloudWatch EMF namespace pattern.
    text = raw.strip()
    if text and not re.fullmatch(r"[a-zA-Z0-9._#:/-]([a-zA-Z0-9._#:/ -]{0,253}[a-zA-Z0-9._#:/-])?", text):
        raise _Invalid("empty, or a CloudWatch namespace of letters, digits, spaces inside and . _ # : / -")
    return text


def _path(raw: str) -> Path:
    if not raw.strip():
        raise _Invalid("a path")
    return Path(raw.strip())


@dataclass(frozen=True, slots=True)
class Var:
    """One setting: its variable, its flag, its default (as text) and how to read it."""

    field: str
    env: str
    default: str | None
    convert: Callable[[str], Any]
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")


VARS: tuple[Var, ...] = (
    Var(
        "metadata_uri",
        "ECS_CONTAINER_METADATA_URI_V4",
        None,
        _metadata_uri,
        "Task metadata endpoint v4; set by ECS in every container.",
    ),
    Var(
        "target",
        "NODE_HEAP_TARGET",
        None,
        _container_names,
        "The Node container's name. Unset: the task's only other container beside known sidecars. Several "
        "(`web,worker`): each gets its own budget and file (`/shared/node-heap.web.env`).",
    ),
    Var(
        "env_file",
        "NODE_HEAP_ENV_FILE",
        "/shared/node-heap.env",
        _path,
        "Where the env file is written (in a task volume).",
    ),
    Var(
        "memory_mib",
        "NODE_HEAP_MEMORY_MIB",
        None,
        _int(1),
        "The Node container's memory in MiB; skips detection.",
    ),
    Var(
        "processes",
        "NODE_HEAP_PROCESSES",
        "1",
        _int(1, MAX_PROCESSES),
        "Node isolates in the container (cluster workers, pm2 instances, worker threads): the budget is divided.",
    ),
    Var(
        "reserve_mib",
        "NODE_HEAP_RESERVE_MIB",
        "0",
        _int(0),
        "MiB the app holds outside the heap beyond the headroom (large Buffers, native addons).",
    ),
    Var(
        "tmpfs_mib",
        "NODE_HEAP_TMPFS_MIB",
        "",
        _tmpfs_mib,
        "The Node container's tmpfs sizes (`/tmp=256`), kept back from the heap; `adopt` writes it, the task "
        "definition wins when the ECS API answers.",
    ),
    Var(
        "sibling_mib",
        "NODE_HEAP_SIBLING_MIB",
        "",
        _sibling_mib,
        "What containers beside Node hold (`log_router=96,service-connect=128`); wins over their memory "
        "settings and the footprint catalogue.",
    ),
    Var(
        "sibling_default_mib",
        "NODE_HEAP_SIBLING_DEFAULT_MIB",
        "64",
        _int(0),
        "MiB counted for a container beside Node with no memory setting and an image not in the footprint catalogue.",
    ),
    Var(
        "headroom_ratio",
        "NODE_HEAP_HEADROOM_RATIO",
        "0.1",
        _ratio(zero_ok=True),
        "Share of the container kept for off-heap memory (Buffers, sockets) and as the margin that lets V8 "
        "stop the app before the kernel does.",
    ),
    Var(
        "ratio",
        "NODE_HEAP_RATIO",
        None,
        _ratio(zero_ok=False),
        "Cap: heap per process at most this share of the memory; never raises it past what fits.",
    ),
    Var(
        "min_mib",
        "NODE_HEAP_MIN_MIB",
        "32",
        _int(1),
        "Smallest useful heap in MiB; below it the container is too small.",
    ),
    Var("max_mib", "NODE_HEAP_MAX_MIB", None, _int(1), "Largest heap in MiB, whatever the container's size."),
    Var(
        "semi_space",
        "NODE_HEAP_SEMI_SPACE",
        "speed",
        _semi_space,
        "`--max-semi-space-size`: `speed` (16 MiB in 1 GiB: fewer scavenges), `node` (Node's own), `memory` "
        "(0.1.0's: more old space), or MiB.",
    ),
    Var(
        "on_error",
        "NODE_HEAP_ON_ERROR",
        "open",
        _choice(OnError),
        "`open`: no limit or too small is a warning and a safe file. `closed`: exit non-zero so Node does not start.",
    ),
    Var(
        "ecs_api",
        "NODE_HEAP_ECS_API",
        "auto",
        _choice(EcsApi),
        "`auto`: ask DescribeTasks and DescribeTaskDefinition when the task role allows. `off`: never.",
    ),
    Var(
        "deadline_s",
        "NODE_HEAP_DEADLINE_S",
        "5",
        _seconds(0.1, 120),
        "Seconds for all reading (every timeout, retry and backoff); then it decides with what it has.",
    ),
    Var(
        "node_version",
        "NODE_HEAP_NODE_VERSION",
        None,
        _node_version,
        "The Node container's Node.js version (`22`); `adopt` writes it from the image. Unset: its image tag.",
    ),
    Var(
        "metrics_namespace",
        "NODE_HEAP_METRICS_NAMESPACE",
        "NodeHeapSidecar",
        _namespace,
        "CloudWatch namespace of the Embedded Metric Format figures; empty turns them off.",
    ),
    Var(
        "cgroup_root",
        "NODE_HEAP_CGROUP_ROOT",
        "/sys/fs/cgroup",
        _path,
        "Where cgroup files are read (point it at a captured tree).",
    ),
    Var(
        "proc_root",
        "NODE_HEAP_PROC_ROOT",
        "/proc",
        _path,
        "Where `self/mountinfo`, `self/cgroup` and `meminfo` are read.",
    ),
    Var(
        "log_format",
        "NODE_HEAP_LOG_FORMAT",
        "auto",
        _choice(LogFormat),
        "`auto`: JSON lines unless stdout is a terminal (then readable lines); `json`; `console`.",
    ),
)


def load_settings(
    environ: Mapping[str, str],
    flags: Mapping[str, str | None] | None = None,
) -> Settings:
    """Validate the environment (flags win over it) into Settings, or raise one SettingsError.

    `flags` maps a field name to the raw text given on the command line. Whether the env file's
    directory exists and is writable is the output step's question (sidecar/outputs/atomic.py, exit 6).
    """
    flags = flags or {}
    values: dict[str, Any] = {}
    problems: list[str] = []
    invalid: set[str] = set()
    sources: dict[str, str] = {}
    for var in VARS:
        raw = flags.get(var.field)
        source = var.flag
        if raw is None:
            raw = environ.get(var.env)
            source = var.env
        if raw is None or (raw.strip() == "" and var.field != "metrics_namespace"):
            raw, source = var.default, f"{var.env} (default)"
        sources[var.field] = source
        if raw is None:
            values[var.field] = None
            continue
        try:
            values[var.field] = var.convert(raw)
        except _Invalid as error:
            problems.append(f"{source}={shown(raw, 120)}: expected {error.expected}")
            invalid.add(var.field)

    low, high = values.get("min_mib"), values.get("max_mib")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        problems.append(
            f"{sources['min_mib']}={low} is greater than {sources['max_mib']}={high}: "
            "expected the minimum to be at most the maximum"
        )
    elif isinstance(high, int) and "min_mib" in invalid and "(default)" not in sources["max_mib"]:
        problems.append(f"{sources['max_mib']}={high}: not checked against NODE_HEAP_MIN_MIB, which is invalid")
    elif isinstance(low, int) and "max_mib" in invalid and "(default)" not in sources["min_mib"]:
        problems.append(f"{sources['min_mib']}={low}: not checked against NODE_HEAP_MAX_MIB, which is invalid")
    env_file = values.get("env_file")
    if isinstance(env_file, Path) and env_file.name in ("", ".", ".."):
        problems.append(f"{sources['env_file']}={shown(str(env_file), 120)}: expected a file path, not a directory")
    warnings: list[Notice] = []
    for name, closest in unknown_settings(environ):
        text = f"{name} is not a setting of node-heap-sidecar" + (f" (did you mean {closest}?)" if closest else "")
        if values.get("on_error") is OnError.CLOSED:
            problems.append(f"{text}; NODE_HEAP_ON_ERROR=closed refuses unknown settings")
        else:
            warnings.append(Notice("setting_unknown", f"{text}: ignored"))
    if problems:
        raise SettingsError(problems)
    return Settings(**values, warnings=tuple(warnings))


# Names the env file itself sets for Node (outputs/envfile.py): not settings, but not mistakes either.
WRITTEN_BY_THE_SIDECAR = ("NODE_HEAP_OPTIONS", "NODE_HEAP_SH")
SETTING_PREFIX = "NODE_HEAP_"


def unknown_settings(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """Each NODE_HEAP_* name in `environ` that is no setting, with the closest setting's name (or None).

    A misspelt name would otherwise be ignored in silence: `NODE_HEAP_PROCESS=4` leaves every cluster
    worker the whole single-process heap. The init job, `adopt --set` and `audit` all check with this.
    """
    known = [var.env for var in VARS if var.env.startswith(SETTING_PREFIX)]
    found = []
    for name in sorted(environ):
        if name.startswith(SETTING_PREFIX) and name not in known and name not in WRITTEN_BY_THE_SIDECAR:
            # Compared without the common prefix, which would make every name look alike.
            suffixes = [k.removeprefix(SETTING_PREFIX) for k in known]
            closest = difflib.get_close_matches(name.removeprefix(SETTING_PREFIX), suffixes, n=1, cutoff=0.6)
            found.append((name, SETTING_PREFIX + closest[0] if closest else None))
    return found


def render_settings_table() -> str:
    """The README's configuration table, generated from VARS."""
    rows = ["| Variable | Flag | Default | Meaning |", "| --- | --- | --- | --- |"]
    for var in VARS:
        default = f"`{var.default}`" if var.default else ("empty" if var.default == "" else "unset")
        rows.append(f"| `{var.env}` | `{var.flag}` | {default} | {var.help} |")
    return "\n".join(rows)
