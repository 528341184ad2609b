"""The init container's own memory cgroup, and the lowest limit visible above it.

Format references: kernel Documentation/admin-guide/cgroup-v1/memory.rst (`memory.limit_in_bytes`,
`memory.stat` with `hierarchical_memory_limit`) and Documentation/admin-guide/cgroup-v2.rst
(`cgroup.controllers`, `memory.max`, `memory.high`); proc(5) and cgroups(7) for the two /proc files
(see `sidecar.sources.mountinfo`).

The init container's own limit is never the Node container's limit (it is another container), but a
limit on a parent cgroup, such as the ECS task cgroup, bounds every container of the task. So this
module reports both: `own_limit_bytes` and `ceiling_bytes`, the smallest limit strictly above the own
cgroup. Every number keeps the path of the file it came from.

One unreadable or garbage file costs only what it would have said: the other levels are still read
and their limits kept, and the file is named in `problems`. (A missed level can only hide a limit,
never invent one, so the decision says which levels were not read.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sidecar.errors import SourceError
from sidecar.sources.mountinfo import CgroupLine, Mount, parse_mountinfo, parse_proc_cgroup
from sidecar.text import shown
from sidecar.units import PLAUSIBLE_MAX_BYTES, decimal

# v1 reads back "unlimited" as PAGE_COUNTER_MAX * PAGE_SIZE, i.e. LONG_MAX rounded down to the page
# size: 9223372036854771712 on 4 KiB pages, ...759424 on 16 KiB, ...710272 on 64 KiB (arm64). The
# smallest of them covers all three without knowing the page size the files were written with.
V1_UNLIMITED_MIN_BYTES = 9223372036854710272
CGROUP_MOUNT_PREFIX = PurePosixPath("/sys/fs/cgroup")
V2_NO_LIMIT = "max"
V2_LIMIT_FILES = ("memory.max", "memory.high")  # on a tie, the hard limit is named

_LinePredicate = Callable[[CgroupLine], bool]


@dataclass(frozen=True, slots=True)
class CgroupMemory:
    """What the memory cgroup of this process says, with the file behind each number."""

    version: int  # 1 or 2
    cgroup_path: str  # from /proc/self/cgroup
    directory: Path  # directory actually read
    own_limit_bytes: int | None  # limit of this process's own cgroup; None = unlimited
    own_where: str  # file (path) that gave it
    ceiling_bytes: int | None  # smallest limit strictly ABOVE the own cgroup that is visible; None = none
    ceiling_where: str  # file that set it, or why nothing is visible (one line)
    notes: tuple[str, ...]  # things worth logging (e.g. "path outside the mount root")
    problems: tuple[str, ...] = ()  # files that could not be read or parsed; what they would say is unknown


def parse_v1_limit(text: str, *, where: str) -> int:
    """A v1 byte count such as `memory.limit_in_bytes`; unlimited is a (huge) number, not a word."""
    value = decimal(text.strip())
    if value is None:
        raise SourceError(f"{where}: {shown(text)}: expected a byte count")
    return value


def parse_v2_limit(text: str, *, where: str) -> int | None:
    """A v2 `memory.max` or `memory.high`: a byte count, or None for `max`."""
    if text.strip() == V2_NO_LIMIT:
        return None
    value = decimal(text.strip())
    if value is None:
        raise SourceError(f"{where}: {shown(text)}: expected a byte count or 'max'")
    return value


def parse_memory_stat(text: str, *, where: str, skipped: list[str] | None = None) -> dict[str, int]:
    """The `<key> <integer>` lines of a v1 `memory.stat`.

    A malformed line is an error, or, when `skipped` is given, recorded there and passed over.
    """
    stat = {}
    for number, line in enumerate(text.splitlines(), start=1):
        key, _, raw = line.partition(" ")
        value = decimal(raw)
        if not key or value is None:
            problem = f"{where} line {number}: {shown(line)}: expected '<key> <integer>'"
            if skipped is None:
                raise SourceError(problem)
            skipped.append(problem)
            continue
        stat[key] = value
    return stat


def read_cgroup_memory(
    *,
    proc_root: Path = Path("/proc"),
    cgroup_root: Path = Path("/sys/fs/cgroup"),
    mem_total_bytes: int | None,
) -> CgroupMemory | None:
    """The memory cgroup of this process, or None when no memory controller is mounted.

    Mount points under /sys/fs/cgroup are read under `cgroup_root`. Values at or above
    `mem_total_bytes` count as no limit. Raises SourceError only when this process's cgroup cannot
    be located at all; a malformed line or an unreadable limit file is named in `problems`.
    """
    problems: list[str] = []
    mountinfo_file = proc_root / "self" / "mountinfo"
    cgroup_file = proc_root / "self" / "cgroup"
    mounts = parse_mountinfo(_read(mountinfo_file), where=str(mountinfo_file), skipped=problems)
    lines = parse_proc_cgroup(_read(cgroup_file), where=str(cgroup_file), skipped=problems)

    # In hybrid layouts the memory controller lives in v1, and the v2 mount (often at
    # /sys/fs/cgroup/unified) has no memory controller, so v1 is looked at first.
    v1 = _preferred([m for m in mounts if m.fs_type == "cgroup" and "memory" in m.super_options])
    if v1 is not None:
        line = _line_for(lines, lambda li: "memory" in li.controllers, "memory", cgroup_file, v1)
        walk = _Walk.locate(v1, line.path, cgroup_root)
        return _read_v1(walk, mem_total_bytes, problems)

    for mount in _by_preference([m for m in mounts if m.fs_type == "cgroup2"]):
        controllers_file = _host_path(mount.mount_point, cgroup_root) / "cgroup.controllers"
        try:
            controllers = _read(controllers_file).split()
        except SourceError as exc:
            problems.append(str(exc))
            continue
        if "memory" in controllers:
            line = _line_for(lines, lambda li: li.hierarchy_id == 0, "v2 ('0::')", cgroup_file, mount)
            walk = _Walk.locate(mount, line.path, cgroup_root)
            return _read_v2(walk, mem_total_bytes, problems)
    if problems:
        raise SourceError("no memory controller found; " + "; ".join(problems[:3]))
    return None


@dataclass(frozen=True, slots=True)
class _Walk:
    """Where this process's cgroup is on disk, and which ancestor directories can be seen."""

    mount: Mount
    cgroup_path: str
    own_dir: Path
    mount_dir: Path
    ancestors: tuple[Path, ...]  # strict ancestors of own_dir, nearest first, up to mount_dir inclusive
    hidden_above: bool  # cgroups above the mount root exist but are not mounted here
    notes: tuple[str, ...]

    @classmethod
    def locate(cls, mount: Mount, cgroup_path: str, cgroup_root: Path) -> _Walk:
        mount_dir = _host_path(mount.mount_point, cgroup_root)
        relative = _relative_to_root(cgroup_path, mount.root)
        notes = []
        if relative is None:
            # Cgroup namespaces or a process moved after the mount: the path cannot be mapped, and
            # the mount point is the best guess (JDK-8343191 does the same).
            notes.append(
                f"cgroup path {cgroup_path!r} is outside the mount root {mount.root!r} of "
                f"{mount.mount_point}: read {mount_dir} instead (JDK-8343191)"
            )
            parts: tuple[str, ...] = ()
        else:
            parts = PurePosixPath(relative).parts
        own_dir = mount_dir.joinpath(*parts)
        if not _is_dir(own_dir):
            raise SourceError(
                f"{own_dir}: not a directory; expected the cgroup of {cgroup_path!r} under mount root "
                f"{mount.root!r} at {mount.mount_point}"
            )
        ancestors = tuple(mount_dir.joinpath(*parts[:depth]) for depth in range(len(parts) - 1, -1, -1))
        return cls(
            mount=mount,
            cgroup_path=cgroup_path,
            own_dir=own_dir,
            mount_dir=mount_dir,
            ancestors=ancestors,
            hidden_above=mount.root != "/" or relative is None,
            notes=tuple(notes),
        )

    def nothing_above(self) -> str:
        """Why the ancestor walk found no limit, as the start of `ceiling_where`."""
        if self.ancestors:
            return f"no limit in the {len(self.ancestors)} ancestor dirs up to {self.mount_dir}"
        return f"no ancestor dir visible: own cgroup is the mount point {self.mount_dir}"


