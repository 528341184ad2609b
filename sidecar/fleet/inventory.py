"""The fleet as the ECS API describes it: clusters, services, task definitions, stopped tasks.

Read-only calls only (`READ_ONLY_OPERATIONS`, the same list as deploy/audit-policy.json), each list
through its paginator (ListClusters, ListServices and ListTasks: up to 100 per page), each describe
in its batch size (DescribeServices 10, DescribeTasks 100), and DescribeTaskDefinition once per
distinct task definition. The number of calls therefore grows with clusters, services, distinct
task definitions and stopped tasks / 100, never with their product. Calls run on a bounded pool of
threads sharing one client (botocore clients are thread-safe), in three phases: list, describe,
task definitions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sidecar.errors import FleetApiError
from sidecar.fleet.progress import Progress
from sidecar.text import aws_error

READ_ONLY_OPERATIONS = (
    "ListClusters",
    "ListServices",
    "DescribeServices",
    "ListTasks",
    "DescribeTasks",
    "DescribeTaskDefinition",
)
DESCRIBE_SERVICES_BATCH = 10  # the API's maximum (botocore model: DescribeServices `services`)
DESCRIBE_TASKS_BATCH = 100  # the API's maximum (DescribeTasks `tasks`)
PAGE_SIZE = 100  # ListServices / ListTasks / ListClusters maxResults maximum

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    cluster_arn: str
    name: str
    arn: str
    task_definition: str
    launch_type: str | None


@dataclass(frozen=True, slots=True)
class StandaloneTask:
    cluster_arn: str
    task_arn: str
    task_definition: str
    launch_type: str | None
    group: str


@dataclass(slots=True)
class Inventory:
    clusters: list[str] = field(default_factory=list)
    services: list[ServiceRecord] = field(default_factory=list)
    standalone: list[StandaloneTask] = field(default_factory=list)
    task_definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    stopped_tasks: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def fetch_inventory(
    client: Any,
    *,
    clusters: Sequence[str] = (),
    standalone: bool = False,
    concurrency: int = 8,
    progress: Progress | None = None,
) -> Inventory:
    """Read the fleet; per-cluster or per-definition failures land in `errors`, a failed ListClusters raises."""
    import botocore.exceptions  # noqa: PLC0415

    failures = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
    progress = progress or Progress(None, tty=False)
    found = Inventory()
    if clusters:
        found.clusters = list(clusters)
    else:
        try:
            found.clusters = _paginate(client, "list_clusters", "clusterArns")
        except failures as exc:
            raise FleetApiError(f"ListClusters: {aws_error(exc)}") from None

    def list_cluster(cluster: str) -> tuple[str, list[str], list[str], list[str]]:
        services = _paginate(client, "list_services", "serviceArns", cluster=cluster)
        stopped = _paginate(client, "list_tasks", "taskArns", cluster=cluster, desiredStatus="STOPPED")
        running = (
            _paginate(client, "list_tasks", "taskArns", cluster=cluster, desiredStatus="RUNNING") if standalone else []
        )
        return cluster, services, stopped, running

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        with progress.phase("clusters listed", len(found.clusters)) as phase:
            listed = _run(
                pool,
                list_cluster,
                found.clusters,
                errors=found.errors,
                failures=failures,
                advance=phase.advance,
                label="cluster",
            )

        jobs: list[tuple[str, str, list[str]]] = []
        for cluster, services, stopped, running in listed:
            jobs += [("services", cluster, batch) for batch in _batches(services, DESCRIBE_SERVICES_BATCH)]
            jobs += [("stopped", cluster, batch) for batch in _batches(stopped, DESCRIBE_TASKS_BATCH)]
            jobs += [("running", cluster, batch) for batch in _batches(running, DESCRIBE_TASKS_BATCH)]

        def describe(job: tuple[str, str, list[str]]) -> tuple[str, str, dict[str, Any]]:
            kind, cluster, batch = job
            if kind == "services":
                return kind, cluster, client.describe_services(cluster=cluster, services=batch)
            return kind, cluster, client.describe_tasks(cluster=cluster, tasks=batch)

        with progress.phase("services and tasks described", len(jobs)) as phase:
            answers = _run(
                pool, describe, jobs, errors=found.errors, failures=failures, advance=phase.advance, label="batch"
            )
        for kind, cluster, answer in answers:
            found.errors += [
                f"{cluster}: {kind}: {f.get('arn')} {f.get('reason')}" for f in answer.get("failures") or []
            ]
            if kind == "services":
                found.services += [_service(cluster, s) for s in answer.get("services") or [] if _active(s)]
            elif kind == "stopped":
                found.stopped_tasks += answer.get("tasks") or []
            else:
                found.standalone += [
                    _standalone(cluster, t)
                    for t in answer.get("tasks") or []
                    if not str(t.get("group") or "").startswith("service:") and t.get("taskDefinitionArn")
                ]

        arns = sorted({s.task_definition for s in found.services} | {t.task_definition for t in found.standalone})

        def definition(arn: str) -> tuple[str, dict[str, Any]]:
            answer = client.describe_task_definition(taskDefinition=arn)
            return arn, answer["taskDefinition"]

        with progress.phase("task definitions read", len(arns)) as phase:
            found.task_definitions = dict(
                _run(
                    pool,
                    definition,
                    arns,
                    errors=found.errors,
                    failures=failures,
                    advance=phase.advance,
                    label="task definition",
                )
            )
    return found


def _paginate(client: Any, operation: str, key: str, **kwargs: Any) -> list[str]:
    items: list[str] = []
    for page in client.get_paginator(operation).paginate(PaginationConfig={"PageSize": PAGE_SIZE}, **kwargs):
        items += page.get(key) or []
    return items


def _run(
    pool: ThreadPoolExecutor,
    work: Callable[[T], R],
    items: Iterable[T],
    *,
    errors: list[str],
    failures: tuple[type[BaseException], ...],
    advance: Callable[[int], None],
    label: str,
) -> list[R]:
    """`work` over `items` on the pool, in order; a failed item becomes one line in `errors`."""

    def guarded(item: T) -> tuple[bool, R | str]:
        try:
            return True, work(item)
        except failures as exc:
            return False, f"{label} {_name(item)}: {aws_error(exc)}"
        finally:
            advance(1)

    results: list[R] = []
    for ok, value in pool.map(guarded, items):
        if ok:
            results.append(value)  # type: ignore[arg-type]
        else:
            errors.append(str(value))
    return results


def _name(item: Any) -> str:
    if isinstance(item, tuple):
        return f"{item[0]} in {item[1]}"
    return str(item)


def _batches(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _active(service: dict[str, Any]) -> bool:
    return service.get("status", "ACTIVE") == "ACTIVE" and bool(service.get("taskDefinition"))


def _service(cluster: str, service: dict[str, Any]) -> ServiceRecord:
    return ServiceRecord(
        cluster_arn=str(service.get("clusterArn") or cluster),
        name=str(service.get("serviceName")),
        arn=str(service.get("serviceArn")),
        task_definition=str(service["taskDefinition"]),
        launch_type=_launch_type(service),
    )


def _standalone(cluster: str, task: dict[str, Any]) -> StandaloneTask:
    return StandaloneTask(
        cluster_arn=str(task.get("clusterArn") or cluster),
        task_arn=str(task.get("taskArn")),
        task_definition=str(task["taskDefinitionArn"]),
        launch_type=_launch_type(task),
        group=str(task.get("group") or ""),
    )


def _launch_type(item: dict[str, Any]) -> str | None:
    if item.get("launchType"):
        return str(item["launchType"])
    strategy = item.get("capacityProviderStrategy") or []
    if strategy and isinstance(strategy[0], dict):
        return str(strategy[0].get("capacityProvider"))
    return None
