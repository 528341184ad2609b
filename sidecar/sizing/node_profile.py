"""What the heap model must know about each Node.js line, with the evidence for every constant.

Measured with `bench/calibrate.py` (results in bench/results/calibration.json and docs/calibration.md)
on real Node in a cgroup v1 memory cgroup; the rest is cited from nodejs/node and V8.

- `binary_resident_mib`: the node binary's pages resident after start-up (RssFile of a process
  that loaded http, zlib and crypto). File-backed, so the kernel can evict them, but a container
  that cannot keep them resident thrashes (hangs) instead of running: budgeted once per container,
  since every Node process maps the same file.
- `isolate_base_mib`: anonymous memory of one isolate beyond its heap limit at the point V8 gives
  up (intercept of the fitted peak usage of a heap leak), rounded up with room for a worker's
  4 MiB stack (nodejs/node `resourceLimits.stackSizeMb` default).
- `heap_overhead_ratio`: committed memory per MiB of old space beyond the limit itself (V8 checks
  the size of live objects; pages, marking bitmaps and remembered sets come on top): fitted slope
  minus 1, rounded up.
- `default_max_semi_space_mib`: V8's own semi-space cap when no flag is given; the young generation
  is 3 x semi-space (Node `doc/api/cli.md`, `--max-semi-space-size`). Only used when the flag cannot
  be set (Node < 19.2 rejects it in NODE_OPTIONS, exit 9).
- `min_start_old_mib`: the smallest `--max-old-space-size` worth writing: below the smallest old
  space with which Node starts at all (measured: `bench.calibrate` `smallest_start`; below it Node
  aborts, traps or segfaults during start-up), plus 4 MiB, rounded up to an even number. A plan
  below it writes no heap flag: a file Node cannot start with is worse than none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NodeProfile:
    label: str
    major: int | None
    semi_space_flag_ok: bool  # --max-semi-space-size allowed in NODE_OPTIONS (Node >= 19.2, PR #44436)
    binary_resident_mib: int
    isolate_base_mib: int
    heap_overhead_ratio: float
    default_max_semi_space_mib: int
    evidence: str
    min_start_old_mib: int = 12


# bench/results/calibration.json (docs/calibration.md): RssFile 35.2 / 39.0 / 37.1 / 39.7 MiB;
# fitted leak peak = 9.9 / 9.4 / 9.0 / 9.6 MiB + 1.040 / 1.039 / 1.055 / 1.055 x old space.
# Figures are rounded up: binary to the next 2 MiB, base to 12 MiB, the ratio to the next whole
# percent plus one point.
# Smallest old space Node starts with (semi-space 1 MiB): 4 / 7 / 8 / 6 MiB.
_MEASURED = {
    20: NodeProfile("Node 20", 20, True, 36, 12, 0.05, 16, "measured on 20.20.2", min_start_old_mib=8),
    22: NodeProfile("Node 22", 22, True, 40, 12, 0.05, 16, "measured on 22.23.3", min_start_old_mib=12),
    24: NodeProfile("Node 24", 24, True, 38, 12, 0.07, 64, "measured on 24.21.0", min_start_old_mib=12),
    26: NodeProfile("Node 26", 26, True, 40, 12, 0.07, 32, "measured on 26.10.0", min_start_old_mib=10),
}
# For a line we have not measured, or an unknown version: the largest of every measured figure.
CONSERVATIVE = NodeProfile(
    "Node (version unknown)",
    None,
    True,
    max(p.binary_resident_mib for p in _MEASURED.values()),
    max(p.isolate_base_mib for p in _MEASURED.values()),
    max(p.heap_overhead_ratio for p in _MEASURED.values()),
    max(p.default_max_semi_space_mib for p in _MEASURED.values()),
    "largest measured figures of Node 20-26; assumes >= 19.2 (every supported line)",
    min_start_old_mib=max(p.min_start_old_mib for p in _MEASURED.values()),
)

_IMAGE_TAG = re.compile(r"^v?(\d{1,3})(?:\.(\d{1,4}))?")
_DISTROLESS = re.compile(r"^nodejs(\d{1,3})(?:-|$)")


def parse_version(text: str) -> tuple[int, int | None]:
    """`22`, `22.21`, `v22.21.0` -> (major, minor or None)."""
    match = _IMAGE_TAG.match(text.strip())
    if not match:
        raise ValueError(f"not a Node.js version: {text!r}")
    return int(match.group(1)), int(match.group(2)) if match.group(2) else None


def version_from_image(image: str | None) -> tuple[int, int | None] | None:
    """The Node version an image reference names, if it names one.

    `node:22-slim`, `public.ecr.aws/docker/library/node:24.6-alpine`, `cimg/node:20.11`,
    `gcr.io/distroless/nodejs22-debian12`; `node:lts`, `node@sha256:...` and app images name none.
    """
    if not image:
        return None
    reference = image.split("@", 1)[0]
    last = reference.rsplit("/", 1)[-1]
    name, _, tag = last.partition(":")
    distroless = _DISTROLESS.match(name)
    if distroless:
        return int(distroless.group(1)), None
    if name != "node" or not tag:
        return None
    match = _IMAGE_TAG.match(tag)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)) if match.group(2) else None


def profile_for(version: tuple[int, int | None] | None) -> NodeProfile:
    """The profile for a (major, minor) version; CONSERVATIVE when unknown or unmeasured."""
    if version is None:
        return CONSERVATIVE
    major, minor = version
    flag_ok = major >= 20 or (major == 19 and minor is not None and minor >= 2)
    base = _MEASURED.get(major)
    if base is not None:
        return base
    older = major < min(_MEASURED)
    return NodeProfile(
        f"Node {major}",
        major,
        flag_ok,
        CONSERVATIVE.binary_resident_mib,
        CONSERVATIVE.isolate_base_mib,
        CONSERVATIVE.heap_overhead_ratio,
        16 if older else CONSERVATIVE.default_max_semi_space_mib,
        "not measured: largest measured figures"
        + ("; --max-semi-space-size not allowed in NODE_OPTIONS before 19.2" if not flag_ok else ""),
        min_start_old_mib=CONSERVATIVE.min_start_old_mib,
    )