def _read_v1(walk: _Walk, mem_total_bytes: int | None, problems: list[str]) -> CgroupMemory:
    notes = list(walk.notes)
    own_file = walk.own_dir / "memory.limit_in_bytes"
    own = _v1_file(own_file, mem_total_bytes, notes, problems, required=True)

    ceiling: int | None = None
    ceiling_where = ""
    for directory in walk.ancestors:
        limit_file = directory / "memory.limit_in_bytes"
        value = _v1_file(limit_file, mem_total_bytes, notes, problems, required=False)
        if value is not None and (ceiling is None or value < ceiling):
            ceiling, ceiling_where = value, str(limit_file)

    # hierarchical_memory_limit = min(own, every ancestor), including those above the mount root that
    # are not mounted here. A missing file is recorded, never read as "no limit" (automemlimit#30).
    stat_file = walk.own_dir / "memory.stat"
    try:
        stat_text = _read_optional(stat_file)
    except SourceError as exc:
        problems.append(str(exc))
        stat_text = None
        unreadable = True
    else:
        unreadable = False
    stat = None if stat_text is None else parse_memory_stat(stat_text, where=str(stat_file), skipped=problems)
    raw = None if stat is None else stat.get("hierarchical_memory_limit")
    hierarchical: int | None = None
    if stat is None:
        if not unreadable:
            notes.append(f"{stat_file}: missing, so the hierarchical limit is unknown (not read as no limit)")
        why_not = f"{stat_file} {'unreadable' if unreadable else 'missing'}"
    elif raw is None:
        notes.append(f"{stat_file}: no readable hierarchical_memory_limit line, so the hierarchical limit is unknown")
        why_not = f"{stat_file} has no hierarchical_memory_limit"
    else:
        hierarchical = _as_limit(raw, f"{stat_file} hierarchical_memory_limit", mem_total_bytes, notes)
        if hierarchical is None:
            why_not = f"{stat_file} hierarchical_memory_limit sets no limit"
        elif own is not None and hierarchical >= own:
            why_not = f"{stat_file} hierarchical_memory_limit equals the own limit"
            if walk.hidden_above:
                why_not += ", so any limit above the mount root is hidden"
                notes.append(
                    f"{stat_file}: hierarchical_memory_limit {raw} equals the own limit, so any limit above "
                    f"the mount root {walk.mount.root!r} is hidden (only known to be at or above it)"
                )
        else:
            why_not = ""
            if ceiling is None or hierarchical < ceiling:
                ceiling, ceiling_where = hierarchical, str(stat_file)

    if ceiling is None:
        ceiling_where = "; ".join(part for part in (walk.nothing_above(), why_not) if part)
    return CgroupMemory(
        version=1,
        cgroup_path=walk.cgroup_path,
        directory=walk.own_dir,
        own_limit_bytes=own,
        own_where=str(own_file),
        ceiling_bytes=ceiling,
        ceiling_where=ceiling_where,
        notes=tuple(notes),
        problems=tuple(problems),
    )


