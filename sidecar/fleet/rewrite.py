"""adopt's rewrite of a task definition: the sidecar wired in front of its Node container(s). Pure.

What it writes is what task-definition.json and deploy/*.json ship: an init container (this image,
`essential: false`, read-only root, the settings, awslogs in blocking mode next to the app's log
group), a task volume, the volume mounted read-write there and read-only in Node, `dependsOn`
SUCCESS, `initProcessEnabled`, and an entry point that reads the env file then runs exactly what
the container ran before:

- `--mode sh`: `entryPoint ["sh", "-c"]`, `command [". FILE && exec ARGV"]`, ARGV being the old
  entry point and command, each word quoted for POSIX sh (single quotes), so the program gets the
  same argv (tests/test_adopt_shells.py runs it in dash, bash and busybox sh).
- `--mode env-file` (images without a shell): `--env-file=FILE` right after `node` in the argv.

The old argv is known only when the definition states it: `entryPoint` (+ `command`), or `command`
on an image whose ENTRYPOINT is known (the official `node` images: `docker-entrypoint.sh`,
docker-library/node; distroless `nodejs`: `/nodejs/bin/node`), or `--argv NAME=JSON`. Anything else
is refused: an image's own ENTRYPOINT and CMD are not in the task definition.
Adopting an adopted definition gives it back unchanged: every step is "make sure", and the wrapper
it wrote is recognised and unwrapped first.
"""

from __future__ import annotations

import copy
import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from sidecar.errors import AdoptRefusedError, SettingsError
from sidecar.fleet.definitions import environment_of
from sidecar.fleet.recognize import cluster_hints, image_name, recognize
from sidecar.fleet.sizing import read_settings
from sidecar.fleet.wiring import find_init_containers, mount_holding
from sidecar.outputs.envfile import env_file_too_old
from sidecar.sizing.decide import env_file_for
from sidecar.sizing.node_profile import version_from_image

READ_ONLY_FIELDS = (
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
)
OFFICIAL_NODE_ENTRYPOINT = ["docker-entrypoint.sh"]  # docker-library/node Dockerfile: ENTRYPOINT, CMD ["node"]
DISTROLESS_NODE_ENTRYPOINT = ["/nodejs/bin/node"]  # GoogleContainerTools/distroless nodejs: ENTRYPOINT
_NODE = frozenset({"node", "nodejs"})
_SIDECAR_FILE = re.compile(r"^node-heap(\.[A-Za-z0-9_-]+)?\.env$")
_ENV_FILE_ARG = re.compile(r"^--env-file=(.+)$")


@dataclass(frozen=True, slots=True)
class AdoptOptions:
    image: str | None = None
    containers: tuple[str, ...] = ()  # the Node containers; () = every container recognised as Node
    mode: str = "sh"  # sh | env-file
    settings: tuple[tuple[str, str], ...] = ()  # NODE_HEAP_* for the init container
    argv: Mapping[str, Sequence[str]] = field(default_factory=dict)  # what a container runs today, in full
    init_name: str = "node-heap-init"
    volume: str = "node-heap"
    shared_path: str = "/shared"
    log_group: str | None = None
    log_region: str | None = None
    init_memory_mib: int = 64


@dataclass(frozen=True, slots=True)
class Adoption:
    document: Any  # same shape as the input: a task definition (register input) or a containerDefinitions list
    changed: bool
    targets: tuple[str, ...]
    notes: tuple[str, ...]


def read_document(doc: Any) -> tuple[str, dict[str, Any]]:
    """("task-definition" | "containers", the task definition) from what the user gave.

    Accepts a task definition, a DescribeTaskDefinition answer (its `tags` kept), or a bare
    `containerDefinitions` list (Terraform's `container_definitions`, CDK's synthesized JSON).
    """
    if isinstance(doc, list):
        return "containers", {"containerDefinitions": copy.deepcopy(doc)}
    if isinstance(doc, dict) and isinstance(doc.get("taskDefinition"), dict):
        definition = copy.deepcopy(doc["taskDefinition"])
        if doc.get("tags"):
            definition["tags"] = copy.deepcopy(doc["tags"])
        return "task-definition", _strip(definition)
    if isinstance(doc, dict) and isinstance(doc.get("containerDefinitions"), list):
        return "task-definition", _strip(copy.deepcopy(doc))
    raise AdoptRefusedError(
        "input: expected a task definition (with containerDefinitions), a DescribeTaskDefinition answer "
        "or a containerDefinitions list"
    )


