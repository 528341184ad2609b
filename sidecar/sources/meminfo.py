"""Host memory from `/proc/meminfo` (`MemTotal`).

Format reference: proc(5), "/proc/meminfo": lines `Name:   value kB`, where "kB" means KiB
(Documentation/filesystems/proc.rst). Inside a container this is the host's (or VM's) memory, not
the container's limit: on Fargate it is the microVM's (a 4096 MiB task was seen with 7806 MiB). So
it never sizes a heap; it bounds what ECS and cgroups say (a machine cannot give more than it has)
and sets the "at or above host RAM means no limit" rule for cgroup values (JDK-8292083).
"""

from __future__ import annotations

import re
from pathlib import Path

from sidecar.errors import SourceError
from sidecar.text import shown
from sidecar.units import MAX_DIGITS, PLAUSIBLE_MAX_BYTES

_MEM_TOTAL = re.compile(rf"MemTotal:\s+([0-9]{{1,{MAX_DIGITS}}}) kB")
_KIB = 1024
_MAX_BYTES = 1 << 16  # /proc/meminfo is about 1.5 KiB


def parse_meminfo(text: str, *, where: str = "/proc/meminfo") -> int:
    """MemTotal in bytes from /proc/meminfo `text`; SourceError when the line is missing, malformed or
    implausible."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("MemTotal:"):
            continue
        match = _MEM_TOTAL.fullmatch(line.rstrip())
        value = int(match.group(1)) * _KIB if match else 0
        if value == 0:
            raise SourceError(f"{where} line {number}: {shown(line)}: expected 'MemTotal: <positive integer> kB'")
        if value > PLAUSIBLE_MAX_BYTES:
            raise SourceError(
                f"{where} line {number}: {shown(line)}: implausible, expected at most {PLAUSIBLE_MAX_BYTES // _KIB} kB"
            )
        return value
    raise SourceError(f"{where}: no MemTotal line; expected 'MemTotal: <positive integer> kB'")


def read_mem_total(proc_root: Path = Path("/proc")) -> int:
    """MemTotal in bytes from `<proc_root>/meminfo` (bytes that are not ASCII are left to fail the match)."""
    path = proc_root / "meminfo"
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_BYTES)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_meminfo(data.decode("ascii", errors="replace"), where=str(path))
