"""The ECS API through boto3 with the task role: DescribeTasks and DescribeTaskDefinition.

Shapes: botocore's model `botocore/data/ecs/2014-11-13/service-2.json` (`Task`, `Container`,
`ContainerOverride`, `TaskDefinition`, `ContainerDefinition`) and the AWS examples in
tests/fixtures/ecs/. DescribeTasks reports `memory`/`memoryReservation` as strings of MiB and
includes run-time overrides; DescribeTaskDefinition reports them as integers. Both list every
container, including one that has not been created yet (which TMDS does not list on EC2).

boto3 is imported only when this source runs: it costs about 0.3 s at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sidecar.deadline import Deadline
from sidecar.errors import SourceError
from sidecar.text import aws_error, first_line, shown
from sidecar.units import PLAUSIBLE_MAX_MIB, decimal

CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0
MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """One container as an ECS API call describes it."""

    name: str
    memory_mib: int | None
    reservation_mib: int | None
    image: str | None = None
    essential: bool | None = None
    depends_on: tuple[tuple[str, str], ...] = ()  # (containerName, condition)
    node_options: str | None = None  # NODE_OPTIONS in `environment` (overrides win)
    command: tuple[str, ...] = ()
    entry_point: tuple[str, ...] = ()
    environment_files: bool = False  # variables we cannot see (S3 files)
    firelens_type: str | None = None  # firelensConfiguration.type: `fluentbit` or `fluentd` (a log router)
    heap_settings: tuple[tuple[str, str], ...] = ()  # NODE_HEAP_* of its environment: this sidecar's settings
    tmpfs: tuple[tuple[str, int], ...] = ()  # linuxParameters.tmpfs (containerPath, MiB): charged to the memory cgroup
    shared_memory_mib: int | None = None  # linuxParameters.sharedMemorySize (/dev/shm, also charged)


@dataclass(frozen=True, slots=True)
class TaskDescription:
    """DescribeTasks for this task."""

    memory_mib: int | None
    containers: tuple[ContainerSpec, ...]
    task_definition_arn: str | None
    group: str | None
    launch_type: str | None
    problems: tuple[str, ...] = ()  # fields that could not be read, each named; the rest was kept


@dataclass(frozen=True, slots=True)
class TaskDefinition:
    """DescribeTaskDefinition for this task's definition."""

    arn: str | None
    memory_mib: int | None
    containers: tuple[ContainerSpec, ...]
    problems: tuple[str, ...] = ()  # fields that could not be read, each named; the rest was kept


@dataclass(frozen=True, slots=True)
class ApiResult:
    """What the ECS API said; a failed call leaves its part None and one line in `errors`."""

    task: TaskDescription | None
    task_definition: TaskDefinition | None
    errors: tuple[str, ...]
    skipped: str | None = None  # why the API was not asked at all


def region_from_arn(task_arn: str) -> str | None:
    """`arn:aws:ecs:<region>:<account>:task/...` -> region."""
    parts = task_arn.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[2] == "ecs" and parts[3]:
        return parts[3]
    return None