def adopt_definition(kind: str, definition: dict[str, Any], options: AdoptOptions) -> Adoption:
    """The task definition with the sidecar wired in; AdoptRefusedError when that cannot be done safely."""
    before = copy.deepcopy(definition)
    td = copy.deepcopy(definition)
    containers = td["containerDefinitions"]
    if not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in containers):
        raise AdoptRefusedError("containerDefinitions: expected objects with a name")
    by_name: dict[str, dict[str, Any]] = {c["name"]: c for c in containers}
    notes: list[str] = []

    inits = find_init_containers(containers)
    if len(inits) > 1:
        raise AdoptRefusedError(
            f"several init containers of this sidecar ({', '.join(i.init for i in inits)}): keep one"
        )
    existing = inits[0] if inits else None
    if existing is not None and existing.settings is None:
        raise SettingsError([f"{existing.init}: {existing.settings_problem}"])
    init_name = existing.init if existing else options.init_name
    if existing is None and init_name in by_name:
        raise AdoptRefusedError(
            f"a container named {init_name!r} exists and does not run node-heap-sidecar: give --init-name"
        )
    targets = _targets(containers, by_name, init_name, existing.targets if existing else (), options)
    if existing is not None and existing.settings is not None:
        env_file = str(existing.settings.env_file)
        init_mount = mount_holding(by_name[init_name], posixpath.dirname(env_file))
        if init_mount is None:
            raise AdoptRefusedError(f"{init_name!r} mounts no volume where it writes {env_file}: fix or remove it")
        volume, shared = str(init_mount["sourceVolume"]), str(init_mount["containerPath"])
    else:
        volume, shared = options.volume, options.shared_path.rstrip("/") or "/"
        env_file = posixpath.join(shared, "node-heap.env")

    _ensure_volume(td, kind, volume, notes)
    init = by_name.get(init_name)
    if init is None:
        init = _new_init(
            td,
            kind,
            name=init_name,
            volume=volume,
            shared=shared,
            env_file=env_file,
            nodes=[by_name[t] for t in targets],
            options=options,
        )
        containers.insert(0, init)
        by_name[init_name] = init
    elif options.image and init.get("image") != options.image:
        init["image"] = options.image
    _set_env(init, "NODE_HEAP_TARGET", ",".join(targets))
    for name, value in options.settings:
        _set_env(init, name, value)
    _, problem = read_settings(environment_of(init))
    if problem:
        raise SettingsError([f"{init_name}: {problem}"])

    for name in targets:
        node = by_name[name]
        _ensure_dependency(node, init_name)
        _ensure_mount(node, volume, shared)
        linux = node.setdefault("linuxParameters", {})
        linux["initProcessEnabled"] = True
        path = str(env_file_for(PurePosixPath(env_file), targets, name))
        if options.mode == "env-file":
            _wrap_env_file(node, path, posixpath.dirname(env_file), options)
        else:
            _wrap_sh(node, path, posixpath.dirname(env_file), options)
        hints = [h for h in cluster_hints(node) if not any(k == "NODE_HEAP_PROCESSES" for k, _ in options.settings)]
        if hints and environment_of(init).get("NODE_HEAP_PROCESSES") in (None, "", "1"):
            notes.append(f"{name!r} runs several Node processes ({', '.join(hints)}): set --set NODE_HEAP_PROCESSES=N")
    if kind == "task-definition" and not td.get("taskRoleArn"):
        notes.append(
            "no taskRoleArn: the init container cannot call the ECS API; on EC2 it then cannot read the Node "
            "container's own memory limit (give the task role deploy/task-role-policy.json)"
        )
    document: Any = td["containerDefinitions"] if kind == "containers" else td
    return Adoption(document, td != before, tuple(targets), tuple(notes))


