"""Structured logging to stdout: one JSON object per line, which the awslogs driver ships as is.

Event names are an interface for CloudWatch Logs Insights queries (see the README): stable
snake_case, noun then past tense. Configured once, by the CLI.

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


def one_line(text: str) -> str:
    """`text` with every control character escaped: a message a reader sees as one line."""
    return _CONTROL.sub(lambda match: match.group(0).encode("unicode_escape").decode("ascii"), text)


def configure(stream: TextIO, fmt: LogFormat = LogFormat.JSON) -> None:
    """Send every event to `stream`, as JSON lines or as readable console lines."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt is LogFormat.JSON
        else structlog.dev.ConsoleRenderer(colors=False, sort_keys=False)
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(show_locals=False)),
        bound_event,
    ]
    if fmt is LogFormat.CONSOLE:
        processors.append(_console_safe)
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


def _console_safe(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return {key: one_line(value) if isinstance(value, str) else value for key, value in event.items()}