def fetch_task_from_api(
    *,
    task_arn: str,
    cluster: str | None,
    task_definition: str | None,
    endpoint_url: str | None = None,
    deadline: Deadline | None = None,
    on_progress: Callable[[ApiResult], None] | None = None,
) -> ApiResult:
    """Ask DescribeTasks and DescribeTaskDefinition; record failures instead of raising.

    `endpoint_url` overrides the endpoint (boto3 also honours AWS_ENDPOINT_URL_ECS). Timeouts are
    cut to what is left of `deadline`, and DescribeTaskDefinition is not asked once it has passed.
    `on_progress` receives the result so far after DescribeTasks, so that a caller that stops
    waiting at the deadline keeps what was already answered.
    """
    import boto3  # noqa: PLC0415 (lazy: ~0.3 s, see the module docstring)
    import botocore.config  # noqa: PLC0415
    import botocore.exceptions  # noqa: PLC0415

    deadline = deadline or Deadline(float("inf"))
    region = region_from_arn(task_arn)
    if region is None:
        return ApiResult(None, None, (), skipped=f"TaskARN={task_arn!r} has no region")
    session = boto3.session.Session(region_name=region)
    try:
        credentials = session.get_credentials()
    except botocore.exceptions.BotoCoreError as exc:
        return ApiResult(None, None, (), skipped=f"credentials could not be loaded: {aws_error(exc)}")
    if credentials is None:
        return ApiResult(None, None, (), skipped="no AWS credentials (task role) available")
    try:
        client = session.client(
            "ecs",
            endpoint_url=endpoint_url,
            config=botocore.config.Config(
                connect_timeout=deadline.cap(CONNECT_TIMEOUT_S),
                read_timeout=deadline.cap(READ_TIMEOUT_S),
                retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},  # max_attempts = retries
            ),
        )
    except (botocore.exceptions.BotoCoreError, ValueError) as exc:  # a bad region or endpoint URL
        return ApiResult(None, None, (), skipped=f"ECS client could not be created: {first_line(exc)}")
    errors: list[str] = []
    described: TaskDescription | None = None
    definition: TaskDefinition | None = None
    failures = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
    try:
        kwargs: dict[str, Any] = {"tasks": [task_arn]}
        if cluster:
            kwargs["cluster"] = cluster
        described = parse_describe_tasks(client.describe_tasks(**kwargs), task_arn)
        errors += described.problems
    except failures as exc:
        errors.append(f"DescribeTasks: {aws_error(exc)}")
    except SourceError as exc:  # its message already starts with "DescribeTasks"
        errors.append(str(exc))
    if on_progress is not None:
        on_progress(ApiResult(described, None, tuple(errors)))
    definition_id = (described.task_definition_arn if described else None) or task_definition
    if not definition_id:
        errors.append("DescribeTaskDefinition: no task definition ARN or family:revision known")
    elif deadline.expired():
        errors.append("DescribeTaskDefinition: not asked, the deadline had passed")
    else:
        try:
            definition = parse_task_definition(client.describe_task_definition(taskDefinition=definition_id))
            errors += definition.problems
        except failures as exc:
            errors.append(f"DescribeTaskDefinition: {aws_error(exc)}")
        except SourceError as exc:  # its message already starts with "DescribeTaskDefinition"
            errors.append(str(exc))
    return ApiResult(described, definition, tuple(errors))


def parse_describe_tasks(response: Any, task_arn: str) -> TaskDescription:
    """The entry of `tasks[]` for `task_arn`, with overrides folded into its containers.

    A malformed field is named in `problems` and left None; only an answer without the task fails.
    """
    tasks = _get(response, "tasks", list, "DescribeTasks") or []
    task = next((t for t in tasks if isinstance(t, dict) and t.get("taskArn") == task_arn), None)
    if task is None:
        failures = response.get("failures") if isinstance(response, dict) else None
        reason = f" (failures: {shown(failures, 300)})" if failures else ""
        raise SourceError(f"DescribeTasks: task {shown(task_arn, 300)} not in the answer{reason}")
    problems: list[str] = []
    overrides: dict[str, dict[str, Any]] = {}
    for item in _list(task.get("overrides") or {}, "containerOverrides", "DescribeTasks overrides", problems):
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            overrides[item["name"]] = item
    containers = []
    for index, item in enumerate(_list(task, "containers", "DescribeTasks tasks[0]", problems)):
        where = f"DescribeTasks containers[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            problems.append(f"{where}: expected an object with a name")
            continue
        override = overrides.get(item["name"], {})
        containers.append(
            ContainerSpec(
                name=item["name"],
                memory_mib=_parse_mib(item.get("memory", override.get("memory")), f"{where}.memory", problems),
                reservation_mib=_parse_mib(
                    item.get("memoryReservation", override.get("memoryReservation")),
                    f"{where}.memoryReservation",
                    problems,
                ),
                image=_opt_str(item.get("image")),
                node_options=_node_options(override.get("environment"), f"{where} override", problems),
            )
        )
    return TaskDescription(
        memory_mib=_parse_mib(task.get("memory"), "DescribeTasks tasks[0].memory", problems),
        containers=tuple(containers),
        task_definition_arn=_opt_str(task.get("taskDefinitionArn")),
        group=_opt_str(task.get("group")),
        launch_type=_opt_str(task.get("launchType")),
        problems=tuple(problems),
    )