def _v1_file(
    path: Path, mem_total_bytes: int | None, notes: list[str], problems: list[str], *, required: bool
) -> int | None:
    """A v1 limit file's limit; None for no limit, a missing file (noted) or an unreadable one (a problem)."""
    try:
        text = _read(path) if required else _read_optional(path)
        if text is None:
            notes.append(f"{path}: missing, so this ancestor's limit is unknown")
            return None
        return _v1_limit(path, text, mem_total_bytes, notes)
    except SourceError as exc:
        problems.append(str(exc))
        return None


def _read_v2(walk: _Walk, mem_total_bytes: int | None, problems: list[str]) -> CgroupMemory:
    notes = list(walk.notes)
    own, own_where = _min_v2(walk.own_dir, walk, mem_total_bytes, notes, problems)
    if own_where is None:
        own_where = str(walk.own_dir / V2_LIMIT_FILES[0])

    ceiling: int | None = None
    ceiling_where = ""
    for directory in walk.ancestors:
        value, where = _min_v2(directory, walk, mem_total_bytes, notes, problems)
        if value is not None and where is not None and (ceiling is None or value < ceiling):
            ceiling, ceiling_where = value, where
    if ceiling is None:
        ceiling_where = walk.nothing_above()
    return CgroupMemory(
        version=2,
        cgroup_path=walk.cgroup_path,
        directory=walk.own_dir,
        own_limit_bytes=own,
        own_where=own_where,
        ceiling_bytes=ceiling,
        ceiling_where=ceiling_where,
        notes=tuple(notes),
        problems=tuple(problems),
    )


