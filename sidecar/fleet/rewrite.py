"""adopt's rewrite of a task definition: the sidecar wired in front of its Node container(s). Pure.

What it writes is what task-definition.json and deploy/*.json ship: an init container (this image,
`essential: false`, read-only root, the settings, logs where the app logs), a task volume mounted
read-write there and read-only in Node, `dependsOn` SUCCESS, `initProcessEnabled`, and an entry point
that reads the env file and then runs exactly what the container ran before, byte for byte:

- what it ran comes from fleet/runs.py: the task definition's entryPoint/command and the image's
  ENTRYPOINT/CMD (read by fleet/images.py) by Docker's rules; an image's own entrypoint script
  (docker-entrypoint.sh) stays in front. When it cannot be known, adopt refuses and quotes the
  container's own command and the `--argv` that keeps it; it never guesses a program.
- `sh` (images with a shell): `entryPoint ["sh", "-c"]`, `command [". FILE && exec ARGV"]`, every word
  quoted for POSIX sh (tests/test_adopt_shells.py runs it in dash, bash and busybox sh). Node older
  than 8 reads no NODE_OPTIONS: the file's flags are put on node's command line (`$NODE_HEAP_OPTIONS`)
  when node is started directly, else adopt refuses.
- `env-file` (images without a shell, such as distroless, whose argv starts node):
  `--env-file=FILE` right after node; Node must read the sidecar's file that way (20.20 / 21.7 on).
- `auto` (the default): `env-file` for an image without a shell, else `sh`.
The Node version (the image's NODE_VERSION) goes to the init job as NODE_HEAP_NODE_VERSION, and tmpfs
and /dev/shm sizes as NODE_HEAP_TMPFS_MIB, for when the job cannot read the task definition.
Every problem is collected and reported at once (AdoptRefusedError), each naming its container.
Adopting an adopted definition gives it back unchanged: every step is "make sure", and the wrapper it
wrote is recognised and unwrapped first.
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

from sidecar.errors import AdoptRefusedError, SettingsError, SourceError
from sidecar.fleet.definitions import environment_of, without_nulls, words
from sidecar.fleet.images import ImageLookup
from sidecar.fleet.recognize import Recognition, cluster_hints, recognize
from sidecar.fleet.runs import NotKnown, Runs, find_node
from sidecar.fleet.sizing import JobView, parse_definition, read_settings, size_container
from sidecar.fleet.wiring import find_init_containers, mount_holding
from sidecar.outputs.envfile import env_file_too_old, how_node_reads, is_sidecar_file
from sidecar.settings import VARS
from sidecar.sizing.decide import env_file_for
from sidecar.sizing.footprints import find_footprint
from sidecar.text import shown

MODES = ("auto", "sh", "env-file")
NODE_OPTIONS_FROM_MAJOR = 8  # Node reads NODE_OPTIONS from 8.0 on (nodejs/node CHANGELOG_V8)
DEFAULT_ENV_FILE = next(str(var.default) for var in VARS if var.field == "env_file")
HEAP_OPTIONS_WORD = "$NODE_HEAP_OPTIONS"  # expanded by sh: the file's flags on node's command line
_ENV_FILE_ARG = re.compile(r"^--env-file=(.+)$")


@dataclass(frozen=True, slots=True)
class AdoptOptions:
    image: str | None = None
    containers: tuple[str, ...] = ()  # the Node containers; () = every container recognised as Node
    mode: str = "auto"  # auto | sh | env-file
    settings: tuple[tuple[str, str], ...] = ()  # NODE_HEAP_* for the init container
    argv: Mapping[str, Sequence[str]] = field(default_factory=dict)  # what a container runs today, in full
    new_argv: tuple[str, ...] = ()  # containers whose --argv is meant to change what they run
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


class NoNodeFound(AdoptRefusedError):
    """No container of the definition runs Node (in a document of several, that one is left as it is)."""


@dataclass(slots=True)
class _Context:
    """One adoption under way: the definition being rewritten and what was found wrong or worth saying."""

    td: dict[str, Any]
    kind: str
    options: AdoptOptions
    lookups: Mapping[str, ImageLookup]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    recognized: dict[str, Recognition] = field(default_factory=dict)  # by container, before any rewrite

    @property
    def containers(self) -> list[dict[str, Any]]:
        containers: list[dict[str, Any]] = self.td["containerDefinitions"]
        return containers

    def by_name(self) -> dict[str, dict[str, Any]]:
        return {str(c["name"]): c for c in self.containers}

    def recognition(self, container: Mapping[str, Any]) -> Recognition:
        """What `container` runs, read once, before the rewrite changes its entry point."""
        name = str(container["name"])
        if name not in self.recognized:
            image = container.get("image")
            self.recognized[name] = recognize(container, self.lookups.get(image) if isinstance(image, str) else None)
        return self.recognized[name]


def adopt_definition(
    kind: str, definition: dict[str, Any], options: AdoptOptions, lookups: Mapping[str, ImageLookup] | None = None
) -> Adoption:
    """The task definition with the sidecar wired in. AdoptRefusedError lists every reason it cannot be
    done safely; SettingsError (exit 2) a bad argument. `lookups` are the images' configs (images.py)."""
    if options.mode not in MODES:
        raise SettingsError([f"--mode {options.mode!r}: expected one of {', '.join(MODES)}"])
    td = without_nulls(copy.deepcopy(definition))  # console exports: null is absent
    before = copy.deepcopy(td)
    containers = td.get("containerDefinitions")
    if not isinstance(containers, list) or not all(isinstance(c, dict) for c in containers):
        raise AdoptRefusedError("containerDefinitions: expected a list of container objects")
    unnamed = [c.get("name") for c in containers if not (isinstance(c.get("name"), str) and c["name"])]
    if unnamed:
        raise AdoptRefusedError(
            [
                f"a container's name is {shown(str(name)) if name is not None else 'missing'}"
                + (
                    ": an unrendered template (an intrinsic function); adopt the task definition as deployed "
                    "(`aws ecs describe-task-definition --task-definition FAMILY`), or write the name"
                    if name is not None
                    else ""
                )
                for name in unnamed
            ]
        )
    ctx = _Context(td, kind, options, lookups or {})
    by_name = ctx.by_name()

    existing = _existing_init(ctx)
    init_name = existing.init if existing is not None else options.init_name
    if existing is None and init_name in by_name:
        ctx.problems.append(
            f"a container named {init_name!r} exists and does not run node-heap-sidecar: give --init-name"
        )
    targets = _targets(ctx, init_name, existing)
    if existing is not None and existing.settings is not None:
        env_file = str(existing.settings.env_file)
        init_mount = mount_holding(by_name[init_name], posixpath.dirname(env_file))
        if init_mount is None:
            ctx.problems.append(f"{init_name!r} mounts no volume where it writes {env_file}: fix or remove it")
            volume, shared = options.volume, posixpath.dirname(env_file)
        else:
            volume, shared = str(init_mount["sourceVolume"]), str(init_mount["containerPath"])
    else:
        volume, shared = options.volume, options.shared_path.rstrip("/") or "/"
        env_file = posixpath.join(shared, posixpath.basename(DEFAULT_ENV_FILE))

    recognitions = {name: ctx.recognition(by_name[name]) for name in targets}
    for name in targets:
        _wire(
            ctx,
            by_name[name],
            recognitions[name],
            init_name=init_name,
            volume=volume,
            shared=shared,
            env_file=env_file,
            targets=targets,
        )
    if ctx.problems:
        raise AdoptRefusedError(ctx.problems)

    _ensure_volume(ctx, volume)
    init = by_name.get(init_name)
    if init is None:
        nodes = [by_name[t] for t in targets]
        init = _new_init(ctx, init_name, volume=volume, shared=shared, env_file=env_file, nodes=nodes)
        ctx.containers.insert(0, init)
    elif options.image and init.get("image") != options.image:
        init["image"] = options.image
    _set_env(init, "NODE_HEAP_TARGET", ",".join(targets))
    for variable, value in _derived_settings(ctx, [by_name[t] for t in targets], recognitions, init):
        _set_env(init, variable, value)
    for variable, value in options.settings:
        _set_env(init, variable, value)
    _, problem = read_settings(environment_of(init))
    if problem:
        raise SettingsError([f"{init_name}: {problem}"])
    if ctx.problems:
        raise AdoptRefusedError(ctx.problems)

    _closing_notes(ctx, init, targets, recognitions)
    document: Any = td["containerDefinitions"] if kind == "containers" else td
    return Adoption(document, td != before, tuple(targets), tuple(ctx.notes))


