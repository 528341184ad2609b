"""What a container runs: its argv by Docker's rules, and where in it Node starts.

Docker's rules (Docker `ENTRYPOINT`/`CMD` reference and `docker run --entrypoint`; ECS
`ContainerDefinition`: `entryPoint` is the ENTRYPOINT, `command` the CMD):
- the task definition's `entryPoint` replaces the image's ENTRYPOINT and drops its CMD;
- its `command` replaces the image's CMD and keeps the image's ENTRYPOINT;
- neither: the image's ENTRYPOINT + CMD. A shell-form `CMD npm start` is `["/bin/sh", "-c", "npm start"]`
  in the image config already.
An empty list is read as absent: console exports write `[]` for unset fields.

Where Node starts in an argv: `node`/`nodejs` itself, or a launcher that starts it in a child (npm, npx,
yarn, pnpm, pm2, pm2-runtime, nodemon, ts-node, tsx), after any of the wrappers images put in front
(`docker-entrypoint.sh`, tini, dumb-init, su-exec, gosu, env), or inside an `sh -c` script. The official
node image's `docker-entrypoint.sh` runs `node "$@"` when its first argument starts with `-` or is not a
command (docker-library/node `docker-entrypoint.sh`), so `docker-entrypoint.sh server.js` runs Node. Pure.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sidecar.imageref import ImageRef

# docker-library/node's Dockerfiles: ENTRYPOINT ["docker-entrypoint.sh"], CMD ["node"].
OFFICIAL_NODE = (("docker-entrypoint.sh",), ("node",))
# GoogleContainerTools/distroless nodejs: ENTRYPOINT ["/nodejs/bin/node"], no CMD, no shell.
DISTROLESS_NODE = (("/nodejs/bin/node",), None)

NODE_PROGRAMS = frozenset({"node", "nodejs"})
LAUNCHERS = frozenset({"npm", "npx", "yarn", "pnpm", "pm2", "pm2-runtime", "nodemon", "ts-node", "tsx"})
ENTRYPOINT_SCRIPT = "docker-entrypoint.sh"
_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh"})
_INITS = frozenset({"tini", "dumb-init", "catatonit", "tini-static"})
_USER_SWITCHERS = frozenset({"su-exec", "gosu", "chpst"})  # each takes a user, then the command
_SCRIPT_FILE = re.compile(r".*\.(?:js|mjs|cjs|ts|mts|cts)$")
_IN_SCRIPT = re.compile(
    r"(?:^|[\s;&|()'\"`])(?:exec\s+)?(?:\S*/)?"
    r"(node|nodejs|npm|npx|yarn|pnpm|pm2|pm2-runtime|nodemon|ts-node|tsx)(?=$|[\s;&|()'\"`])"
)


@dataclass(frozen=True, slots=True)
class ImageSays:
    """An image's ENTRYPOINT and CMD (None: the image sets none), and how they are known."""

    entrypoint: tuple[str, ...] | None
    cmd: tuple[str, ...] | None
    where: str  # `config from registry https://...`, `known by name: the official node image`


@dataclass(frozen=True, slots=True)
class Runs:
    """The argv a container runs, split as Docker splits it, with where each part came from."""

    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    where: str

    @property
    def argv(self) -> tuple[str, ...]:
        return self.entrypoint + self.cmd


@dataclass(frozen=True, slots=True)
class NotKnown:
    """Why what a container runs is not known (one phrase, ends a sentence `what it runs is ...`)."""

    why: str


@dataclass(frozen=True, slots=True)
class NodeStart:
    """Where Node starts in an argv."""

    program: str  # node, nodejs, npm, ...
    flag_at: int | None  # where in the argv a flag for Node goes (None: Node is in a script, or a launcher's child)
    how: str  # one phrase for reports

    @property
    def direct(self) -> bool:
        """Node is a process of the argv's own exec chain: a flag put at `flag_at` reaches it."""
        return self.flag_at is not None


def known_defaults(image: ImageRef | None) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None] | None:
    """The ENTRYPOINT and CMD of an image known by its name alone: the official node image, distroless nodejs."""
    if image is None:
        return None
    if image.path[-2:] == ("library", "node"):  # Docker Hub's, and mirrors that keep its path (public.ecr.aws/docker)
        return OFFICIAL_NODE
    if "distroless" in image.path and image.name.startswith("nodejs"):
        return DISTROLESS_NODE
    return None


def without_shell(image: ImageRef | None, entrypoint: tuple[str, ...] | None) -> bool:
    """An image without a shell: distroless nodejs (its `:debug` tags carry busybox)."""
    debug = image is not None and image.tag is not None and "debug" in image.tag
    distroless = image is not None and "distroless" in image.path and image.name.startswith("nodejs")
    return not debug and (distroless or entrypoint == DISTROLESS_NODE[0])


def effective_argv(entry_point: Sequence[str], command: Sequence[str], image: ImageSays | None) -> Runs | NotKnown:
    """What runs, by Docker's rules, from the task definition's `entryPoint`/`command` (empty: absent)."""
    entry, cmd = tuple(entry_point), tuple(command)
    if entry:
        where = "the task definition's entryPoint" + (" and command" if cmd else ", without the image's CMD")
        return Runs(entry, cmd, where)
    if image is None:
        if cmd:
            return NotKnown("the image's ENTRYPOINT in front of the task definition's command")
        return NotKnown("left to the image (no entryPoint, no command)")
    image_entry = image.entrypoint or ()
    if cmd:
        return Runs(image_entry, cmd, f"the image's ENTRYPOINT and the task definition's command; image: {image.where}")
    if not image_entry and not image.cmd:
        return NotKnown(f"nothing: neither the task definition nor the image names a program; image: {image.where}")
    return Runs(image_entry, image.cmd or (), f"the image's ENTRYPOINT and CMD; image: {image.where}")


def find_node(argv: Sequence[str]) -> NodeStart | None:
    """Where Node starts in `argv`, through the wrappers images put in front of it."""
    index = 0
    while index < len(argv):
        word = posixpath.basename(argv[index])
        if word in NODE_PROGRAMS:
            return NodeStart(word, index + 1, f"`{word}`")
        if word in LAUNCHERS:
            return NodeStart(word, None, f"`{word}` (a launcher: Node runs in its child)")
        if word in _SHELLS:
            return _in_script(argv[index + 1 :])
        if word == ENTRYPOINT_SCRIPT:
            following = argv[index + 1] if index + 1 < len(argv) else ""
            if following.startswith("-") or _SCRIPT_FILE.fullmatch(following):
                # The script runs `node "$@"`: a flag put right after it (it starts with `-`) reaches Node too.
                return NodeStart("node", index + 1, f"`node` (node's {ENTRYPOINT_SCRIPT} runs `node {following}`)")
            index += 1
            continue
        if word in _INITS or word == "exec":
            index += 1
            if index < len(argv) and argv[index] == "--":
                index += 1
            continue
        if word in _USER_SWITCHERS:
            index += 2
            continue
        if word == "env":
            index += 1
            while index < len(argv) and ("=" in argv[index] or argv[index].startswith("-")):
                index += 1
            continue
        return None
    return None


def _in_script(rest: Sequence[str]) -> NodeStart | None:
    """Node in an `sh -c SCRIPT` (the script is the argument after -c, or after other options)."""
    script = next((arg for arg in rest if not arg.startswith("-")), "")
    match = _IN_SCRIPT.search(script)
    if match is None:
        return None
    return NodeStart(match.group(1), None, f"`{match.group(1)}` (in a shell script)")