def parse_task_definition(response: Any) -> TaskDefinition:
    """`taskDefinition` of a DescribeTaskDefinition answer; a malformed field is named in `problems`."""
    definition = _get(response, "taskDefinition", dict, "DescribeTaskDefinition")
    if definition is None:
        raise SourceError("DescribeTaskDefinition: no taskDefinition in the answer")
    problems: list[str] = []
    containers = []
    for index, item in enumerate(
        _list(definition, "containerDefinitions", "DescribeTaskDefinition taskDefinition", problems)
    ):
        where = f"DescribeTaskDefinition containerDefinitions[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            problems.append(f"{where}: expected an object with a name")
            continue
        firelens = item.get("firelensConfiguration")
        linux: dict[str, Any] = item["linuxParameters"] if isinstance(item.get("linuxParameters"), dict) else {}
        depends = tuple(
            (dep["containerName"], str(dep.get("condition", ""))[:16])
            for dep in _list(item, "dependsOn", where, problems)
            if isinstance(dep, dict) and isinstance(dep.get("containerName"), str)
        )
        containers.append(
            ContainerSpec(
                name=item["name"],
                memory_mib=_parse_mib(item.get("memory"), f"{where}.memory", problems),
                reservation_mib=_parse_mib(item.get("memoryReservation"), f"{where}.memoryReservation", problems),
                image=_opt_str(item.get("image")),
                essential=item.get("essential") if isinstance(item.get("essential"), bool) else None,
                depends_on=depends,
                node_options=_node_options(item.get("environment"), where, problems),
                heap_settings=_heap_settings(item.get("environment")),
                tmpfs=_tmpfs(linux, f"{where}.linuxParameters", problems),
                shared_memory_mib=_parse_mib(
                    linux.get("sharedMemorySize"), f"{where}.linuxParameters.sharedMemorySize", problems
                ),
                command=_str_tuple(item.get("command")),
                entry_point=_str_tuple(item.get("entryPoint")),
                environment_files=bool(item.get("environmentFiles")),
                firelens_type=_opt_str(firelens.get("type")) if isinstance(firelens, dict) else None,
            )
        )
    return TaskDefinition(
        arn=_opt_str(definition.get("taskDefinitionArn")),
        memory_mib=_parse_mib(definition.get("memory"), "DescribeTaskDefinition taskDefinition.memory", problems),
        containers=tuple(containers),
        problems=tuple(problems),
    )


def _parse_mib(value: Any, where: str, problems: list[str]) -> int | None:
    """A memory figure (int, or a string of digits in DescribeTasks); None when absent or 0, or unreadable."""
    if value is None or value == "":
        return None
    number = decimal(value.strip()) if isinstance(value, str) else None  # decimal(): ASCII digits only
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        number = value
    if number is None:
        problems.append(f"{where}={shown(value)}: expected a whole number of MiB")
        return None
    if number > PLAUSIBLE_MAX_MIB:
        problems.append(f"{where}={shown(value)}: implausible, expected at most {PLAUSIBLE_MAX_MIB} MiB")
        return None
    return number or None


def _node_options(environment: Any, where: str, problems: list[str]) -> str | None:
    if not environment:
        return None
    if not isinstance(environment, list):
        problems.append(f"{where}.environment={shown(environment)}: expected a list")
        return None
    for pair in environment:
        if isinstance(pair, dict) and pair.get("name") == "NODE_OPTIONS":
            value = pair.get("value")
            return value if isinstance(value, str) else None
    return None


def _heap_settings(environment: Any) -> tuple[tuple[str, str], ...]:
    """The NODE_HEAP_* pairs of an `environment` list (the last of a repeated name wins, as in ECS)."""
    found: dict[str, str] = {}
    for pair in environment if isinstance(environment, list) else []:
        if isinstance(pair, dict) and isinstance(pair.get("name"), str) and pair["name"].startswith("NODE_HEAP_"):
            value = pair.get("value")
            found[pair["name"]] = value if isinstance(value, str) else ""
    return tuple(found.items())


def _tmpfs(linux: dict[str, Any], where: str, problems: list[str]) -> tuple[tuple[str, int], ...]:
    """`linuxParameters.tmpfs` as (containerPath, size in MiB); a mount without a readable size is a problem."""
    mounts = []
    for index, mount in enumerate(_list(linux, "tmpfs", where, problems)):
        path = mount.get("containerPath") if isinstance(mount, dict) else None
        size = _parse_mib(
            mount.get("size") if isinstance(mount, dict) else None, f"{where}.tmpfs[{index}].size", problems
        )
        if isinstance(path, str) and size is not None:
            mounts.append((path, size))
    return tuple(mounts)


def _list(doc: Any, key: str, where: str, problems: list[str]) -> list[Any]:
    """`doc[key]` when it is a list; [] when absent, and a problem when it is something else."""
    value = doc.get(key) if isinstance(doc, dict) else None
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"{where}.{key}={shown(value)}: expected a list")
        return []
    return value


def _get(doc: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(doc, dict):
        raise SourceError(f"{where}: expected an object, got {type(doc).__name__}")
    value = doc.get(key)
    if value is not None and not isinstance(value, kind):
        raise SourceError(f"{where}.{key}={shown(value)}: expected a {kind.__name__}")
    return value


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _str_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    return ()
