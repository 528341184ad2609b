"""How the sidecar quotes input and errors in anything a user reads: one line, bounded, never Python's
`None`.

A message quotes the input it complains about (`repr`, so whitespace and odd characters show) but does
not carry it: every quote is cut to a limit. An exception becomes its first line.
"""

from __future__ import annotations

from typing import Any

from sidecar.units import MIB

QUOTE_LIMIT = 80
LINE_LIMIT = 300


def shown(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """`repr(value)`, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def first_line(exc: BaseException | str, limit: int = LINE_LIMIT) -> str:
    """The first non-empty line of an exception's message (or of a text), cut to `limit` characters."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0][:limit] if lines else ""


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`1 isolate`, `2 isolates`."""
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


def size_text(value_bytes: int | None, *, none: str = "unlimited") -> str:
    """`512 MiB`, `1.5 MiB` for a figure that is not whole MiB, or `none` for a missing one."""
    if value_bytes is None:
        return none
    if value_bytes % MIB == 0:
        return f"{value_bytes // MIB} MiB"
    return f"{value_bytes / MIB:.1f} MiB"


def aws_error(exc: BaseException) -> str:
    """One line for a botocore error: `Code: message` for an API error, else the exception's type and first line."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        error = response["Error"]
        return f"{error.get('Code', 'Error')}: {first_line(str(error.get('Message') or ''))}"
    return f"{type(exc).__name__}: {first_line(exc)}"
