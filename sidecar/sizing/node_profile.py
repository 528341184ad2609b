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
- `min_start_old_mib`: the smallest `--max-old-space-size` ever written: the smallest old space
  with which Node starts at all (measured: `bench.calibrate` `smallest_start`; below it Node aborts,
  traps or segfaults during start-up) plus 2 MiB, rounded up to an even number. A plan below it is
  raised to it: a flag Node cannot start with kills the task, and no flag gives a heap of 256 MiB
  or more (a 128 MiB container then thrashes at its limit).
- `own_semi_ratio`, `own_semi_low_ratio`: how Node sizes its semi-space by itself in a memory
  cgroup of M MiB (`node_own_semi_space_mib`): V8 configures its defaults from the memory Node
  sees, an old generation of M/2, and a semi-space of (M/2)/ratio rounded up to a power of two,
  1 MiB to `default_max_semi_space_mib`; `own_semi_low_ratio` applies while M/2 <= 256 MiB (V8's
  low-memory ratio). `--max-old-space-size` does not change it. Measured with `bench.calibrate`
  (`young_generation`: M = 256 to 4608 MiB in steps of 128, every point matches the model).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction


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
    min_start_old_mib: int = 10
    own_semi_ratio: int = 128
    own_semi_low_ratio: int = 256


# bench/results/calibration.json (docs/calibration.md): RssFile 35.2 / 39.0 / 37.1 / 39.7 MiB;
# fitted leak peak = 9.9 / 9.4 / 9.0 / 9.6 MiB + 1.040 / 1.039 / 1.055 / 1.055 x old space.
# Figures are rounded up: binary to the next 2 MiB, base to 12 MiB, the ratio to the next whole
# percent plus one point.
# Smallest old space Node starts with (semi-space 1 MiB): 4 / 7 / 8 / 6 MiB.
# Own semi-space (calibration.json `young_generation`, on 20.20.2, 22.23.5, 24.22.3 and 26.12.1):
# 1 MiB up to 512 MiB, then 4 / 8 / 16 MiB at 1024 / 2048 / 4096 MiB (20, 22); 16 / 32 / 64 MiB
# (24); 4 MiB at 512, then 8 / 16 / 32 MiB (26).
_MEASURED = {  # ..., evidence, min_start_old_mib, own_semi_ratio, own_semi_low_ratio
    20: NodeProfile("Node 20", 20, True, 36, 12, 0.05, 16, "measured on 20.20.2", 6, 128, 256),
    22: NodeProfile("Node 22", 22, True, 40, 12, 0.05, 16, "measured on 22.23.3", 10, 128, 256),
    24: NodeProfile("Node 24", 24, True, 38, 12, 0.07, 64, "measured on 24.21.0", 10, 32, 256),
    26: NodeProfile("Node 26", 26, True, 40, 12, 0.07, 32, "measured on 26.10.0", 8, 64, 64),
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
    own_semi_ratio=min(p.own_semi_ratio for p in _MEASURED.values()),  # the largest own semi-space of any line
    own_semi_low_ratio=min(p.own_semi_low_ratio for p in _MEASURED.values()),
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
        own_semi_ratio=128 if older else CONSERVATIVE.own_semi_ratio,
        own_semi_low_ratio=256 if older else CONSERVATIVE.own_semi_low_ratio,
    )


LOW_MEMORY_OLD_MIB = 256  # V8 kOldGenerationLowMemory (128 MB x pointer multiplier 2, no pointer compression)


def node_own_semi_space_mib(profile: NodeProfile, memory_mib: int) -> int:
    """The semi-space Node picks by itself in a memory cgroup of `memory_mib` (see the module doc)."""
    old = Fraction(memory_mib, 2)
    wanted = old / (profile.own_semi_low_ratio if old <= LOW_MEMORY_OLD_MIB else profile.own_semi_ratio)
    semi = 1
    while semi < wanted and semi < profile.default_max_semi_space_mib:
        semi *= 2
    return semi


def node_band_start_mib(profile: NodeProfile, semi_mib: int) -> int | None:
    """The smallest memory in which Node picks a semi-space of at least `semi_mib` (a power of two >= 2)
    by itself, or None when it never does (above its cap).

    pow2ceil(w) >= s exactly when w > s/2, with w = (M/2)/ratio: M > s x low ratio while M/2 <= 256
    MiB, else M > s x ratio.
    """
    if semi_mib > profile.default_max_semi_space_mib:
        return None
    low = semi_mib * profile.own_semi_low_ratio + 1
    if low <= 2 * LOW_MEMORY_OLD_MIB:
        return low
    return max(2 * LOW_MEMORY_OLD_MIB + 1, semi_mib * profile.own_semi_ratio + 1)
