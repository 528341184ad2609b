"""Is a Node container wired to this sidecar the way the shipped task definitions are, and what is missing.

The wiring that works (task-definition.json, deploy/*.json, tests/test_task_definitions.py): an init
container running this image, not essential, which writes its env file into a task volume; the Node
container waits for it with `dependsOn` SUCCESS, mounts the same volume (read-only), and sources the
file before `exec node` (or passes `node --env-file`), under `initProcessEnabled`.

Every rule the init job also applies comes from the job's own code, never a copy: which container
runs the sidecar (`sizing.containers.sidecar_containers`), whom it sizes and which file it writes for
each (`fleet.sizing.job_view`, the job's own decision), how a command reads the file and when
`--env-file` loses the flags (`outputs.envfile`). Pure.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sidecar.fleet.definitions import argv_of, environment_of
from sidecar.fleet.sizing import JobView, job_view, parse_definition
from sidecar.outputs.envfile import Reads, how_node_reads
from sidecar.sizing.containers import list_containers, sidecar_containers


@dataclass(frozen=True, slots=True)
class Wiring:
    """How `container` is wired to an init container of this sidecar (init None: not at all)."""

    container: str
    init: JobView | None
    env_file: str | None
    mode: Reads | None  # how it reads the file (None: it reads it not)
    problems: tuple[str, ...]  # each one stops the heap flags from reaching Node
    advice: tuple[str, ...]  # missing but not fatal

    @property
    def wired(self) -> bool:
        return self.init is not None

    @property
    def correct(self) -> bool:
        return self.init is not None and not self.problems


def find_init_containers(raw: Sequence[Mapping[str, Any]]) -> list[JobView]:
    """The containers that run this sidecar, each with what the init job would do there.

    `raw` is a task definition's `containerDefinitions`; a malformed one raises SourceError.
    """
    definition = parse_definition({"containerDefinitions": list(raw)})
    containers = list_containers(None, None, definition)
    by_name = {str(c.get("name")): c for c in raw}
    return [
        job_view(definition, name, environment_of(by_name.get(name, {}))) for name in sidecar_containers(containers)
    ]


def check_wiring(raw: Sequence[Mapping[str, Any]], name: str) -> Wiring:
    """Whether container `name` of a task definition's `containerDefinitions` gets its heap flags from an
    init container of this sidecar."""
    by_name = {str(c.get("name")): c for c in raw}
    node = by_name[name]
    depends = {
        str(d.get("containerName")): str(d.get("condition", "")).upper()
        for d in node.get("dependsOn") or []
        if isinstance(d, Mapping)
    }
    inits = find_init_containers(raw)
    init = next((i for i in inits if name in i.targets), None) or next((i for i in inits if i.init in depends), None)
    if init is None:
        return Wiring(name, None, None, None, (), ())
    problems: list[str] = []
    advice: list[str] = []
    if init.target_problem is not None:
        problems.append(f"{init.init!r} would exit 3: {init.target_problem}")
    elif init.settings is not None and name not in init.targets:
        problems.append(
            f"{init.init} sizes {', '.join(init.targets) or 'no container'}, not {name!r}: it writes no file for it"
        )
    if depends.get(init.init) != "SUCCESS":
        condition = depends.get(init.init)
        problems.append(
            f"{name!r} does not wait for {init.init!r} with dependsOn condition SUCCESS"
            + (f" (it uses {condition})" if condition else "")
            + ": Node may start before the file exists"
        )
    init_definition = by_name[init.init]
    if init_definition.get("essential", True) is not False:
        problems.append(f"{init.init!r} is essential: ECS refuses a SUCCESS dependency on it (set essential false)")
    env_file = init.env_files.get(name)
    if env_file is None:
        return Wiring(name, init, None, None, tuple(problems), tuple(advice))
    directory = posixpath.dirname(env_file)
    init_mount = mount_holding(init_definition, directory)
    if init_mount is None:
        problems.append(
            f"{init.init!r} mounts no volume at {directory}: the file it writes stays in its own filesystem"
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
    argv = argv_of(node)
    reading = how_node_reads(argv)
    mode = reading.mode
    if env_file not in reading.paths:
        if reading.paths:
            problems.append(f"{name!r} reads {', '.join(reading.paths)}, but {init.init!r} writes {env_file}")
        else:
            problems.append(
                f"{name!r} neither sources {env_file} (`. {env_file} && exec node ...`) nor runs "
                f"`node --env-file={env_file}`: Node never reads the heap flags"
            )
        mode = None
    elif reading.loses_flags_with(environment_of(node).get("NODE_OPTIONS")):
        problems.append(
            f"{name!r} runs `node --env-file` and sets NODE_OPTIONS in its environment: Node then ignores the "
            "file's NODE_OPTIONS, so the heap flags are lost"
        )
    if mode is Reads.SH and not any(re.search(r"\bexec\s", part) for part in argv):
        advice.append(f"{name!r}'s shell does not `exec` Node: ECS's SIGTERM reaches sh, not Node")
    linux = node.get("linuxParameters")
    if not (isinstance(linux, Mapping) and linux.get("initProcessEnabled") is True):
        advice.append(
            f"{name!r} has no linuxParameters.initProcessEnabled: as PID 1, Node's heap-limit abort exits 139 "
            "instead of 134"
        )
    logs = init_definition.get("logConfiguration") or {}
    if logs.get("logDriver") != "awslogs" or (logs.get("options") or {}).get("mode") != "blocking":
        advice.append(f"{init.init!r} does not log with awslogs in blocking mode: its decision line may be lost")
    return Wiring(name, init, env_file, mode, tuple(problems), tuple(advice))


def mount_holding(container: Mapping[str, Any], directory: str) -> Mapping[str, Any] | None:
    """The mount point of `container` under which `directory` lies, if any."""
    for mount in container.get("mountPoints") or []:
        if not isinstance(mount, Mapping) or not isinstance(mount.get("containerPath"), str):
            continue
        path = mount["containerPath"].rstrip("/") or "/"
        if directory == path or directory.startswith(path.rstrip("/") + "/"):
            return mount
    return None