def _existing_init(ctx: _Context) -> JobView | None:
    try:
        inits = find_init_containers(ctx.containers)
    except SourceError as exc:
        raise AdoptRefusedError(f"input: {exc}") from None
    if len(inits) > 1:
        ctx.problems.append(f"several init containers of this sidecar ({', '.join(i.init for i in inits)}): keep one")
    existing = inits[0] if inits else None
    if existing is not None and existing.settings is None:
        ctx.problems.append(f"{existing.init!r}'s settings are invalid: {existing.settings_problem}")
    return existing


def _targets(ctx: _Context, init_name: str, existing: JobView | None) -> list[str]:
    """The Node containers to wire: --container, else every container recognised as Node, plus those the
    existing init container already sizes."""
    by_name = ctx.by_name()
    names = list(by_name)
    bad = [name for name in ctx.options.containers if name not in by_name or name == init_name]
    if bad:
        raise SettingsError(
            [
                f"--container {name!r}: "
                + (
                    "it is the sidecar's init container"
                    if name == init_name
                    else f"no such container ({', '.join(names)})"
                )
                for name in bad
            ]
        )
    already = [n for n in (existing.targets if existing else ()) if n in by_name and n != init_name]
    chosen = list(ctx.options.containers)
    if not chosen:
        chosen = [n for n in names if n != init_name and ctx.recognition(by_name[n]).is_node]
    merged = already + [n for n in chosen if n not in already]
    if not merged:
        raise NoNodeFound(_no_node_found(ctx, init_name))
    for name in merged:
        recognition = ctx.recognition(by_name[name])
        if "name" in recognition.unrendered:
            ctx.problems.append(
                f"container {name!r}: its name is an unrendered template placeholder; adopt "
                "the rendered task definition (the JSON your pipeline registers, or `terraform show -json`)"
            )
    return [n for n in names if n in merged]  # the task definition's order


def _no_node_found(ctx: _Context, init_name: str) -> str:
    """Why no container was taken for Node, container by container."""
    reasons = []
    for container in ctx.containers:
        name = str(container["name"])
        if name == init_name:
            continue
        recognition = ctx.recognition(container)
        image = container.get("image")
        if recognition.unrendered:
            fields = ", ".join(f"{field} {shown(container.get(field))}" for field in recognition.unrendered)
            reasons.append(f"{name!r}: an unrendered template ({fields})")
        elif find_footprint(name, image if isinstance(image, str) else None, _firelens_type(container)) is not None:
            reasons.append(f"{name!r} is a known sidecar ({image})")
        elif isinstance(recognition.runs, Runs):
            reasons.append(f"{name!r} runs {shlex.join(recognition.runs.argv)}")
        else:
            why = f"; {recognition.image_note}" if recognition.image_note else ""
            reasons.append(f"{name!r}: what it runs is {recognition.runs.why}{why}")
    return (
        "no container runs Node ("
        + "; ".join(reasons)
        + "): if one does, name it with --container NAME"
        + (" and give what it runs with --argv" if any("what it runs is" in r for r in reasons) else "")
    )


def _firelens_type(container: Mapping[str, Any]) -> str | None:
    firelens = container.get("firelensConfiguration")
    kind = firelens.get("type") if isinstance(firelens, Mapping) else None
    return kind if isinstance(kind, str) else None


def _wire(
    ctx: _Context,
    node: dict[str, Any],
    recognition: Recognition,
    *,
    init_name: str,
    volume: str,
    shared: str,
    env_file: str,
    targets: Sequence[str],
) -> None:
    """Wire one Node container: its wrapper, the dependency, the mount, initProcessEnabled."""
    name = str(node["name"])
    path = str(env_file_for(PurePosixPath(env_file), targets, name))
    mode = ctx.options.mode
    if mode == "auto":
        mode = "env-file" if recognition.shell_less else "sh"
    count = len(ctx.problems)
    if mode == "env-file":
        _wrap_env_file(ctx, node, recognition, path, posixpath.dirname(env_file))
    else:
        _wrap_sh(ctx, node, recognition, path, posixpath.dirname(env_file))
    if len(ctx.problems) > count:
        return
    _ensure_dependency(node, init_name)
    _ensure_mount(ctx, node, volume, shared)
    linux = node.setdefault("linuxParameters", {})
    linux["initProcessEnabled"] = True


def _current_argv(ctx: _Context, node: Mapping[str, Any], recognition: Recognition) -> tuple[str, ...] | None:
    """What the container runs today, in full; None (with the problem recorded) when it is not known or a
    given --argv would change it without being told to."""
    name = str(node["name"])
    command = tuple(words(node.get("command")))
    runs = recognition.runs
    if name in ctx.options.argv:
        given = tuple(str(a) for a in ctx.options.argv[name])
        quoted = shown(list(given), 200)
        if not given:
            ctx.problems.append(f"--argv {name}=[]: expected the program and its arguments")
            return None
        if name not in ctx.options.new_argv:
            if command and given[len(given) - len(command) :] != command:
                ctx.problems.append(
                    f"--argv {name}={quoted} does not end with {name!r}'s command {shown(list(command), 200)}: it "
                    f"would change what runs; add --new-argv {name} if that is meant"
                )
                return None
            if isinstance(runs, Runs) and given != runs.argv:
                ctx.problems.append(
                    f"{name!r} runs {shown(list(runs.argv), 200)} ({runs.where}); --argv {name}={quoted} would "
                    f"change it; add --new-argv {name} if that is meant"
                )
                return None
        return given
    held = [field for field in ("entryPoint", "command") if field in recognition.unrendered]
    if held:
        ctx.problems.append(
            f"{name!r}'s {' and '.join(held)} holds a template value (an intrinsic function), which the wrapper "
            f"cannot quote: adopt the task definition as deployed, or give what it runs with --argv {name}='[...]'"
        )
        return None
    if isinstance(runs, Runs):
        return runs.argv
    ctx.problems.append(_unknown_argv(name, node, recognition, runs))
    return None


def _unknown_argv(name: str, node: Mapping[str, Any], recognition: Recognition, runs: NotKnown) -> str:
    """Why adopt cannot wrap a container whose program it could not read, quoting only what it did read."""
    image = node.get("image")
    if "image" in recognition.unrendered:
        why = f"its image {shown(str(image))} is an unrendered template placeholder"
    elif recognition.image_note:
        why = f"its image could not be read ({recognition.image_note})"
    else:
        why = f"its image {shown(image)} was not read"
    command = words(node.get("command"))
    if command:
        keep = shlex.quote(_json(command))
        with_script = shlex.quote(_json(["docker-entrypoint.sh", *command]))
        return (
            f"{name!r} has command {_json(command)} and no entryPoint, so what runs in front of it is its image's "
            f"ENTRYPOINT, and {why}: give it with --argv {name}={keep} if the image has no ENTRYPOINT, or "
            f"--argv {name}={with_script} if it is node's docker-entrypoint.sh"
        )
    return (
        f"{name!r} leaves its program to its image (no entryPoint, no command), and {why}: run adopt where "
        f"the image can be read (docker login; for ECR, AWS credentials with ecr:GetAuthorizationToken), or "
        f"give --argv {name}='[...]' with the image's Entrypoint + Cmd "
        f"(docker inspect --format '{{{{json .Config.Entrypoint}}}} {{{{json .Config.Cmd}}}}' IMAGE)"
    )


def _wrap_sh(ctx: _Context, node: dict[str, Any], recognition: Recognition, path: str, directory: str) -> None:
    name = str(node["name"])
    entry, command = words(node.get("entryPoint")), words(node.get("command"))
    if entry == ["sh", "-c"] and len(command) == 1 and name not in ctx.options.argv:
        unwrapped = unwrap_shell_command(command[0])
        if unwrapped is not None:
            node["command"] = [shell_command(path, unwrapped[1])]
            return
        sourced = list(how_node_reads([command[0]]).paths)
        if path in sourced:
            return  # written by hand, already reads this file
        if any(is_sidecar_file(s, directory) for s in sourced):
            ctx.problems.append(
                f"{name!r}'s hand-written command sources {', '.join(sourced)}; with these targets the init "
                f"container writes {path}: change it there"
            )
            return
    if recognition.shell_less:
        ctx.problems.append(f"{name!r} runs {node.get('image')}, which has no shell: use --mode env-file")
        return
    argv = _current_argv(ctx, node, recognition)
    if argv is None:
        return
    version = recognition.node_version
    if version is not None and version[0] < NODE_OPTIONS_FROM_MAJOR:
        start = find_node(argv)
        if start is None or start.flag_at is None:
            ctx.problems.append(
                f"{name!r} runs Node {_version(version)} ({recognition.node_version_where}), which reads no "
                f"NODE_OPTIONS (Node {NODE_OPTIONS_FROM_MAJOR} and later do), and starts it through "
                f"{start.how if start else 'a program adopt cannot see into'}: the heap flags cannot reach it; "
                "upgrade Node, or start node directly"
            )
            return
        argv = (*argv[: start.flag_at], HEAP_OPTIONS_WORD, *argv[start.flag_at :])
        ctx.notes.append(
            f"{name!r} runs Node {_version(version)}, which reads no NODE_OPTIONS: the file's flags go on "
            f"node's command line ({HEAP_OPTIONS_WORD})"
        )
    _note_baked_cmd(ctx, name, recognition)
    node["entryPoint"] = ["sh", "-c"]
    node["command"] = [shell_command(path, argv)]


def _wrap_env_file(ctx: _Context, node: dict[str, Any], recognition: Recognition, path: str, directory: str) -> None:
    name = str(node["name"])
    if "NODE_OPTIONS" in environment_of(node):
        ctx.problems.append(
            f"{name!r} sets NODE_OPTIONS in its environment: with --env-file Node ignores the file's NODE_OPTIONS "
            "and the heap flags are lost; move those flags to the node command line, or use --mode sh"
        )
        return
    version = recognition.node_version
    if version is not None and env_file_too_old(version):
        ctx.problems.append(
            f"{name!r} runs Node {_version(version)} ({recognition.node_version_where}): `node --env-file` reads the "
            "sidecar's file from Node 20.20 / 21.7 on; use --mode sh or a newer image"
        )
        return
    flag = f"--env-file={path}"
    for key in ("entryPoint", "command"):
        given = words(node.get(key))
        for index, word in enumerate(given):
            match = _ENV_FILE_ARG.match(word)
            if match and is_sidecar_file(match.group(1), directory):
                given[index] = flag
                node[key] = given
                return
    argv = _current_argv(ctx, node, recognition)
    if argv is None:
        return
    start = find_node(argv)
    if start is None or start.flag_at is None:
        ctx.problems.append(
            f"--mode env-file needs node itself in {name!r}'s argv ({shlex.join(argv)}): a launcher such as npm "
            "starts Node in a child that does not read --env-file, and a shell script hides it; use --mode sh, or "
            "give --argv"
        )
        return
    _note_baked_cmd(ctx, name, recognition)
    at = start.flag_at
    runs = recognition.runs
    image_entry = runs.entrypoint if isinstance(runs, Runs) and not words(node.get("entryPoint")) else None
    if image_entry and name not in ctx.options.argv and at == len(image_entry) and argv[:at] == image_entry:
        node["command"] = [flag, *argv[at:]]  # the image's ENTRYPOINT ends with node: only its arguments change
        return
    node["entryPoint"] = [*argv[:at], flag]
    node["command"] = list(argv[at:])
    if not node["command"]:
        del node["command"]


def _note_baked_cmd(ctx: _Context, name: str, recognition: Recognition) -> None:
    runs = recognition.runs
    if name not in ctx.options.argv and isinstance(runs, Runs) and "image" in runs.where:
        ctx.notes.append(
            f"{name!r}: what its image runs ({shlex.join(runs.argv)}) is now written in the task definition; an "
            "image that runs something else needs adopt again"
        )


def shell_command(env_file: str, argv: Sequence[str]) -> str:
    """`. FILE && exec ARGV`, every word quoted for POSIX sh (but `$NODE_HEAP_OPTIONS`, left to sh)."""
    words = [word if word == HEAP_OPTIONS_WORD else shlex.quote(word) for word in argv]
    return f". {shlex.quote(env_file)} && exec {' '.join(words)}"


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


def _ensure_volume(ctx: _Context, volume: str) -> None:
    if ctx.kind == "containers":
        ctx.notes.append(
            f'a containerDefinitions list has no volumes: add the task volume {{"name": "{volume}"}} to the '
            f'task definition (Terraform: volume {{ name = "{volume}" }})'
        )
        return
    volumes = ctx.td.setdefault("volumes", [])
    found = next((v for v in volumes if isinstance(v, dict) and v.get("name") == volume), None)
    if found is None:
        volumes.append({"name": volume})
    elif set(found) - {"name", "host"} or (found.get("host") or {}).get("sourcePath"):
        ctx.problems.append(
            f"volume {volume!r} exists and is not an empty task volume ({sorted(set(found) - {'name'})}): give --volume"
        )


def _new_init(
    ctx: _Context, name: str, *, volume: str, shared: str, env_file: str, nodes: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    if not ctx.options.image:
        raise SettingsError(
            [
                "--image: the node-heap-sidecar image to run is required "
                "(e.g. <account>.dkr.ecr.<region>.amazonaws.com/node-heap-sidecar:0.2.0)"
            ]
        )
    init: dict[str, Any] = {
        "name": name,
        "image": ctx.options.image,
        "essential": False,
        "readonlyRootFilesystem": True,
        "mountPoints": [{"sourceVolume": volume, "containerPath": shared, "readOnly": False}],
        "environment": [{"name": "NODE_HEAP_TARGET", "value": ""}, {"name": "NODE_HEAP_ENV_FILE", "value": env_file}],
    }
    logs = _init_logs(ctx, name, nodes)
    if logs is not None:
        init["logConfiguration"] = logs
    others = list(ctx.containers)
    needs_memory = (ctx.kind == "task-definition" and not ctx.td.get("memory")) or (
        ctx.kind == "containers" and all(c.get("memory") or c.get("memoryReservation") for c in others)
    )
    if needs_memory:
        init["memory"] = ctx.options.init_memory_mib  # no task-level memory: every container needs its own (EC2)
    return init


def _init_logs(ctx: _Context, name: str, nodes: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """awslogs next to the app's (blocking: the decision line must not be dropped), else the app's own log
    configuration, else none (a note says so)."""
    options = ctx.options
    group: Any = options.log_group
    region: Any = options.log_region
    extra: dict[str, Any] = {}
    if not (group and region):
        configs: list[Mapping[str, Any]] = [
            n["logConfiguration"] for n in nodes if isinstance(n.get("logConfiguration"), dict)
        ]
        awslogs = next((c for c in configs if c.get("logDriver") == "awslogs"), None)
        opts = dict(awslogs.get("options") or {}) if awslogs is not None else {}
        group, region = group or opts.get("awslogs-group"), region or opts.get("awslogs-region")
        extra = {k: v for k, v in opts.items() if k in ("awslogs-create-group", "awslogs-endpoint")}
        if not (group and region):
            if configs:
                ctx.notes.append(
                    f"{name!r} logs as {nodes[0]['name']!r} does ({configs[0].get('logDriver')}): its decision line "
                    "goes where the app's logs go (--log-group and --log-region send it to CloudWatch Logs)"
                )
                return copy.deepcopy(dict(configs[0]))
            ctx.notes.append(
                f"warning: {nodes[0]['name']!r} has no logConfiguration, so {name!r} logs nowhere and its decision "
                "line is lost: give --log-group and --log-region"
            )
            return None
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


def _derived_settings(
    ctx: _Context, nodes: Sequence[Mapping[str, Any]], recognitions: Mapping[str, Recognition], init: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """What only the image or the task definition knows, baked in for when the job cannot read them: the
    Node major the image declares, and the Node container's tmpfs and /dev/shm sizes."""
    found: list[tuple[str, str]] = []
    given = {name for name, _ in ctx.options.settings} | set(environment_of(init))
    majors = {
        r.node_version[0]
        for r in recognitions.values()
        if r.node_version and "NODE_VERSION" in (r.node_version_where or "")
    }
    if "NODE_HEAP_NODE_VERSION" not in given and len(majors) == 1:
        found.append(("NODE_HEAP_NODE_VERSION", str(majors.pop())))
    elif len(majors) > 1:
        ctx.notes.append(
            f"the Node containers run different Node majors ({', '.join(map(str, sorted(majors)))}): "
            "NODE_HEAP_NODE_VERSION is not set, each image tag (or the conservative profile) is used"
        )
    files = [_memory_files(node) for node in nodes]
    if "NODE_HEAP_TMPFS_MIB" not in given and files and files[0] and all(f == files[0] for f in files):
        found.append(("NODE_HEAP_TMPFS_MIB", ",".join(f"{path}={size}" for path, size in files[0])))
    return found


def _memory_files(node: Mapping[str, Any]) -> list[tuple[str, int]]:
    """tmpfs mounts and /dev/shm of a container, in MiB (charged to its memory cgroup when written)."""
    linux = node.get("linuxParameters") if isinstance(node.get("linuxParameters"), Mapping) else {}
    assert isinstance(linux, Mapping)
    found = [
        (str(mount["containerPath"]), int(mount["size"]))
        for mount in linux.get("tmpfs") or []
        if isinstance(mount, Mapping)
        and isinstance(mount.get("containerPath"), str)
        and isinstance(mount.get("size"), int)
    ]
    if isinstance(linux.get("sharedMemorySize"), int) and linux["sharedMemorySize"] > 0:
        found.append(("/dev/shm", int(linux["sharedMemorySize"])))
    return found


def _closing_notes(
    ctx: _Context, init: Mapping[str, Any], targets: Sequence[str], recognitions: Mapping[str, Recognition]
) -> None:
    by_name = ctx.by_name()
    environment = environment_of(init)
    for name in targets:
        hints = cluster_hints(by_name[name], recognitions[name].runs)
        if hints and environment.get("NODE_HEAP_PROCESSES") in (None, "", "1"):
            ctx.notes.append(
                f"{name!r} runs several Node processes ({', '.join(hints)}): set --set NODE_HEAP_PROCESSES=N"
            )
    if ctx.kind == "task-definition" and not ctx.td.get("taskRoleArn"):
        ctx.notes.append(
            "no taskRoleArn: the init container cannot call the ECS API; on EC2 it then cannot read the Node "
            "container's own memory limit (give the task role deploy/task-role-policy.json)"
        )
    if ctx.kind != "task-definition":
        return
    try:
        definition = parse_definition(ctx.td)
    except SourceError:
        return
    view = next((v for v in find_init_containers(ctx.containers) if v.init == str(init["name"])), None)
    for name in targets:
        sizing = size_container(definition, name, view=view)
        if sizing.plan is None:
            ctx.notes.append(
                f"warning: {name!r} has no hard memory limit (no container memory, no task memory"
                + (f", only a reservation of {sizing.spec.reservation_mib} MiB" if sizing.spec.reservation_mib else "")
                + "): the init job will find no limit and write no heap flag; give the task or the container a memory"
            )


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


def _ensure_mount(ctx: _Context, node: dict[str, Any], volume: str, shared: str) -> None:
    mounts = node.setdefault("mountPoints", [])
    for mount in mounts:
        if not isinstance(mount, dict) or str(mount.get("containerPath", "")).rstrip("/") != shared.rstrip("/"):
            continue
        if mount.get("sourceVolume") != volume:
            ctx.problems.append(
                f"{node['name']!r} already mounts volume {mount.get('sourceVolume')!r} at {shared}: give --shared-path"
            )
            return
        mount["readOnly"] = True
        return
    mounts.append({"sourceVolume": volume, "containerPath": shared, "readOnly": True})


def _version(version: tuple[int, int | None]) -> str:
    major, minor = version
    return f"{major}" + (f".{minor}" if minor is not None else "")


def _json(words: Sequence[str]) -> str:
    import json  # noqa: PLC0415 (only for messages)

    return json.dumps(list(words))
