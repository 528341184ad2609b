"""Does a container run Node.js, and how can one tell from its container definition.

Evidence, each named in the result so a report can say why: the image (`node:22-slim`,
`*/library/node`, `gcr.io/distroless/nodejs22-debian12`, `cimg/node`, a `node`/`nodejs` tag),
the program in the entry point or command (`node`, `nodejs`, `npm`/`npx`/`yarn`/`pnpm`, `pm2`,
also inside an `sh -c` script), and `NODE_OPTIONS` in the environment. An image's own ENTRYPOINT
and CMD are not in the task definition, so an app image that runs Node without saying so anywhere
in the definition is not recognised (adopt then needs `--container`). Pure.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sidecar.fleet.definitions import argv_of, environment_of

SIDECAR_IMAGE_NAME = "node-heap-sidecar"
_NODE_IMAGE = re.compile(r"^(node|nodejs)(\d{1,3})?([-_.].*)?$")
_NODE_PROGRAMS = frozenset({"node", "nodejs"})
_NODE_LAUNCHERS = frozenset({"npm", "npx", "yarn", "pnpm", "pm2", "pm2-runtime", "nodemon", "ts-node", "tsx"})
_WORD = re.compile(
    r"(?:^|[\s;&|()'\"`])(?:exec\s+)?(?:\S*/)?(node|nodejs|npm|npx|yarn|pnpm|pm2|pm2-runtime)(?=$|[\s;&|()'\"`])"
)
_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "busybox"})


@dataclass(frozen=True, slots=True)
class Recognition:
    """How a container was recognised as running Node (empty: it was not)."""

    evidence: tuple[str, ...]

    @property
    def is_node(self) -> bool:
        return bool(self.evidence)


def image_name(image: str | None) -> tuple[str, str]:
    """(repository's last path component, tag) of an image reference; the digest is dropped."""
    if not image:
        return "", ""
    reference = image.split("@", 1)[0]
    last = reference.rsplit("/", 1)[-1]
    name, _, tag = last.partition(":")
    return name.lower(), tag.lower()


def is_sidecar_image(image: str | None) -> bool:
    """This project's own image, under any registry and tag."""
    return image_name(image)[0] == SIDECAR_IMAGE_NAME


def recognize(container: Mapping[str, Any]) -> Recognition:
    """The evidence that `container` (a task-definition container definition) runs Node."""
    found: list[str] = []
    image = container.get("image") if isinstance(container.get("image"), str) else None
    if is_sidecar_image(image):
        return Recognition(())
    name, tag = image_name(image)
    if _NODE_IMAGE.match(name) or (name and tag.startswith("node")):
        found.append(f"image {image}")
    program = node_program(argv_of(container))
    if program is not None:
        found.append(f"{program} in its entry point or command")
    environment = environment_of(container)
    if "NODE_OPTIONS" in environment:
        found.append("NODE_OPTIONS in its environment")
    return Recognition(tuple(found))


def node_program(argv: Sequence[str]) -> str | None:
    """The Node program the argv runs (`node`, or a launcher such as `npm`), directly or in `sh -c`."""
    if not argv:
        return None
    first = argv[0].rsplit("/", 1)[-1]
    if first in _NODE_PROGRAMS or first in _NODE_LAUNCHERS:
        return f"`{first}`"
    if first in _SHELLS:
        script = " ".join(argv[1:])
        match = _WORD.search(script)
        if match:
            return f"`{match.group(1)}` (in a shell script)"
        return None
    for arg in argv[1:]:  # an init such as tini or dumb-init in front of node
        base = arg.rsplit("/", 1)[-1]
        if base in _NODE_PROGRAMS:
            return f"`{base}`"
    return None


def cluster_hints(container: Mapping[str, Any]) -> list[str]:
    """Signs that the container runs several Node isolates (cluster workers, pm2 instances)."""
    hints: list[str] = []
    argv = argv_of(container)
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
