"""Fleets for the audit's tests: task definitions and services through moto's API, stopped tasks seeded.

moto's API cannot stop a task with an exit code or an OOM reason (its containers always exit 0),
and it cannot make 20 000 of them quickly; so stopped tasks are put into moto's ECS backend (the
server runs in this process, tests/servers.py) with the fields the ECS API reports for them
(botocore's `Task` and `Container` shapes). The audit then reads everything over HTTP with boto3.

`fast_moto`: two of moto's costs that have nothing to do with ECS's behaviour, removed for the scale
test. Its DescribeTasks compares every requested ARN with every task of every cluster (O(tasks x
batch) per call, about 0.7 s per call at 20 000 tasks): it checks each task against a set of the
requested ARNs instead, with the same answer in the same order (tests/test_audit_scale.py checks). And moto's
server lists its own package directory (about 175 `stat` calls) twice per request to route it: the
listing is taken once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from tests.servers import FAKE_ACCOUNT, MotoServer

REGION = "us-east-1"
OOM = "OutOfMemoryError: Container killed due to memory usage"


def backend() -> Any:
    """moto's ECS backend of the fake account (shared with the in-process server)."""
    from moto.ecs.models import ecs_backends  # noqa: PLC0415

    return ecs_backends[FAKE_ACCOUNT][REGION]


@dataclass(frozen=True, slots=True)
class Stopped:
    """One container of a stopped task: name, exit code and reason as the agent reports them."""

    name: str
    exit_code: int | None = 0
    reason: str | None = None


def seed_stopped_task(
    cluster: str,
    task_definition_arn: str,
    group: str,
    containers: Sequence[Stopped],
    *,
    stop_code: str = "EssentialContainerExited",
    stopped_reason: str = "Essential container in task exited",
    stopped_ago: timedelta = timedelta(minutes=10),
    stop_took: timedelta | None = None,
    now: datetime | None = None,
    still_stopping: bool = False,
) -> str:
    """Put one STOPPED task into moto; returns its ARN. `stop_took`: from stoppingAt to executionStoppedAt.

    `still_stopping`: a task ECS is still stopping (desired STOPPED, last DEACTIVATING): `stoppingAt` is
    `stopped_ago` before `now`, and it has no `stoppedAt` until `finish_stopping`.
    """
    from moto.ecs import models  # noqa: PLC0415

    task_class: Any = models.Task  # moto's models, given attributes its constructors do not set
    container_class: Any = models.Container
    ecs = backend()
    cluster_model = ecs._get_cluster(cluster)
    registered = ecs.describe_task_definition(task_definition_arn)
    # A stopped task has no network interface left to make: moto would create one for awsvpc.
    definition = SimpleNamespace(
        arn=registered.arn, network_mode="bridge", container_definitions=registered.container_definitions
    )
    task = task_class(cluster_model, definition, None, None, ecs, group=group, launch_type="FARGATE")
    task.last_status = "STOPPED"
    task.desired_status = "STOPPED"
    task.stopped_reason = stopped_reason
    task.stop_code = stop_code
    stopped_at = (now or datetime.now(UTC)) - stopped_ago
    if still_stopping:
        task.last_status = "DEACTIVATING"
        task.stopping_at = stopped_at
    else:
        task.stopped_at = stopped_at
        task.execution_stopped_at = stopped_at
    if stop_took is not None:
        task.stopping_at = stopped_at - stop_took
    seeded = []
    for item in containers:
        container = container_class(definition)
        container.name = item.name
        container.exitCode = item.exit_code
        container.last_status = "STOPPED"
        if item.reason is not None:
            container.reason = item.reason
        seeded.append(container)
    task.containers = seeded
    ecs.tasks.setdefault(cluster_model.name, {})[task.task_arn] = task
    return str(task.task_arn)


def finish_stopping(cluster: str, task_arn: str, at: datetime) -> None:
    """A task seeded `still_stopping` reaches STOPPED at `at`."""
    task = backend().tasks[cluster][task_arn]
    task.last_status = "STOPPED"
    task.stopped_at = at
    task.execution_stopped_at = at


def create_service(moto: MotoServer, cluster: str, name: str, task_definition: Mapping[str, Any]) -> str:
    """Register `task_definition` and run a service of it (through moto's API); returns the definition's ARN."""
    client = moto.client()
    arn = str(client.register_task_definition(**task_definition)["taskDefinition"]["taskDefinitionArn"])
    client.create_service(cluster=cluster, serviceName=name, taskDefinition=arn, desiredCount=1)
    return arn


@contextlib.contextmanager
def fast_moto() -> Iterator[None]:
    """DescribeTasks by a set of ARNs, moto's module list taken once (see the module docstring); restored after."""
    import moto.backends  # noqa: PLC0415
    from moto.ecs import models  # noqa: PLC0415

    ecs_backend: Any = models.EC2ContainerServiceBackend

    original = ecs_backend.describe_tasks

    def describe_tasks(self: Any, cluster_str: str, tasks: list[str]) -> list[Any]:
        self._get_cluster(cluster_str)
        if not tasks or not all(t.startswith("arn:") for t in tasks):
            answer: list[Any] = original(self, cluster_str, tasks)  # ids, or the empty list's error: moto's way
            return answer
        wanted = set(tasks)
        found = []
        for cluster_tasks in self.tasks.values():  # moto's own order: clusters, then tasks as stored
            for arn, task in cluster_tasks.items():
                if arn in wanted:
                    task.advance()
                    found.append(task)
        return found

    routing: Any = moto.backends
    listing = routing.list_of_moto_modules
    modules = tuple(listing())
    ecs_backend.describe_tasks = describe_tasks
    routing.list_of_moto_modules = lambda: modules
    try:
        yield
    finally:
        ecs_backend.describe_tasks = original
        routing.list_of_moto_modules = listing
