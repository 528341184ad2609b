"""Does a container run Node.js, and how can one tell: from what really runs, and from its image.

The facts (each named in the evidence, so a report can say why):
- what the container runs (fleet/runs.py: the task definition's entryPoint/command and the image's
  ENTRYPOINT/CMD by Docker's rules) starts Node: `node`, or a launcher (npm, yarn, pm2, ...), also
  through docker-entrypoint.sh, tini or an `sh -c` script;
- the image is Node's own: its config sets `NODE_VERSION` (the official images), its name is the
  official `node`, distroless `nodejs<N>` or another `node`/`nodejs` image;
- `NODE_OPTIONS` in the container's environment.
The image's config comes from fleet/images.py; without it, only an image known by its name (the
official node image, distroless nodejs) says what it runs. Audit and adopt both recognise with this.
Pure.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sidecar.fleet.definitions import argv_of, environment_of, holds_template, words
from sidecar.fleet.images import ImageFacts, ImageLookup
from sidecar.fleet.intrinsics import is_unrendered
from sidecar.fleet.runs import (
    OFFICIAL_NODE,
    ImageSays,
    NodeStart,
    NotKnown,
    Runs,
    effective_argv,
    find_node,
    known_defaults,
    without_shell,
)
from sidecar.imageref import ImageRef, parse_image
from sidecar.sizing.containers import SIDECAR_IMAGE_NAME
from sidecar.sizing.footprints import find_footprint
from sidecar.sizing.node_profile import parse_version, version_from_image

_NODE_IMAGE = re.compile(r"^(node|nodejs)(\d{1,3})?([-_.].*)?$")


@dataclass(frozen=True, slots=True)
class Recognition:
    """What a container runs and why it is (or is not) taken to run Node."""

    evidence: tuple[str, ...]  # empty: not Node
    runs: Runs | NotKnown
    node: NodeStart | None  # where Node starts in what it runs
    node_version: tuple[int, int | None] | None
    node_version_where: str | None
    shell_less: bool  # its image has no shell (distroless)
    image_note: str | None = None  # why its image could not be read, when it could not
    unrendered: tuple[str, ...] = ()  # the fields ("name", "image") that hold an unrendered template

    @property
    def is_node(self) -> bool:
        return bool(self.evidence)


def recognize(container: Mapping[str, Any], lookup: ImageLookup | None = None) -> Recognition:
    """What `container` (a task-definition container definition) runs, and the evidence that it runs Node."""
    raw_image = container.get("image")
    image = raw_image if isinstance(raw_image, str) else None
    reference = parse_image(image)
    facts = lookup.facts if lookup is not None else None
    says = image_says(reference, facts)
    runs = effective_argv(words(container.get("entryPoint")), words(container.get("command")), says)
    node = find_node(runs.argv) if isinstance(runs, Runs) else None
    version, version_where = _node_version(image, facts)
    unrendered = tuple(field for field in ("name", "image") if is_unrendered(container.get(field))) + tuple(
        field for field in ("entryPoint", "command") if holds_template(container.get(field))
    )

    base = Recognition(
        evidence=(),
        runs=runs,
        node=node,
        node_version=version,
        node_version_where=version_where,
        shell_less=without_shell(reference, facts.entrypoint if facts else None),
        image_note=lookup.note if lookup is not None and facts is None else None,
        unrendered=unrendered,
    )
    if reference is not None and reference.name == SIDECAR_IMAGE_NAME:
        return base
    firelens = container.get("firelensConfiguration")
    firelens_type = firelens.get("type") if isinstance(firelens, Mapping) else None
    if find_footprint(str(container.get("name") or ""), image, firelens_type) is not None:
        return base  # a known sidecar (log router, agent, proxy), whatever its base image
    found: list[str] = []
    if node is not None and isinstance(runs, Runs):
        found.append(f"runs {node.how}: {shlex.join(runs.argv)} ({runs.where})")
    elif isinstance(runs, NotKnown):
        stated = find_node(words(container.get("entryPoint")) + words(container.get("command")))
        if stated is not None:
            found.append(f"its command runs {stated.how} (what runs is {runs.why})")
    if facts is not None and facts.env_value("NODE_VERSION"):
        found.append(f"its image sets NODE_VERSION={facts.env_value('NODE_VERSION')} ({facts.source})")
    elif reference is not None and (_NODE_IMAGE.match(reference.name) or (reference.tag or "").startswith("node")):
        found.append(f"image {image} is a Node image")
    if "NODE_OPTIONS" in environment_of(container):
        found.append("NODE_OPTIONS in its environment")
    return Recognition(
        evidence=tuple(found),
        runs=runs,
        node=node,
        node_version=version,
        node_version_where=version_where,
        shell_less=base.shell_less,
        image_note=base.image_note,
        unrendered=unrendered,
    )


def image_says(reference: ImageRef | None, facts: ImageFacts | None) -> ImageSays | None:
    """The image's ENTRYPOINT and CMD: from its config when it was read, else when its name alone tells."""
    if facts is not None:
        return ImageSays(facts.entrypoint, facts.cmd, f"config from {facts.source}")
    defaults = known_defaults(reference)
    if defaults is not None:
        entrypoint, cmd = defaults
        kind = "the official node image" if defaults == OFFICIAL_NODE else "distroless nodejs"
        return ImageSays(entrypoint, cmd, f"known by name, {kind}")
    return None


def _node_version(image: str | None, facts: ImageFacts | None) -> tuple[tuple[int, int | None] | None, str | None]:
    """The Node version: the image config's NODE_VERSION (exact), else the version its tag names."""
    declared = facts.env_value("NODE_VERSION") if facts is not None else None
    if declared:
        try:
            return parse_version(declared), f"image ENV NODE_VERSION={declared}"
        except ValueError:
            pass
    found = version_from_image(image)
    if found is not None:
        return found, f"image tag {image}"
    return None, None


def cluster_hints(container: Mapping[str, Any], runs: Runs | NotKnown | None = None) -> list[str]:
    """Signs that the container runs several Node isolates (cluster workers, pm2 instances)."""
    hints: list[str] = []
    argv = list(runs.argv) if isinstance(runs, Runs) else argv_of(container)
    words = [w for part in argv for w in _split(part)]
    if any(w.rsplit("/", 1)[-1] in ("pm2", "pm2-runtime") for w in words):
        instances = _option(words, ("-i", "--instances"))
        hints.append(f"pm2{f' -i {instances}' if instances else ''}")
    if any(w in ("cluster", "--cluster") for w in words):
        hints.append("`cluster` in its command")
    for name in ("WEB_CONCURRENCY", "CLUSTER_WORKERS", "NODE_CLUSTER_WORKERS", "WORKERS"):
        value = environment_of(container).get(name)
        if value:
            hints.append(f"{name}={value}")
    return hints


def _option(words: Sequence[str], names: tuple[str, ...]) -> str | None:
    for index, word in enumerate(words):
        if word in names and index + 1 < len(words):
            return words[index + 1]
        for name in names:
            if word.startswith(name + "="):
                return word.split("=", 1)[1]
    return None


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()