def shell_command(env_file: str, argv: Sequence[str]) -> str:
    """`. FILE && exec ARGV`, every word quoted for POSIX sh."""
    return f". {shlex.quote(env_file)} && exec {shlex.join(argv)}"


def unwrap_shell_command(script: str) -> tuple[str, list[str]] | None:
    """(file, argv) when `script` is exactly what `shell_command` writes, else None."""
    try:
        words = shlex.split(script)
    except ValueError:
        return None
    if len(words) < 5 or words[0] != "." or words[2] != "&&" or words[3] != "exec":
        return None
    env_file, argv = words[1], words[4:]
    return (env_file, argv) if shell_command(env_file, argv) == script else None


def _strip(definition: dict[str, Any]) -> dict[str, Any]:
    for key in READ_ONLY_FIELDS:
        definition.pop(key, None)
    return definition


def _targets(
    containers: Sequence[Mapping[str, Any]],
    by_name: Mapping[str, Any],
    init_name: str,
    already: Sequence[str],
    options: AdoptOptions,
) -> list[str]:
    names = [str(c["name"]) for c in containers]
    for name in options.containers:
        if name not in by_name:
            raise AdoptRefusedError(f"--container {name!r}: no such container (containers: {', '.join(names)})")
        if name == init_name:
            raise AdoptRefusedError(f"--container {name!r} is the sidecar's init container")
    chosen = list(options.containers) or [
        str(c["name"]) for c in containers if c["name"] != init_name and recognize(c).is_node
    ]
    merged = [n for n in already if n in by_name and n != init_name] + [n for n in chosen if n not in already]
    if not merged:
        raise AdoptRefusedError(
            "no container runs Node (by its image, entry point, command or NODE_OPTIONS): name it with --container"
        )
    return [n for n in names if n in merged]  # the task definition's order


def _ensure_volume(td: dict[str, Any], kind: str, volume: str, notes: list[str]) -> None:
    if kind == "containers":
        notes.append(
            f'a containerDefinitions list has no volumes: add the task volume {{"name": "{volume}"}} to the '
            f'task definition (Terraform: volume {{ name = "{volume}" }})'
        )
        return
    volumes = td.setdefault("volumes", [])
    found = next((v for v in volumes if isinstance(v, dict) and v.get("name") == volume), None)
    if found is None:
        volumes.append({"name": volume})
    elif set(found) - {"name", "host"} or (found.get("host") or {}).get("sourcePath"):
        raise AdoptRefusedError(
            f"volume {volume!r} exists and is not an empty task volume ({sorted(set(found) - {'name'})}): give --volume"
        )


def _new_init(
    td: Mapping[str, Any],
    kind: str,
    *,
    name: str,
    volume: str,
    shared: str,
    env_file: str,
    nodes: Sequence[Mapping[str, Any]],
    options: AdoptOptions,
) -> dict[str, Any]:
    if not options.image:
        raise AdoptRefusedError(
            "--image: the node-heap-sidecar image to run is required "
            "(e.g. <account>.dkr.ecr.<region>.amazonaws.com/node-heap-sidecar:0.1.0)"
        )
    init: dict[str, Any] = {
        "name": name,
        "image": options.image,
        "essential": False,
        "readonlyRootFilesystem": True,
        "mountPoints": [{"sourceVolume": volume, "containerPath": shared, "readOnly": False}],
        "environment": [{"name": "NODE_HEAP_TARGET", "value": ""}, {"name": "NODE_HEAP_ENV_FILE", "value": env_file}],
        "logConfiguration": _init_logs(name, nodes, options),
    }
    others = [c for c in td["containerDefinitions"]]
    needs_memory = (kind == "task-definition" and not td.get("memory")) or (
        kind == "containers" and all(c.get("memory") or c.get("memoryReservation") for c in others)
    )
    if needs_memory:
        init["memory"] = options.init_memory_mib  # no task-level memory: every container needs its own (EC2)
    return init


