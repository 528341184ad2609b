"""An ECS task's cgroups as the agent lays them out on a cgroup v2 host, built from real cgroups.

Facts (research/ecs.md, "cgroup v2 on ECS"):
- containers live in `/sys/fs/cgroup/ecstasks.slice/ecstasks-<TASK_ID>.slice/docker-<ID>.scope`,
  and the task-level limit is `memory.max` on the task's slice (amazon-ecs-agent PR #3127/#3161);
  v1 has `/ecs/<task-id>/<container-id>` instead;
- Docker's default on v2 is a private cgroup namespace: the container sees its own cgroup as
  `/sys/fs/cgroup` (mounted read-only) and `/proc/self/cgroup` reads `0::/` (moby#41071), so the
  slice's limit is not visible from inside;
- with `ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2=true` the agent copies the task limit onto each
  container without a limit of its own (amazon-ecs-agent PR #4986).
The TMDS documents are the AWS EC2 examples (tests/fixtures/ecs) with a task size added, as the
agent reports one (PR aws/amazon-ecs-agent#4376 shows `"Limits": {"CPU": 1, "Memory": 3072}`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from tests.memcg import MIB, MemoryCgroup
from tests.servers import ecs_payload

SLICE = "ecstasks.slice"
TASK_ID = "158d1c8083dd49d6b527399fd6414f5c"  # the task id of ec2-task-metadata.json's TaskARN
INIT_ID = "ee08638adaaf009d78c248913f629e38299471d45fe7dc944d1039077e3424ca"  # its listed container
APP_ID = "0c1bd7b38a8b6d6e5e3e5f9d4f6b0f1a2b3c4d5e6f708192a3b4c5d6e7f80910"  # made up: not listed yet
INIT_NAME, APP_NAME = "heap-init", "app"

# What a private namespace's container sees: Docker mounts cgroup2 inside the new cgroup namespace,
# so the mount's root is the container's own cgroup; read-only as for an unprivileged container.
_REMOUNT = 'umount /sys/fs/cgroup && mount -t cgroup2 -o ro cgroup2 /sys/fs/cgroup && exec "$@"'


class Namespace(enum.Enum):
    """The container's cgroup namespace: Docker's `--cgroupns` mode."""

    PRIVATE = "private"  # Docker's default on cgroup v2 (ECS-optimized AL2023, Bottlerocket)
    HOST = "host"  # `--cgroupns=host`, and every container on cgroup v1


@dataclass(frozen=True, slots=True)
class TaskLayout:
    """One task's cgroups: limits on the task slice and (when ECS propagates it) on each container scope."""

    task_mib: int | None  # memory.max of the task's slice (the task size); None = max
    namespace: Namespace = Namespace.PRIVATE
    task_high_mib: int | None = None  # memory.high of the slice
    propagated: bool = False  # ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2: each scope's memory.max = the task's

    def to_json(self) -> dict[str, Any]:
        return {
            "task_mib": self.task_mib,
            "namespace": self.namespace.value,
            "task_high_mib": self.task_high_mib,
            "propagated": self.propagated,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TaskLayout:
        return cls(doc["task_mib"], Namespace(doc["namespace"]), doc["task_high_mib"], doc["propagated"])


@dataclass(frozen=True, slots=True)
class EcsTask:
    """The cgroups of a running task: its slice and the two containers' scopes, siblings in it."""

    layout: TaskLayout
    slice: MemoryCgroup
    init: MemoryCgroup  # the init container (node-heap-sidecar)
    app: MemoryCgroup  # the Node container

    def container_argv(self, argv: Sequence[str]) -> list[str]:
        """`argv` as the container's process runs it: in a new cgroup namespace when the layout says so.

        The process joins its scope first (MemoryCgroup.run), so the namespace's root is that scope.
        """
        if self.layout.namespace is Namespace.HOST:
            return list(argv)
        return ["unshare", "--cgroup", "--mount", "--propagation", "private", "--", "sh", "-c", _REMOUNT, "sh", *argv]


@contextmanager
def ecs_task(layout: TaskLayout) -> Iterator[EcsTask]:
    """`ecstasks.slice/ecstasks-<task>.slice/docker-<id>.scope` for the init and the app container."""
    task = None if layout.task_mib is None else layout.task_mib * MIB
    high = None if layout.task_high_mib is None else layout.task_high_mib * MIB
    scope_limit = task if layout.propagated else None
    with ExitStack() as stack:
        top = stack.enter_context(MemoryCgroup(None, name=SLICE))
        task_slice = stack.enter_context(top.child(task, name=f"ecstasks-{TASK_ID}.slice", high_bytes=high))
        init = stack.enter_context(task_slice.child(scope_limit, name=f"docker-{INIT_ID}.scope"))
        app = stack.enter_context(task_slice.child(scope_limit, name=f"docker-{APP_ID}.scope"))
        yield EcsTask(layout, task_slice, init, app)


def ec2_task_metadata(task_mib: int) -> tuple[Any, Any]:
    """(container, task) TMDS documents of an EC2 task with a task size whose init container runs first.

    The Node container is not listed yet: on EC2 the agent creates it after the init container exits.
    """
    task = ecs_payload("ec2-task-metadata.json")
    task["Limits"] = {"CPU": 1, "Memory": task_mib}  # changed: a task size (PR aws/amazon-ecs-agent#4376 shape)
    init = task["Containers"][1]
    init["Name"] = init["DockerName"] = INIT_NAME  # changed: the listed NORMAL container is our init container
    init["Limits"] = {"CPU": 10}  # changed: no container-level memory (the task's limit applies)
    container = ecs_payload("ec2-container-metadata.json")
    container["Name"] = container["DockerName"] = INIT_NAME  # changed: as above
    container["Limits"] = {"CPU": 10}  # changed: as above
    return container, task


def init_environment(metadata_uri: str | None, env_file: str, node_major: int) -> dict[str, str]:
    """The init container's environment as the task definition sets it (and ECS, for the metadata URI)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "NODE_HEAP_TARGET": APP_NAME,
        "NODE_HEAP_NODE_VERSION": str(node_major),
        "NODE_HEAP_ENV_FILE": env_file,
        "NODE_HEAP_ECS_API": "off",
    }
    if metadata_uri is not None:
        env["ECS_CONTAINER_METADATA_URI_V4"] = metadata_uri
    return env
