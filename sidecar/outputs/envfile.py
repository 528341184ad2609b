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

import re
from collections.abc import Sequence
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
    return _COMMENT_CHARS.sub(" ", text.replace(" = ", " is ").replace(": ", ", "))


def write_env_file(path: Path, text: str) -> None:
    """Write the env file atomically (ASCII: `render_env_file` writes nothing else); see `write_atomically`."""
    write_atomically(path, text, encoding="ascii")
