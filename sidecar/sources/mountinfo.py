"""Parsers for `/proc/self/mountinfo` and `/proc/self/cgroup`.

Format references: proc(5) ("/proc/pid/mountinfo", also proc_pid_mountinfo(5)) and cgroups(7)
("/proc/pid/cgroup"). Both parsers are pure functions of the file's text; `where` only names the
file in error messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sidecar.errors import SourceError
from sidecar.text import shown
from sidecar.units import decimal

T = TypeVar("T")

# proc(5), /proc/pid/mountinfo, one mount per line:
#
#   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
#   (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)   (10)         (11)
#
#   (1) mount ID  (2) parent ID  (3) major:minor  (4) root: the directory of the filesystem that is the
#   root of this mount  (5) mount point  (6) per-mount options  (7) zero or more optional fields
#   "tag[:value]"  (8) separator "-"  (9) filesystem type  (10) mount source  (11) per-superblock options
#
# Fields (4), (5) and (10) escape space, tab, newline and backslash as octal (`\040`), so the first
# " - " is always the separator. The super options are not always escaped (WSL's 9p prints
# `path=C:\Program Files\...` verbatim, automemlimit#28), so the part after the separator is split
# at most twice.
_MI_MOUNT_ID = 0
_MI_PARENT_ID = 1
_MI_ROOT = 3
_MI_MOUNT_POINT = 4
_MI_MIN_FIELDS_BEFORE_SEPARATOR = 6  # (1)-(6); any number of optional fields (7) follow (automemlimit#26)
_MI_SEPARATOR = " - "
_MI_FS_TYPE = 0  # counted from just after the separator
_MI_SOURCE = 1
_MI_SUPER_OPTIONS = 2
_MI_FIELDS_AFTER_SEPARATOR = 3

# cgroups(7), /proc/pid/cgroup, one hierarchy per line: "hierarchy-ID:controller-list:cgroup-path".
# The path may itself contain colons (systemd cgroup driver: `...slice:cri-containerd:<id>`,
# automaxprocs#31), so a line is split at most twice.
_CG_FIELD_COUNT = 3

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True, slots=True)
class Mount:
    """One line of mountinfo; paths and source have their octal escapes decoded."""

    mount_id: int
    parent_id: int
    root: str
    mount_point: str
    fs_type: str
    source: str
    super_options: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CgroupLine:
    """One line of /proc/self/cgroup; `controllers` is empty for the cgroup v2 line (`0::/path`)."""

    hierarchy_id: int
    controllers: tuple[str, ...]
    path: str


def _parse_lines(text: str, where: str, parse: Callable[[str, str], T], skipped: list[str] | None) -> list[T]:
    """`parse` of every non-blank line; a malformed one raises, or with `skipped` is recorded there."""
    parsed = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                parsed.append(parse(line, f"{where} line {number}"))
            except SourceError as exc:
                if skipped is None:
                    raise
                skipped.append(str(exc))
    return parsed


def parse_mountinfo(
    text: str, *, where: str = "/proc/self/mountinfo", skipped: list[str] | None = None
) -> tuple[Mount, ...]:
    """Every mount in mountinfo `text`; SourceError naming `where` and quoting a malformed line.

    With `skipped`, a malformed line is recorded there and passed over instead (the other mounts
    still count); a file without a single good line is an error either way.
    """
    mounts = _parse_lines(text, where, _parse_mount_line, skipped)
    if not mounts:
        # Every process sees at least its root mount, so an empty file is not "no mounts".
        raise SourceError(f"{where}: {shown(text, 120)}: expected at least one mount line (proc(5))")
    return tuple(mounts)


def _parse_mount_line(line: str, where: str) -> Mount:
    before, separator, after = line.partition(_MI_SEPARATOR)
    if not separator:
        raise SourceError(
            f"{where}: {shown(line, 120)}: expected ' - ' between the optional fields and the filesystem type"
        )
    fields = before.split(" ")
    if len(fields) < _MI_MIN_FIELDS_BEFORE_SEPARATOR:
        raise SourceError(
            f"{where}: {shown(line, 120)}: expected at least {_MI_MIN_FIELDS_BEFORE_SEPARATOR} fields before ' - ', "
            f"found {len(fields)}"
        )
    # A single space separates fields, so an empty mount source (`- tmpfs  rw`) stays a field.
    tail = after.split(" ", _MI_FIELDS_AFTER_SEPARATOR - 1)
    if len(tail) < _MI_FIELDS_AFTER_SEPARATOR:
        raise SourceError(
            f"{where}: {shown(line, 120)}: expected filesystem type, source and super options after ' - ', "
            f"found {len(tail)} field{'s' if len(tail) != 1 else ''}"
        )
    mount_id, parent_id = decimal(fields[_MI_MOUNT_ID]), decimal(fields[_MI_PARENT_ID])
    if mount_id is None or parent_id is None:
        raise SourceError(f"{where}: {shown(line, 120)}: expected numeric mount and parent IDs")
    return Mount(
        mount_id=mount_id,
        parent_id=parent_id,
        root=_unescape(fields[_MI_ROOT]),
        mount_point=_unescape(fields[_MI_MOUNT_POINT]),
        fs_type=tail[_MI_FS_TYPE],
        source=_unescape(tail[_MI_SOURCE]),
        # Split before decoding: an escaped comma (`\054`) inside a value is not a separator.
        super_options=tuple(_unescape(option) for option in tail[_MI_SUPER_OPTIONS].split(",")),
    )


def parse_proc_cgroup(
    text: str, *, where: str = "/proc/self/cgroup", skipped: list[str] | None = None
) -> tuple[CgroupLine, ...]:
    """Every hierarchy line in /proc/self/cgroup `text`; SourceError naming `where` on a malformed line
    (with `skipped`: recorded there and passed over, as in `parse_mountinfo`)."""
    lines = _parse_lines(text, where, _parse_cgroup_line, skipped)
    if not lines:
        # A kernel with cgroups always lists at least the v2 line `0::/...`.
        raise SourceError(
            f"{where}: {shown(text, 120)}: expected at least one 'hierarchy-ID:controller-list:cgroup-path' line"
        )
    return tuple(lines)


def _parse_cgroup_line(line: str, where: str) -> CgroupLine:
    fields = line.split(":", _CG_FIELD_COUNT - 1)
    expected = "expected 'hierarchy-ID:controller-list:cgroup-path' (cgroups(7))"
    if len(fields) != _CG_FIELD_COUNT or not fields[2].startswith("/"):
        raise SourceError(f"{where}: {shown(line, 120)}: {expected}")
    hierarchy, controllers, path = fields
    hierarchy_id = decimal(hierarchy)
    if hierarchy_id is None:
        raise SourceError(f"{where}: {shown(line, 120)}: {expected}")
    return CgroupLine(
        hierarchy_id=hierarchy_id,
        # `name=systemd` is a named hierarchy with no controller; it is kept as written.
        controllers=tuple(controllers.split(",")) if controllers else (),
        path=path,
    )


def _unescape(field: str) -> str:
    """Decode the kernel's octal escapes (`\\040` space, `\\011` tab, `\\012` newline, `\\134` backslash)."""
    return _OCTAL_ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), field)
