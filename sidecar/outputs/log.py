"""Structured logging to stdout: one JSON object per line, which the awslogs driver ships as is.

Event names are an interface for CloudWatch Logs Insights queries (see the README): stable
snake_case, noun then past tense. Configured once, by the CLI.

Formats: `json` (complete, for machines), `console` (structlog's ConsoleRenderer, for a person:
the long events cut to their key figures, nothing empty, colours only on a terminal), and `auto`:
console when the stream is a terminal (isatty), else JSON: ECS and CloudWatch get JSON, someone
running the job by hand gets lines to read.

What reaches CloudWatch is kept safe to ship: tracebacks carry no local variables (this process
holds the task role's credentials), every event stays below Docker's 16 KiB line split (longer
lines reach CloudWatch as several events; long lists and texts are summarised), and nothing read
from the task can start a new line (`one_line`).
"""

from __future__ import annotations

import enum
import json
import logging
import re
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

# Docker's json-file and awslogs drivers split a line at 16 KiB; keep well clear of it.
MAX_EVENT_BYTES = 12_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


class LogFormat(enum.Enum):
    JSON = "json"
    CONSOLE = "console"
    AUTO = "auto"  # console on a terminal, JSON otherwise (`resolve_format`)


# What a person reads of the long events in console mode; the JSON event keeps everything.
CONSOLE_KEYS: dict[str, tuple[str, ...]] = {
    "settings_loaded": ("version", "target", "env_file", "memory_mib", "on_error", "ecs_api"),
    "decision": (
        "status",
        "container",
        "memory_mib",
        "memory_arithmetic",
        "heap_mib",
        "semi_space_mib",
        "processes",
        "kept_back_mib",
        "node_options_added",
        "env_file",
    ),
}
CONSOLE_DROPPED = ("task_arn",)  # the same on every line of a run; `explain` and the JSON carry it


def one_line(text: str) -> str:
    """`text` with every control character escaped: a message a reader sees as one line."""
    return _CONTROL.sub(lambda match: match.group(0).encode("unicode_escape").decode("ascii"), text)


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is a terminal; a closed or detached stream is not."""
    try:
        return stream.isatty()
    except (ValueError, OSError):
        return False


def resolve_format(fmt: LogFormat, stream: TextIO) -> LogFormat:
    """`auto` -> `console` on a terminal, `json` otherwise; the other formats as they are."""
    if fmt is not LogFormat.AUTO:
        return fmt
    return LogFormat.CONSOLE if is_terminal(stream) else LogFormat.JSON


def configure(stream: TextIO, fmt: LogFormat = LogFormat.JSON) -> None:
    """Send every event to `stream`, as JSON lines or as readable console lines (`auto`: by `stream`)."""
    fmt = resolve_format(fmt, stream)
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if fmt is LogFormat.JSON:
        exceptions = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        processors += [structlog.processors.ExceptionRenderer(exceptions), bound_event]
        renderer = structlog.processors.JSONRenderer()
    else:  # the renderer prints a traceback itself, as text, without locals
        processors += [console_summary, _console_safe]
        renderer = structlog.dev.ConsoleRenderer(
            colors=is_terminal(stream), sort_keys=False, exception_formatter=structlog.dev.plain_traceback
        )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def get_logger() -> Any:
    return structlog.get_logger("node-heap-sidecar")


def bound_event(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Shrink an event larger than MAX_EVENT_BYTES: shorter lists and texts first, then scalars only.

    `_aws` (the EMF directive) and the metric members it names are top-level scalars and survive.
    """
    if _size(event) <= MAX_EVENT_BYTES:
        return event
    original = _size(event)
    for items, chars in ((50, 2000), (20, 500), (8, 200), (3, 120)):
        shrunk = {key: value if key == "_aws" else _shrink(value, items, chars) for key, value in event.items()}
        shrunk["truncated"] = f"{original} bytes, lists cut to {items} items and texts to {chars} characters"
        if _size(shrunk) <= MAX_EVENT_BYTES:
            return shrunk
    scalars = {k: v for k, v in event.items() if k == "_aws" or isinstance(v, (int, float, bool)) or v is None}
    scalars.update({k: _shrink(v, 1, 120) for k, v in event.items() if isinstance(v, str)})
    scalars["truncated"] = f"{original} bytes: only scalar fields kept"
    return scalars


def _shrink(value: Any, items: int, chars: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= chars else f"{value[:chars]}...(+{len(value) - chars} characters)"
    if isinstance(value, dict):
        return {key: _shrink(item, items, chars) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        kept = [_shrink(item, items, chars) for item in value[:items]]
        return kept + ([f"...and {len(value) - items} more"] if len(value) > items else [])
    return value


def _size(event: MutableMapping[str, Any]) -> int:
    return len(json.dumps(event, default=str))


def console_summary(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A person's view of an event: the key figures of the long ones (CONSOLE_KEYS), nothing empty, the
    time to the millisecond. The decision's warnings are listed by code."""
    keep = CONSOLE_KEYS.get(str(event.get("event")))
    fixed = ("event", "level", "timestamp", "exc_info")
    shown = {
        key: value
        for key, value in event.items()
        if key in fixed or ((keep is None or key in keep) and key not in CONSOLE_DROPPED and not _empty(value))
    }
    for key, value in shown.items():
        if isinstance(value, (tuple, list)) and all(isinstance(item, (str, int, float)) for item in value):
            shown[key] = ",".join(str(item) for item in value)  # target=app,worker, not ('app', 'worker')
    if event.get("event") == "decision" and event.get("warnings"):
        shown["warnings"] = ",".join(str(w.get("code")) for w in event["warnings"] if isinstance(w, dict))
    stamp = shown.get("timestamp")
    if isinstance(stamp, str) and len(stamp) > 23 and stamp.endswith("Z"):
        shown["timestamp"] = stamp[:23] + "Z"  # 2026-12-07T20:47:19.721586Z -> ...19.721Z
    return shown


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, tuple, list, dict)) and not value)


def _console_safe(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return {key: one_line(value) if isinstance(value, str) else value for key, value in event.items()}
