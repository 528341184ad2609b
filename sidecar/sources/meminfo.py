"""Host memory from `/proc/meminfo` (`MemTotal`).

Format reference: proc(5), "/proc/meminfo": lines `Name:   value kB`, where "kB" means KiB
(Documentation/filesystems/proc.rst). Inside a container this is the host's (or VM's) memory, not
the container's limit; it serves as the last resort and as the "at or above host RAM means no
limit" bound for cgroup values (JDK-8292083).
"""

from __future__ import annotations

import re
from pathlib import Path

from sidecar.errors import SourceError

_MEM_TOTAL = re.compile(r"MemTotal:\s+(\d+) kB")
_KIB = 1024


def parse_meminfo(text: str, *, where: str = "/proc/meminfo") -> int:
    """MemTotal in bytes from /proc/meminfo `text`; SourceError when the line is missing or malformed."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("MemTotal:"):
            continue
        match = _MEM_TOTAL.fullmatch(line.rstrip())
        if match is None or int(match.group(1)) == 0:
            raise SourceError(f"{where} line {number}: {line!r}: expected 'MemTotal: <positive integer> kB'")
        return int(match.group(1)) * _KIB
    raise SourceError(f"{where}: no MemTotal line; expected 'MemTotal: <positive integer> kB'")


def read_mem_total(proc_root: Path = Path("/proc")) -> int:
    """MemTotal in bytes from `<proc_root>/meminfo`."""
    path = proc_root / "meminfo"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_meminfo(text, where=str(path))
