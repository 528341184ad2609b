"""The env file: one file that works both as a POSIX sh script and as a Node `--env-file`.

    . /shared/node-heap.env && exec node app.js           # sh, dash, busybox ash, bash
    node --env-file=/shared/node-heap.env app.js           # Node >= 20.20 / 21.7 (tested up to 26)

Node's dotenv parser differs between releases: 20.x joins a line without `=` to the next key,
21.x matches `KEY=`/`KEY: ` anywhere in a line, 22+ takes everything before the first `=` as the
key. So every line of the file is one they all read the same way:
- comments of plain words (`_comment` drops `=`, `:`, quotes and control characters);
- `KEY='value'` with a value of flag characters only;
- sh code only after `NODE_HEAP_SH=sh-only;` -- to Node an ordinary variable (its value is the
  code; nothing reads it), to sh a harmless assignment followed by the code, which unsets it.
The sh code appends each of our flags to the NODE_OPTIONS the container has at run time, unless
that flag is already there (the app's own choice is respected, with a note on stderr). The
Node-only NODE_OPTIONS line sits in an `if false` block, which sh skips; Node ignores the file's
NODE_OPTIONS when the container's environment already has one (see the README).
Nothing read from outside reaches the file except through `_comment`, and flags must match
`--name=<digits>`: no quoting can break and no shell syntax can be injected.
Tested on Node 20.20, 21.7, 22, 24 and 26 and on dash, bash and busybox sh (tests/test_envfile.py).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import stat
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from sidecar.errors import OutputError

_FLAG = re.compile(r"--(max-old-space-size|max-semi-space-size)=[0-9]{1,9}")
_COMMENT_CHARS = re.compile(r"[^A-Za-z0-9 ,.()/+_%<>*&;-]")  # no = : # quotes backslash or control
_SH = "NODE_HEAP_SH=sh-only; "


def render_env_file(flags: Sequence[str], comments: Sequence[str]) -> str:
    """The file's text for `flags` (ours, to add to NODE_OPTIONS), headed by `comments`."""
    for flag in flags:
        if not _FLAG.fullmatch(flag):
            raise ValueError(f"not a heap flag the env file can carry: {flag!r}")
    lines = [f"# {_comment(text)}".rstrip() for text in comments]
    joined = " ".join(flags)
    lines.append(f"NODE_HEAP_OPTIONS='{joined}'")
    if not flags:
        lines.append("export NODE_HEAP_OPTIONS")
        return "\n".join(lines) + "\n"
    lines += [_SH + "if false; then", f"NODE_OPTIONS='{joined}'", _SH + "fi"]
    for flag in flags:
        name, _, value = flag[2:].partition("=")
        spelled = name.replace("-", "_")
        note = ""
        if name == "max-old-space-size":
            note = f'echo "node-heap-sidecar keeps the heap size already in NODE_OPTIONS (planned {value} MiB)" >&2 '
        lines.append(
            _SH + f'case " ${{NODE_OPTIONS-}} " in *" --{name}"*|*" --{spelled}"*) {note};; '
            f'*) NODE_OPTIONS="${{NODE_OPTIONS:+$NODE_OPTIONS }}{flag}" ;; esac'
        )
    lines.append(_SH + "export NODE_HEAP_OPTIONS NODE_OPTIONS; unset NODE_HEAP_SH")
    return "\n".join(lines) + "\n"


def _comment(text: str) -> str:
    """Plain words on one line: any character a dotenv parser might read as syntax is replaced."""
    return _COMMENT_CHARS.sub(" ", text.replace(" = ", " is ").replace(": ", ", "))


# A writer takes milliseconds; a temp file this old was left by a run that was killed mid-write.
STALE_TEMP_S = 60.0


def write_env_file(path: Path, text: str) -> None:
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
        with os.fdopen(fd, "w", encoding="ascii", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), 0o644)
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise OutputError(f"{path}: {exc.strerror or exc}") from None
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