def _min_v2(
    directory: Path, walk: _Walk, mem_total_bytes: int | None, notes: list[str], problems: list[str]
) -> tuple[int | None, str | None]:
    """The lower of `memory.max` and `memory.high` in `directory`, and the file that set it."""
    lowest: int | None = None
    lowest_where: str | None = None
    missing = []
    for name in V2_LIMIT_FILES:
        limit_file = directory / name
        try:
            text = _read_optional(limit_file)
            if text is None:
                missing.append(name)
                continue
            value = _as_limit(parse_v2_limit(text, where=str(limit_file)), str(limit_file), mem_total_bytes, notes)
        except SourceError as exc:
            problems.append(str(exc))
            continue
        if value is not None and (lowest is None or value < lowest):
            lowest, lowest_where = value, str(limit_file)
    # Only the root cgroup lacks these files by design; in any other cgroup it means the memory
    # controller is not enabled there. Either way there is no limit, but the own cgroup and any
    # cgroup below the mount point are worth a line in the log.
    if missing and (directory != walk.mount_dir or directory == walk.own_dir):
        notes.append(f"{directory}: no {' or '.join(missing)}, read as no limit")
    return lowest, lowest_where


def _v1_limit(path: Path, text: str, mem_total_bytes: int | None, notes: list[str]) -> int | None:
    return _as_limit(parse_v1_limit(text, where=str(path)), str(path), mem_total_bytes, notes)


def _as_limit(value: int | None, where: str, mem_total_bytes: int | None, notes: list[str]) -> int | None:
    """`value` as a limit, or None when it means "no limit": v2 `max`, the v1 sentinel, or >= MemTotal."""
    if value is None or value >= V1_UNLIMITED_MIN_BYTES:
        return None
    if value > PLAUSIBLE_MAX_BYTES:
        notes.append(f"{where}: {value} is above any machine's memory ({PLAUSIBLE_MAX_BYTES}), read as no limit")
        return None
    if mem_total_bytes is not None and value >= mem_total_bytes:
        # v1 hosts report limits above RAM that bind nothing (JDK-8292083).
        notes.append(f"{where}: {value} is at or above MemTotal {mem_total_bytes}, read as no limit")
        return None
    return value


def _relative_to_root(cgroup_path: str, mount_root: str) -> str | None:
    """`cgroup_path` relative to the mount's root, or None when it lies outside it."""
    path = PurePosixPath(cgroup_path)
    if ".." in path.parts:  # `0::/../sibling` after a move out of a cgroup namespace
        return None
    try:
        return str(path.relative_to(PurePosixPath(mount_root)))
    except ValueError:
        return None


def _host_path(mount_point: str, cgroup_root: Path) -> Path:
    """Where `mount_point` is read: under `cgroup_root` when it is under /sys/fs/cgroup, else as is."""
    point = PurePosixPath(mount_point)
    if point == CGROUP_MOUNT_PREFIX:
        return cgroup_root
    if CGROUP_MOUNT_PREFIX in point.parents:
        return cgroup_root / point.relative_to(CGROUP_MOUNT_PREFIX)
    return Path(mount_point)


def _by_preference(mounts: list[Mount]) -> list[Mount]:
    """Mounts under /sys/fs/cgroup first (the usual place), otherwise in mountinfo order."""
    return sorted(mounts, key=lambda m: not PurePosixPath(m.mount_point).is_relative_to(CGROUP_MOUNT_PREFIX))


def _preferred(mounts: list[Mount]) -> Mount | None:
    ordered = _by_preference(mounts)
    return ordered[0] if ordered else None


def _line_for(
    lines: tuple[CgroupLine, ...], wanted: _LinePredicate, label: str, cgroup_file: Path, mount: Mount
) -> CgroupLine:
    for line in lines:
        if wanted(line):
            return line
    raise SourceError(
        f"{cgroup_file}: no {label} line, but mountinfo has a {mount.fs_type} mount at {mount.mount_point}"
    )


# Limit and stat files are a few KiB; mountinfo grows with the mounts (a few hundred lines).
MAX_FILE_BYTES = 1 << 20


def _read(path: Path) -> str:
    """The text of `path` (at most MAX_FILE_BYTES), or SourceError naming it."""
    text = _read_optional(path)
    if text is None:
        raise SourceError(f"{path}: cannot read: No such file or directory")
    return text


def _read_optional(path: Path) -> str | None:
    """The text of `path`, or None when it does not exist (the caller decides what that means).

    Paths in mountinfo are bytes; only space, tab, newline and backslash are escaped, so a non-UTF-8
    byte must not stop the read (it is carried through as a surrogate and fails any number check).
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise SourceError(f"{path}: larger than {MAX_FILE_BYTES} bytes, not a cgroup or proc file")
    return data.decode("utf-8", errors="surrogateescape")


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # e.g. a name longer than NAME_MAX
        return False