def _init_logs(name: str, nodes: Sequence[Mapping[str, Any]], options: AdoptOptions) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    group: Any = options.log_group
    region: Any = options.log_region
    if group and region:
        pass
    else:
        app = next(
            (n["logConfiguration"] for n in nodes if (n.get("logConfiguration") or {}).get("logDriver") == "awslogs"),
            None,
        )
        if app is None:
            raise AdoptRefusedError(
                f"{nodes[0]['name']!r} does not log with awslogs, so the init container's log group is unknown: "
                "give --log-group and --log-region (its decision line is the record of what it did)"
            )
        opts = dict(app.get("options") or {})
        group, region = opts.get("awslogs-group"), opts.get("awslogs-region")
        if not group or not region:
            raise AdoptRefusedError(f"{nodes[0]['name']!r}'s awslogs options lack awslogs-group or awslogs-region")
        extra = {k: v for k, v in opts.items() if k in ("awslogs-create-group", "awslogs-endpoint")}
    return {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": group,
            "awslogs-region": region,
            "awslogs-stream-prefix": name,
            **extra,
            "mode": "blocking",
        },
    }


def _set_env(container: dict[str, Any], name: str, value: str) -> None:
    environment = container.setdefault("environment", [])
    for pair in environment:
        if isinstance(pair, dict) and pair.get("name") == name:
            pair["value"] = value
            return
    environment.append({"name": name, "value": value})


def _ensure_dependency(node: dict[str, Any], init_name: str) -> None:
    depends = node.setdefault("dependsOn", [])
    for dep in depends:
        if isinstance(dep, dict) and dep.get("containerName") == init_name:
            dep["condition"] = "SUCCESS"
            return
    depends.append({"containerName": init_name, "condition": "SUCCESS"})


def _ensure_mount(node: dict[str, Any], volume: str, shared: str) -> None:
    mounts = node.setdefault("mountPoints", [])
    for mount in mounts:
        if not isinstance(mount, dict) or str(mount.get("containerPath", "")).rstrip("/") != shared.rstrip("/"):
            continue
        if mount.get("sourceVolume") != volume:
            raise AdoptRefusedError(
                f"{node['name']!r} already mounts volume {mount.get('sourceVolume')!r} at {shared}: give --shared-path"
            )
        mount["readOnly"] = True
        return
    mounts.append({"sourceVolume": volume, "containerPath": shared, "readOnly": True})


def _current_argv(node: Mapping[str, Any], options: AdoptOptions) -> list[str]:
    """What the container runs today, in full; AdoptRefusedError when the task definition does not say."""
    name = str(node["name"])
    if name in options.argv:
        argv = [str(a) for a in options.argv[name]]
        if not argv:
            raise AdoptRefusedError(f"--argv {name}=[]: expected the program and its arguments")
        return argv
    entry, command = _words(node.get("entryPoint")), _words(node.get("command"))
    if entry:
        return entry + command  # ECS's entryPoint replaces the image's ENTRYPOINT and its CMD
    image_entry = _known_entrypoint(node.get("image"))
    if command and image_entry is not None:
        return image_entry + command
    what = "a command but no entryPoint" if command else "neither entryPoint nor command"
    raise AdoptRefusedError(
        f"{name!r} has {what}: what it runs depends on its image's ENTRYPOINT"
        f"{'' if command else ' and CMD'}, which the task definition does not contain; give the full argv with "
        f'--argv {name}=\'["node", "server.js"]\''
    )


def _wrap_sh(node: dict[str, Any], path: str, directory: str, options: AdoptOptions) -> None:
    name = str(node["name"])
    entry, command = _words(node.get("entryPoint")), _words(node.get("command"))
    if entry == ["sh", "-c"] and len(command) == 1 and name not in options.argv:
        unwrapped = unwrap_shell_command(command[0])
        if unwrapped is not None:
            node["command"] = [shell_command(path, unwrapped[1])]
            return
        sourced = re.findall(r"(?:^|[\s;&|(])\.\s+(\S+)", command[0])
        if path in sourced:
            return  # written by hand, already reads this file
        if any(posixpath.dirname(s) == directory and _SIDECAR_FILE.match(posixpath.basename(s)) for s in sourced):
            raise AdoptRefusedError(
                f"{name!r}'s hand-written command sources {', '.join(sourced)}; with these targets the init "
                f"container writes {path}: change it there"
            )
    if _shell_less(node.get("image")):
        raise AdoptRefusedError(f"{name!r} runs {node.get('image')}, which has no shell: use --mode env-file")
    argv = _current_argv(node, options)
    node["entryPoint"] = ["sh", "-c"]
    node["command"] = [shell_command(path, argv)]


