"""Is a Node container wired to this sidecar the way the shipped task definitions are, and what is missing.

The wiring that works (task-definition.json, deploy/*.json, tests/test_task_definitions.py): an init
container running this image, not essential, whose `NODE_HEAP_TARGET` names the Node container and
which writes its env file into a task volume; the Node container waits for it with `dependsOn`
SUCCESS, mounts the same volume (read-only), and sources the file before `exec node` (or passes
`node --env-file`), under `initProcessEnabled`.

Several Node containers in one task: `NODE_HEAP_TARGET` is a comma-separated list; with one target
the file is `NODE_HEAP_ENV_FILE` (default /shared/node-heap.env), with several each container gets
`<directory of NODE_HEAP_ENV_FILE>/node-heap.<container>.env` (`env_file_for`). Pure.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sidecar.fleet.recognize import argv_of, environment_of, is_sidecar_image

DEFAULT_ENV_FILE = "/shared/node-heap.env"
ENV_FILE_MIN_VERSION = {20: 20, 21: 7}  # `node --env-file` reads the sidecar's file from 20.20 / 21.7 (README)
_SOURCED = re.compile(r"(?:^|[\s;&|(])(?:\.|source)\s+(['\"]?)([^\s;&|'\"]+)\1")
_ENV_FILE_FLAG = re.compile(r"^--env-file(?:-if-exists)?=(.+)$")


def env_file_for(env_file: str, targets: Sequence[str], container: str) -> str:
    """The file the init job writes for `container`: the file itself for one target, else one per container."""
    if len(targets) <= 1:
        return env_file
    return posixpath.join(posixpath.dirname(env_file) or "/", f"node-heap.{container}.env")


def env_file_too_old(version: tuple[int, int | None] | None) -> bool:
    """Whether a Node version (from the image tag) is known to be unable to read the env file with --env-file."""
    if version is None:
        return False
    major, minor = version
    needed = ENV_FILE_MIN_VERSION.get(major)
    return major < 20 or (needed is not None and minor is not None and minor < needed)


def parse_targets(value: str | None) -> tuple[str, ...]:
    """`NODE_HEAP_TARGET` as a list of container names (comma-separated, blanks dropped)."""
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class InitContainer:
    """An init container running this sidecar, and what it will write for whom."""

    name: str
    targets: tuple[str, ...]  # resolved: NODE_HEAP_TARGET, else the only other container
    targets_reason: str
    env_file: str  # NODE_HEAP_ENV_FILE (or the default)
    environment: dict[str, str]

    def env_file_of(self, container: str) -> str:
        return env_file_for(self.env_file, self.targets, container)


@dataclass(frozen=True, slots=True)
class Wiring:
    """How `container` is wired to an init container of this sidecar (init None: not at all)."""

    container: str
    init: InitContainer | None
    env_file: str | None
    mode: str | None  # "sh" (sources the file) or "env-file" (node --env-file), None: reads it not
    problems: tuple[str, ...]  # each one stops the heap flags from reaching Node
    advice: tuple[str, ...]  # missing but not fatal

    @property
    def wired(self) -> bool:
        return self.init is not None

    @property
    def correct(self) -> bool:
        return self.init is not None and not self.problems


def find_init_containers(containers: Sequence[Mapping[str, Any]]) -> list[InitContainer]:
    """The containers of a task definition that run this sidecar (by image, or by NODE_HEAP_* settings)."""
    names = [str(c.get("name")) for c in containers]
    found: list[InitContainer] = []
    for container in containers:
        environment = environment_of(container)
        if not (is_sidecar_image(_image(container)) or "NODE_HEAP_TARGET" in environment):
            continue
        name = str(container.get("name"))
        targets = parse_targets(environment.get("NODE_HEAP_TARGET"))
        reason = "NODE_HEAP_TARGET"
        if not targets:
            others = [n for n in names if n != name]
            if len(others) == 1:
                targets, reason = (others[0],), "NODE_HEAP_TARGET unset: the only other container"
            else:
                reason = f"NODE_HEAP_TARGET unset and the task has {len(others)} other containers"
        env_file = environment.get("NODE_HEAP_ENV_FILE", "").strip() or DEFAULT_ENV_FILE
        found.append(InitContainer(name, targets, reason, env_file, environment))
    return found


def check_wiring(containers: Sequence[Mapping[str, Any]], name: str) -> Wiring:
    """Whether container `name` gets its heap flags from an init container of this sidecar."""
    by_name = {str(c.get("name")): c for c in containers}
    node = by_name[name]
    depends = {
        str(d.get("containerName")): str(d.get("condition", "")).upper()
        for d in node.get("dependsOn") or []
        if isinstance(d, Mapping)
    }
    inits = find_init_containers(containers)
    init = next((i for i in inits if name in i.targets), None) or next((i for i in inits if i.name in depends), None)
    if init is None:
        return Wiring(name, None, None, None, (), ())
    problems: list[str] = []
    advice: list[str] = []
    if name not in init.targets:
        if init.targets:
            problems.append(
                f"{init.name}'s NODE_HEAP_TARGET={','.join(init.targets)!s} does not name {name!r}: "
                "it writes no file for it"
            )
        else:
            problems.append(f"{init.targets_reason}: the init job cannot tell which is Node and exits 3")
    if depends.get(init.name) != "SUCCESS":
        condition = depends.get(init.name)
        problems.append(
            f"{name!r} does not wait for {init.name!r} with dependsOn condition SUCCESS"
            + (f" (it uses {condition})" if condition else "")
            + ": Node may start before the file exists"
        )
    init_definition = by_name[init.name]
    if init_definition.get("essential", True) is not False:
        problems.append(f"{init.name!r} is essential: ECS refuses a SUCCESS dependency on it (set essential false)")
    env_file = init.env_file_of(name)
    directory = posixpath.dirname(env_file)
    init_mount = mount_holding(init_definition, directory)
    node_mount = None
    if init_mount is None:
        problems.append(
            f"{init.name!r} mounts no volume at {directory}: the file it writes stays in its own filesystem"
        )
    else:
        node_mount = next(
            (
                m
                for m in node.get("mountPoints") or []
                if isinstance(m, Mapping)
                and m.get("sourceVolume") == init_mount.get("sourceVolume")
                and m.get("containerPath") == init_mount.get("containerPath")
            ),
            None,
        )
        if node_mount is None:
            problems.append(
                f"{name!r} does not mount volume {init_mount.get('sourceVolume')!r} at "
                f"{init_mount.get('containerPath')}: it cannot read {env_file}"
            )
        elif node_mount.get("readOnly") is not True:
            advice.append(f"{name!r} mounts {init_mount.get('containerPath')} read-write; read-only is enough")
    mode, read_paths = _how_it_reads(argv_of(node))
    if env_file not in read_paths:
        if read_paths:
            problems.append(f"{name!r} reads {', '.join(read_paths)}, but {init.name!r} writes {env_file}")
        else:
            problems.append(
                f"{name!r} neither sources {env_file} (`. {env_file} && exec node ...`) nor runs "
                f"`node --env-file={env_file}`: Node never reads the heap flags"
            )
        mode = None
    if mode == "env-file" and "NODE_OPTIONS" in environment_of(node):
        problems.append(
            f"{name!r} runs `node --env-file` and sets NODE_OPTIONS in its environment: Node then ignores the "
            "file's NODE_OPTIONS, so the heap flags are lost"
        )
    if mode == "sh" and not any(re.search(r"\bexec\s", part) for part in argv_of(node)):
        advice.append(f"{name!r}'s shell does not `exec` Node: ECS's SIGTERM reaches sh, not Node")
    linux = node.get("linuxParameters") if isinstance(node.get("linuxParameters"), Mapping) else {}
    if not (isinstance(linux, Mapping) and linux.get("initProcessEnabled") is True):
        advice.append(
            f"{name!r} has no linuxParameters.initProcessEnabled: as PID 1, Node's heap-limit abort exits 139 "
            "instead of 134"
        )
    options = (init_definition.get("logConfiguration") or {}).get("options") or {}
    if (init_definition.get("logConfiguration") or {}).get("logDriver") != "awslogs" or options.get(
        "mode"
    ) != "blocking":
        advice.append(f"{init.name!r} does not log with awslogs in blocking mode: its decision line may be lost")
    return Wiring(name, init, env_file, mode, tuple(problems), tuple(advice))


def _how_it_reads(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """("sh" or "env-file", the files it reads) from an entry point and command."""
    sourced: list[str] = []
    for part in argv:
        sourced += [match.group(2) for match in _SOURCED.finditer(part)]
    if sourced:
        return "sh", sourced
    flagged: list[str] = []
    for index, arg in enumerate(argv):
        match = _ENV_FILE_FLAG.match(arg)
        if match:
            flagged.append(match.group(1))
        elif arg in ("--env-file", "--env-file-if-exists") and index + 1 < len(argv):
            flagged.append(argv[index + 1])
    return ("env-file", flagged) if flagged else (None, [])


def mount_holding(container: Mapping[str, Any], directory: str) -> Mapping[str, Any] | None:
    """The mount point of `container` under which `directory` lies, if any."""
    for mount in container.get("mountPoints") or []:
        if not isinstance(mount, Mapping) or not isinstance(mount.get("containerPath"), str):
            continue
        path = mount["containerPath"].rstrip("/") or "/"
        if directory == path or directory.startswith(path.rstrip("/") + "/"):
            return mount
    return None


def _image(container: Mapping[str, Any]) -> str | None:
    image = container.get("image")
    return image if isinstance(image, str) else None
