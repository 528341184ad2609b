"""NODE_OPTIONS as Node reads it, and the heap flags an app may already pin there.

Node splits NODE_OPTIONS on spaces; double quotes group, and inside them a backslash escapes
the next character (nodejs/node `src/node_options.cc`, `ParseNodeOptionsEnvVar`). V8 accepts
`-` and `_` in flag names alike (`--max_old_space_size`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_FLAG = re.compile(r"--(max[-_]old[-_]space[-_]size(?:[-_]percentage)?|max[-_]semi[-_]space[-_]size)(?:=(.*))?")


@dataclass(frozen=True, slots=True)
class HeapPins:
    """Heap flags the app set itself; None where it set none."""

    old_space_mib: int | None = None
    old_space_percent: float | None = None
    semi_space_mib: int | None = None
    text: str = ""  # the flags as written, for the log

    @property
    def pins_old_space(self) -> bool:
        return self.old_space_mib is not None or self.old_space_percent is not None


def split_node_options(value: str) -> list[str]:
    """Split NODE_OPTIONS into arguments the way Node does."""
    args: list[str] = []
    current: list[str] = []
    in_quotes = False
    started = False
    index = 0
    while index < len(value):
        char = value[index]
        if in_quotes and char == "\\" and index + 1 < len(value):
            current.append(value[index + 1])
            index += 2
            continue
        if char == '"':
            in_quotes = not in_quotes  # a quote starts no argument: `""` alone adds none, as in Node
        elif char == " " and not in_quotes:
            if started:
                args.append("".join(current))
            current, started = [], False
        else:
            current.append(char)
            started = True
        index += 1
    if started:
        args.append("".join(current))
    return args


def find_heap_pins(node_options: str | None) -> HeapPins:
    """The heap flags in `node_options` (of repeated flags the last wins, as in V8)."""
    if not node_options:
        return HeapPins()
    old = percent = semi = None
    found: list[str] = []
    args = split_node_options(node_options)
    for index, arg in enumerate(args):
        match = _FLAG.fullmatch(arg)
        if not match:
            continue
        value = match.group(2)
        if value is None and index + 1 < len(args):
            value = args[index + 1]  # `--max-old-space-size 512` is accepted by V8 too
        number = _number(value)
        if number is None:
            continue
        name = match.group(1).replace("_", "-")
        if name == "max-old-space-size-percentage" and number > 100:
            continue  # Node refuses to start with it (accepted: 0 < N <= 100), so it pins nothing
        found.append(f"--{name}={value}")
        if name == "max-old-space-size":
            old = int(number)
        elif name == "max-old-space-size-percentage":
            percent = number
        else:
            semi = max(1, int(number))
    if percent is not None:
        old = None  # the percentage wins over --max-old-space-size in any order (nodejs/node#59082)
    return HeapPins(old, percent, semi, " ".join(found))


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if 0 < number < math.inf else None  # int() of inf raises OverflowError
