"""Structured logging to stdout: one JSON object per line, which the awslogs driver ships as is.

Event names are an interface for CloudWatch Logs Insights queries (see the README): stable
snake_case, noun then past tense. Configured once, by the CLI.
"""

from __future__ import annotations

import enum
import logging
from typing import Any, TextIO

import structlog


class LogFormat(enum.Enum):
    JSON = "json"
    CONSOLE = "console"


def configure(stream: TextIO, fmt: LogFormat = LogFormat.JSON) -> None:
    """Send every event to `stream`, as JSON lines or as readable console lines."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt is LogFormat.JSON
        else structlog.dev.ConsoleRenderer(colors=False, sort_keys=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def get_logger() -> Any:
    return structlog.get_logger("node-heap-sidecar")