def _wrap_env_file(node: dict[str, Any], path: str, directory: str, options: AdoptOptions) -> None:
    name = str(node["name"])
    if "NODE_OPTIONS" in environment_of(node):
        raise AdoptRefusedError(
            f"{name!r} sets NODE_OPTIONS in its environment: with --env-file Node ignores the file's NODE_OPTIONS "
            "and the heap flags are lost; move those flags to the node command line, or use --mode sh"
        )
    version = version_from_image(node.get("image") if isinstance(node.get("image"), str) else None)
    if version is not None and env_file_too_old(version):
        major, minor = version
        raise AdoptRefusedError(
            f"{name!r} runs Node {major}{'.' + str(minor) if minor is not None else ''}: `node --env-file` reads "
            "the sidecar's file from Node 20.20 / 21.7 on; use --mode sh or a newer image"
        )
    flag = f"--env-file={path}"
    for key in ("entryPoint", "command"):
        words = _words(node.get(key))
        for index, word in enumerate(words):
            match = _ENV_FILE_ARG.match(word)
            if (
                match
                and posixpath.dirname(match.group(1)) == directory
                and _SIDECAR_FILE.match(posixpath.basename(match.group(1)))
            ):
                words[index] = flag
                node[key] = words
                return
    entry, command = _words(node.get("entryPoint")), _words(node.get("command"))
    if name in options.argv:
        argv = _current_argv(node, options)
        at = _node_at(argv)
        if at is None:
            raise AdoptRefusedError(_not_node(name, argv))
        node["entryPoint"] = [*argv[: at + 1], flag]
        node["command"] = argv[at + 1 :]
        if not node["command"]:
            del node["command"]
        return
    for key, words in (("entryPoint", entry), ("command", command)):
        at = _node_at(words)
        if at is not None:  # node's own argv: the flag goes right after the program
            node[key] = [*words[: at + 1], flag, *words[at + 1 :]]
            return
    if not entry and _known_entrypoint(node.get("image")) == DISTROLESS_NODE_ENTRYPOINT:
        node["command"] = [flag, *command]  # the image's ENTRYPOINT is node itself
        return
    if not entry and not command:
        _current_argv(node, options)  # raises: what it runs is not in the task definition
    raise AdoptRefusedError(_not_node(name, entry + command))


def _node_at(words: Sequence[str]) -> int | None:
    return next((i for i, w in enumerate(words) if posixpath.basename(w) in _NODE), None)


def _not_node(name: str, argv: Sequence[str]) -> str:
    return (
        f"--mode env-file needs `node` itself in {name!r}'s argv ({shlex.join(argv) or 'empty'}): a launcher "
        "such as npm starts Node in a child that does not read --env-file, and a shell script hides it; "
        "use --mode sh, or give --argv"
    )


def _known_entrypoint(image: Any) -> list[str] | None:
    if not isinstance(image, str):
        return None
    name, _ = image_name(image)
    reference = image.split("@", 1)[0]
    repository = reference.rsplit(":", 1)[0] if ":" in reference.rsplit("/", 1)[-1] else reference
    parts = repository.split("/")
    # node, docker.io/node, docker.io/library/node, public.ecr.aws/docker/library/node, mirror.gcr.io/library/node
    if parts in (["node"], ["docker.io", "node"]) or parts[-2:] == ["library", "node"]:
        return list(OFFICIAL_NODE_ENTRYPOINT)
    if "distroless" in parts and name.startswith("nodejs"):
        return list(DISTROLESS_NODE_ENTRYPOINT)
    return None


def _shell_less(image: Any) -> bool:
    if not isinstance(image, str):
        return False
    name, tag = image_name(image)
    return "distroless" in image.split("/") and name.startswith("nodejs") and "debug" not in tag


def _words(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []
