"""A local task metadata endpoint v4, derived from a task definition, for running the init job off ECS.

Serves `GET /v4/<id>` (the init container) and `GET /v4/<id>/task` on 127.0.0.1 in the shapes of
the AWS examples (tests/fixtures/ecs/fargate-task-metadata.json, ec2-task-metadata.json), built from
a RegisterTaskDefinition document such as task-definition.json:
- FARGATE: task `Limits` always; a container's `Limits.Memory` only when it has `memory`; every
  container listed.
- EC2: task `Limits` only when the task has `memory`; a container's `Limits.Memory` is its `memory`
  or 0; containers that wait for the init container are not listed yet (they are created after it).
"""

from __future__ import annotations

import errno
import json
import subprocess
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sidecar.errors import NOT_EXECUTABLE_EXIT, NOT_FOUND_EXIT, SettingsError, SidecarError, SourceError
from sidecar.sizing.containers import EXITS_BEFORE, find_init_container, list_containers
from sidecar.sources.ecs_api import parse_task_definition
from sidecar.text import shown

ACCOUNT = "123456789012"


@dataclass(frozen=True, slots=True)
class EmulatedTask:
    container: dict[str, Any]  # the `${uri}` document
    task: dict[str, Any]  # the `${uri}/task` document


def load_task_definition(path: Path) -> dict[str, Any]:
    """A task definition file (RegisterTaskDefinition input, or DescribeTaskDefinition output)."""
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise SettingsError([f"--task-definition={str(path)!r}: {exc.strerror}"]) from None
    except ValueError as exc:
        raise SettingsError([f"--task-definition={str(path)!r}: expected JSON ({exc})"]) from None
    if isinstance(doc, dict) and isinstance(doc.get("taskDefinition"), dict):
        doc = doc["taskDefinition"]
    if not isinstance(doc, dict) or not isinstance(doc.get("containerDefinitions"), list):
        raise SettingsError([f"--task-definition={str(path)!r}: expected containerDefinitions"])
    return doc


def init_container_name(definition: Mapping[str, Any]) -> str:
    """This sidecar's init container in `definition`, found as the init job finds itself without `${uri}`
    (sizing/containers.py `find_init_container`)."""
    try:
        parsed = parse_task_definition({"taskDefinition": dict(definition)})
    except SourceError as exc:
        raise SettingsError([f"--task-definition: {exc}"]) from None
    found = find_init_container(list_containers(None, None, parsed))
    if found is None:
        raise SettingsError(
            ["--self: the task definition has no init container (none runs node-heap-sidecar or is waited on to exit)"]
        )
    return found[0]


def build_task(
    definition: Mapping[str, Any],
    *,
    launch_type: str = "FARGATE",
    self_name: str | None = None,
    task_memory_mib: int | None = None,
    region: str = "us-east-1",
    cluster: str = "default",
    task_id: str | None = None,
) -> EmulatedTask:
    """The TMDS v4 documents for `definition` running as one task."""
    self_name = self_name or init_container_name(definition)
    names = [str(item.get("name")) for item in definition["containerDefinitions"]]
    if self_name not in names:
        raise SettingsError([f"--self={self_name!r}: no such container (containers: {', '.join(names)})"])
    task_id = task_id or uuid.uuid4().hex
    family = str(definition.get("family", "emulated"))
    revision = str(definition.get("revision", 1))
    memory = task_memory_mib if task_memory_mib is not None else _int(definition.get("memory"))
    fargate = launch_type == "FARGATE"
    containers = []
    for index, item in enumerate(definition["containerDefinitions"]):
        waits_for_init = any(
            dep.get("containerName") == self_name and str(dep.get("condition", "")).upper() in EXITS_BEFORE
            for dep in item.get("dependsOn") or []
        )
        if not fargate and waits_for_init:
            continue  # EC2: created only after the init container exits
        limits: dict[str, Any] = {"CPU": _int(item.get("cpu")) or 2}
        if _int(item.get("memory")):
            limits["Memory"] = _int(item.get("memory"))
        elif not fargate:
            limits["Memory"] = 0
        name = str(item["name"])
        docker_id = f"{task_id}-{index:010d}" if fargate else uuid.uuid5(uuid.NAMESPACE_OID, task_id + name).hex * 2
        containers.append(
            {
                "DockerId": docker_id,
                "Name": name,
                "DockerName": name if fargate else f"ecs-{family}-{revision}-{name}-{docker_id[:16]}",
                "Image": item.get("image", ""),
                "ImageID": "sha256:" + "0" * 64,
                "Labels": {
                    "com.amazonaws.ecs.cluster": f"arn:aws:ecs:{region}:{ACCOUNT}:cluster/{cluster}",
                    "com.amazonaws.ecs.container-name": name,
                    "com.amazonaws.ecs.task-arn": f"arn:aws:ecs:{region}:{ACCOUNT}:task/{cluster}/{task_id}",
                    "com.amazonaws.ecs.task-definition-family": family,
                    "com.amazonaws.ecs.task-definition-version": revision,
                },
                "DesiredStatus": "RUNNING",
                "KnownStatus": "RUNNING" if name == self_name else "PULLED",
                "Limits": limits,
                "Type": "NORMAL",
            }
        )
    task: dict[str, Any] = {
        "Cluster": f"arn:aws:ecs:{region}:{ACCOUNT}:cluster/{cluster}",
        "TaskARN": f"arn:aws:ecs:{region}:{ACCOUNT}:task/{cluster}/{task_id}",
        "Family": family,
        "Revision": revision,
        "DesiredStatus": "RUNNING",
        "KnownStatus": "RUNNING",
        "Containers": containers,
        "AvailabilityZone": f"{region}a",
        "LaunchType": launch_type,
    }
    if memory:
        task["Limits"] = {"CPU": (_int(definition.get("cpu")) or 1024) / 1024, "Memory": memory}
    elif fargate:
        raise SettingsError(["--task-definition: a Fargate task needs a task-level memory"])
    own = next(c for c in containers if c["Name"] == self_name)
    return EmulatedTask(container=own, task=task)


class Emulator:
    """The endpoint on 127.0.0.1 (port 0 = any free port); a context manager."""

    def __init__(self, emulated: EmulatedTask, *, port: int = 0) -> None:
        self.emulated = emulated
        self.path_id = emulated.container["DockerId"]
        documents = {f"/v4/{self.path_id}": emulated.container, f"/v4/{self.path_id}/task": emulated.task}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                doc = documents.get(self.path.rstrip("/"))
                body = json.dumps(doc if doc is not None else "V4 metadata handler: unable to get task").encode()
                self.send_response(200 if doc is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # keep stdout for the job's JSON
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v4/{self.path_id}"

    def __enter__(self) -> Emulator:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def container_environment(definition: Mapping[str, Any], name: str) -> dict[str, str]:
    """The `environment` the task definition gives container `name`."""
    for item in definition["containerDefinitions"]:
        if item.get("name") == name:
            return {
                str(pair["name"]): str(pair.get("value", ""))
                for pair in item.get("environment") or []
                if isinstance(pair, dict) and "name" in pair
            }
    return {}


def run_command(
    emulated: EmulatedTask,
    command: Sequence[str],
    environ: Mapping[str, str],
    *,
    task_environment: Mapping[str, str] | None = None,
    port: int = 0,
) -> int:
    """Run `command` as the init container: the task definition's environment for it, then `environ`
    (which wins, e.g. a local NODE_HEAP_ENV_FILE), and ECS_CONTAINER_METADATA_URI_V4 pointing here."""
    with Emulator(emulated, port=port) as endpoint:
        env = {**(task_environment or {}), **environ, "ECS_CONTAINER_METADATA_URI_V4": endpoint.uri}
        try:
            return subprocess.run(list(command), env=env, check=False).returncode
        except OSError as exc:  # not found, not executable: the shell's own exit codes
            raise CommandError(f"emulate: cannot run {shown(command[0])}: {exc.strerror or exc}", exc.errno) from None


class CommandError(SidecarError):
    """`emulate -- COMMAND` could not start COMMAND; exit 127 (not found) or 126 (not executable), as a shell."""

    def __init__(self, message: str, errno_code: int | None) -> None:
        super().__init__(message)
        self.exit_code = NOT_FOUND_EXIT if errno_code == errno.ENOENT else NOT_EXECUTABLE_EXIT


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None
