"""Files written whole or not at all: the env file, adopt's output, the image-config cache.

A temp file in the same directory, fsync, rename, fsync the directory: readers see the old file or
the new one, never part of one.
"""

from __future__ import annotations

import contextlib
import glob
import os
import stat
import tempfile
import time
from pathlib import Path

from sidecar.errors import OutputError
from sidecar.text import shown

# A writer takes milliseconds; a temp file this old was left by a run that was killed mid-write.
STALE_TEMP_S = 60.0


def check_writable(path: Path) -> None:
    """Raise OutputError (exit 6) unless `path` can be written: its directory exists and is writable, and
    `path` is not a directory. Checked before the sources are read, so a missing or read-only volume
    fails at once, and nothing is half-written."""
    directory = path.parent
    try:
        if not directory.is_dir():
            raise OutputError(f"{path}: its directory {shown(str(directory), 120)} does not exist (mount the volume)")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise OutputError(f"{path}: its directory {shown(str(directory), 120)} is not writable (read-only volume?)")
        if path.is_dir():
            raise OutputError(f"{path}: is a directory, expected a file path")
    except OSError as exc:  # e.g. a name longer than NAME_MAX
        raise OutputError(f"{path}: not a usable file path ({exc.strerror or exc})") from None


def write_atomically(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Write atomically: a temp file in the same directory, fsync, rename, fsync the directory.

    Readers see the old file or the new one, never part of one. Mode 0644 so a non-root Node user
    can read it. Only a regular file (or nothing, or a symlink, which is replaced itself) is
    replaced: as root, a rename would swap out a device node or a socket. Temp files left by killed
    runs are removed.
    """
    directory = path.parent
    _refuse_special(path)
    _remove_stale_temps(path)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"{path}: cannot create a temp file in {directory}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), 0o644)
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise OutputError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeEncodeError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise OutputError(f"{path}: {exc.reason} ({encoding} only)") from None
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # the rename is done; a directory we cannot open cannot be fsynced either
    try:
        os.fsync(dir_fd)
    except OSError:
        pass  # some filesystems do not support fsync on directories; the data itself is synced
    finally:
        os.close(dir_fd)


def _refuse_special(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"{path}: {exc.strerror or exc}") from None
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        kind = "a directory" if stat.S_ISDIR(mode) else "a device, socket or pipe"
        raise OutputError(f"{path}: is {kind}, expected a regular file (or nothing) there")


def _remove_stale_temps(path: Path) -> None:
    now = time.time()
    try:
        leftovers = list(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    except OSError:
        return
    for leftover in leftovers:
        with contextlib.suppress(OSError):  # another run may remove it first
            if now - leftover.lstat().st_mtime > STALE_TEMP_S:
                leftover.unlink()
