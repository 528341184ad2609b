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

import enum
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sidecar.outputs.atomic import write_atomically

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
    text = re.sub(r"(?<=[A-Za-z])'(?=[A-Za-z])", "", text)  # `Node's` reads as `Nodes`, not `Node s`
    return _COMMENT_CHARS.sub(" ", text.replace(" = ", " is ").replace(": ", ", "))


def write_env_file(path: Path, text: str) -> None:
    """Write the env file atomically (ASCII: `render_env_file` writes nothing else); see `write_atomically`."""
    write_atomically(path, text, encoding="ascii")


# How a Node container reads the file. `node --env-file` reads the sidecar's file from Node 20.20 and 21.7
# (tests/test_envfile.py runs every line); before that its dotenv parser misreads the sh-only lines.
ENV_FILE_MIN_VERSION = {20: 20, 21: 7}
_SOURCED = re.compile(r"(?:^|[\s;&|(])(?:\.|source)\s+(['\"]?)([^\s;&|'\"]+)\1")
_ENV_FILE_FLAG = re.compile(r"^--env-file(?:-if-exists)?=(.+)$")


class Reads(enum.Enum):
    SH = "sh"  # `. FILE && exec node ...`
    ENV_FILE = "env-file"  # `node --env-file=FILE ...`


@dataclass(frozen=True, slots=True)
class Reading:
    """How an argv reads env files: by sourcing them in sh, or with `node --env-file` (mode None: neither)."""

    mode: Reads | None
    paths: tuple[str, ...]

    def loses_flags_with(self, node_options: str | None) -> bool:
        """With `--env-file`, Node ignores the file's NODE_OPTIONS when the environment already has one."""
        return self.mode is Reads.ENV_FILE and node_options is not None


def how_node_reads(argv: Sequence[str]) -> Reading:
    """The files an entryPoint + command sources (sh) or passes to `node --env-file`."""
    sourced: list[str] = []
    for part in argv:
        sourced += [match.group(2) for match in _SOURCED.finditer(part)]
    if sourced:
        return Reading(Reads.SH, tuple(sourced))
    flagged: list[str] = []
    for index, arg in enumerate(argv):
        match = _ENV_FILE_FLAG.match(arg)
        if match:
            flagged.append(match.group(1))
        elif arg in ("--env-file", "--env-file-if-exists") and index + 1 < len(argv):
            flagged.append(argv[index + 1])
    return Reading(Reads.ENV_FILE, tuple(flagged)) if flagged else Reading(None, ())


def env_file_too_old(version: tuple[int, int | None] | None) -> bool:
    """Whether a Node version is known to misread the sidecar's file with `node --env-file`."""
    if version is None:
        return False
    major, minor = version
    needed = ENV_FILE_MIN_VERSION.get(major)
    return major < 20 or (needed is not None and minor is not None and minor < needed)


def is_sidecar_file(path: str, directory: str) -> bool:
    """A file the sidecar writes in `directory` (`node-heap.env`, `node-heap.<container>.env`)."""
    return (
        posixpath.dirname(path) == directory
        and re.fullmatch(r"node-heap(\.[A-Za-z0-9_-]+)?\.env", posixpath.basename(path)) is not None
    )
