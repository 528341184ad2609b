"""ECS task metadata endpoint v4: `GET ${ECS_CONTAINER_METADATA_URI_V4}` and `.../task`.

Format: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4-response.html
and the AWS examples in tests/fixtures/ecs/. Facts the parser relies on:
- task `Limits.Memory` is MiB and is absent on EC2 tasks without a task size;
- a container's `Limits.Memory` may be absent (Fargate), `0` (EC2, no hard limit) or MiB;
- `Type` is `NORMAL` for task-definition containers (others are agent-internal, e.g. `CNI_PAUSE`);
- task `Limits.CPU` is vCPUs (0.25 on a quarter-vCPU Fargate task); a container's `Limits.CPU` is
  CPU units, 1024 per vCPU (the agent reports 2, Docker's minimum share, for a container without one);
- on EC2 a container that has not been created yet is not listed in `Containers`.

A malformed field costs only that field: the rest of the document is kept, and the field is named
in `problems` (a task limit survives a garbage container entry). Only an answer that is not a JSON
object, or not JSON, fails the whole read. Every wait draws from the job's `Deadline`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import urllib3
from urllib3.util.retry import Retry

from sidecar.deadline import Deadline
from sidecar.errors import SourceError
from sidecar.text import first_line, shown
from sidecar.units import PLAUSIBLE_MAX_MIB

CONNECT_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 2.0
MAX_BODY_BYTES = 1 << 20  # a /task answer is a few KiB; anything near this is not TMDS
_CHUNK_BYTES = 16384
_MIN_ATTEMPT_S = 0.05  # a TMDS answer takes milliseconds; an attempt with less left than this is pointless


class DeadlineRetry(Retry):
    """urllib3's Retry whose backoffs are cut to the job's deadline and which stops retrying at it."""

    deadline: Deadline | None = None

    def new(self, **kw: Any) -> DeadlineRetry:
        retry: DeadlineRetry = super().new(**kw)
        retry.deadline = self.deadline
        return retry

    def get_backoff_time(self) -> float:
        backoff = float(super().get_backoff_time())
        return backoff if self.deadline is None else min(backoff, self.deadline.remaining())

    def is_exhausted(self) -> bool:
        # No retry whose backoff (plus a minimal attempt) would end past the deadline: stop now and
        # report the last answer, rather than be cut off mid-attempt with nothing to say.
        if self.deadline is not None and self.deadline.remaining() < float(super().get_backoff_time()) + _MIN_ATTEMPT_S:
            return True
        return bool(super().is_exhausted())


# The agent answers 404 while a container is still being registered and 5xx while it holds
# partial state (aws/amazon-ecs-agent#2747, #4078), and rate-limits with 429. The deadline, not
# this count, bounds the time spent (Retry-After is ignored for the same reason).
RETRY = DeadlineRetry(
    total=6,
    connect=6,
    read=3,
    status=6,
    backoff_factor=0.1,
    backoff_max=2.0,
    status_forcelist=(404, 429, 500, 502, 503, 504),
    allowed_methods=frozenset({"GET"}),
    raise_on_status=False,
    respect_retry_after_header=False,
)


@dataclass(frozen=True, slots=True)
class ContainerMetadata:
    name: str
    type: str | None
    memory_mib: int | None  # Limits.Memory; None when absent or 0 (no hard limit), or unreadable
    image: str | None
    known_status: str | None
    docker_id: str | None = None  # on Fargate also the id at the end of ECS_CONTAINER_METADATA_URI_V4
    cpu_units: int | None = None  # Limits.CPU; None when absent, 0 or unreadable


@dataclass(frozen=True, slots=True)
class TaskMetadata:
    task_arn: str | None  # None only when the answer's TaskARN was unreadable (see problems)
    cluster: str | None
    family: str | None
    revision: str | None
    launch_type: str | None
    service_name: str | None
    memory_mib: int | None  # task Limits.Memory; None when absent or unreadable
    containers: tuple[ContainerMetadata, ...]
    self_name: str | None  # the container this process runs in (the init container)
    url: str
    problems: tuple[str, ...] = ()  # fields that could not be read, each named; the rest was kept
    cpu_vcpus: float | None = None  # task Limits.CPU; None when absent or unreadable


def make_session(deadline: Deadline | None = None) -> urllib3.PoolManager:
    """A connection pool whose GETs are retried with backoff on connection errors, 404, 429 and 5xx,
    never past `deadline`. (urllib3 directly: requests on top of it would add ~50 ms to every
    task's start, for nothing this client needs.)"""
    retry = RETRY.new()
    retry.deadline = deadline
    return urllib3.PoolManager(num_pools=1, maxsize=1, retries=retry)


def fetch_json(session: urllib3.PoolManager, url: str, deadline: Deadline | None = None) -> Any:
    """GET `url` and decode its JSON body, or raise SourceError naming the URL.

    Timeouts never exceed what is left of `deadline`, and a body still arriving when it passes is
    given up (a trickle restarts the read timeout on every byte).
    """
    deadline = deadline or Deadline(float("inf"))
    timeout = urllib3.Timeout(connect=deadline.cap(CONNECT_TIMEOUT_S), read=deadline.cap(READ_TIMEOUT_S))
    try:
        resp = session.request("GET", url, timeout=timeout, preload_content=False, redirect=False)
        try:
            if resp.status != 200:
                raise SourceError(f"GET {url}: HTTP {resp.status} after retries")
            body = bytearray()
            for chunk in resp.stream(_CHUNK_BYTES):
                body.extend(chunk)
                if len(body) > MAX_BODY_BYTES:
                    raise SourceError(f"GET {url}: body larger than {MAX_BODY_BYTES} bytes")
                if deadline.expired():
                    raise SourceError(f"GET {url}: the deadline passed, body still arriving ({len(body)} bytes)")
        finally:
            resp.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise SourceError(f"GET {url}: {type(exc).__name__}: {first_line(exc)}") from None
    try:
        return json.loads(body)
    except RecursionError:
        raise SourceError(f"GET {url}: body is JSON nested too deeply to read") from None
    except ValueError as exc:  # also UnicodeDecodeError, and integers longer than Python's 4300 digits
        raise SourceError(f"GET {url}: body is not JSON ({first_line(exc)})") from None


def fetch_task(uri: str, session: urllib3.PoolManager, deadline: Deadline | None = None) -> TaskMetadata:
    """The task, from `${uri}/task`."""
    url = f"{uri}/task"
    return parse_task(fetch_json(session, url, deadline), url)


def fetch_own_container(uri: str, session: urllib3.PoolManager, deadline: Deadline | None = None) -> ContainerMetadata:
    """This container (the init container), from `${uri}`."""
    problems: list[str] = []
    own = parse_container(fetch_json(session, uri, deadline), uri, problems, label="Limits.Memory")
    if own is None:
        raise SourceError(problems[0])
    return own


def fetch_task_metadata(
    uri: str, session: urllib3.PoolManager | None = None, deadline: Deadline | None = None
) -> TaskMetadata:
    """The task and this container's name (`self_name`), both required. (The init job reads the two
    separately, so that each survives the other's failure: `sidecar.job.gather`.)"""
    owned = session is None
    session = session or make_session(deadline)
    try:
        task = fetch_task(uri, session, deadline)
        own = fetch_own_container(uri, session, deadline)
    finally:
        if owned:
            session.clear()
    return dataclasses.replace(task, self_name=own.name)


def parse_task(doc: Any, url: str = "task") -> TaskMetadata:
    """Turn a `/task` document into TaskMetadata; a malformed field is named in `problems`, not fatal."""
    if not isinstance(doc, dict):
        raise SourceError(f"{url}: expected a JSON object, got {type(doc).__name__}")
    problems: list[str] = []
    task_arn = doc.get("TaskARN")
    if not isinstance(task_arn, str) or not task_arn:
        problems.append(f"{url}: TaskARN={shown(task_arn)}: expected a task ARN")
        task_arn = None
    containers: list[ContainerMetadata] = []
    listed = doc.get("Containers", [])
    if not isinstance(listed, list):
        problems.append(f"{url}: Containers={shown(listed)}: expected a list")
        listed = []
    for index, item in enumerate(listed):
        container = parse_container(item, f"{url} Containers[{index}]", problems)
        if container is not None:
            containers.append(container)
    return TaskMetadata(
        task_arn=task_arn,
        cluster=_str(doc, "Cluster", url, problems),
        family=_str(doc, "Family", url, problems),
        revision=_str(doc, "Revision", url, problems),
        launch_type=_str(doc, "LaunchType", url, problems),
        service_name=_str(doc, "ServiceName", url, problems),
        memory_mib=_limit_mib(doc, url, "Limits.Memory", problems),
        containers=tuple(containers),
        self_name=None,
        url=url,
        cpu_vcpus=_cpu(doc, url, "Limits.CPU", problems, whole=False),
        problems=tuple(problems),
    )


def parse_container(
    doc: Any, url: str = "container", problems: list[str] | None = None, *, label: str | None = None
) -> ContainerMetadata | None:
    """A container object (from `${uri}` or `/task` `Containers[]`), or None when it has no usable Name.

    Each field that cannot be read is appended to `problems` and left None.
    """
    problems = problems if problems is not None else []
    if not isinstance(doc, dict):
        problems.append(f"{url}: expected a JSON object, got {type(doc).__name__}")
        return None
    name = doc.get("Name")
    if not isinstance(name, str) or not name:
        problems.append(f"{url}: Name={shown(name)}: expected a container name")
        return None
    return ContainerMetadata(
        name=name,
        type=_str(doc, "Type", url, problems),
        memory_mib=_limit_mib(doc, url, label or f"Containers[Name={name}].Limits.Memory", problems),
        image=_str(doc, "Image", url, problems),
        known_status=_str(doc, "KnownStatus", url, problems),
        docker_id=_str(doc, "DockerId", url, problems),
        cpu_units=_cpu(doc, url, f"Containers[Name={name}].Limits.CPU", problems, whole=True),
    )


def _limit_mib(doc: dict[str, Any], url: str, label: str, problems: list[str]) -> int | None:
    limits = doc.get("Limits")
    if limits is None:
        return None
    if not isinstance(limits, dict):
        problems.append(f"{url}: Limits={shown(limits)}: expected an object")
        return None
    value = limits.get("Memory")
    if value is None:
        return None
    mib = value
    if isinstance(mib, float) and mib.is_integer():  # False for NaN and +-Infinity, which json.loads accepts
        mib = int(mib)
    if isinstance(mib, bool) or not isinstance(mib, int) or mib < 0:
        problems.append(f"{url}: {label}={shown(value)}: expected a whole number of MiB")
        return None
    if mib > PLAUSIBLE_MAX_MIB:
        problems.append(f"{url}: {label}={shown(value)}: implausible, expected at most {PLAUSIBLE_MAX_MIB} MiB")
        return None
    return mib or None  # absent or 0 both mean "no hard limit"


PLAUSIBLE_MAX_CPU = 1 << 20  # far above any task's vCPUs or a container's CPU units (192 vCPU = 196608)


def _cpu(doc: dict[str, Any], url: str, label: str, problems: list[str], *, whole: bool) -> Any:
    """Limits.CPU: vCPUs (float) for a task, CPU units (int; 0 = none set) for a container; None when
    absent, or unreadable (named in `problems`)."""
    limits = doc.get("Limits")
    value = limits.get("CPU") if isinstance(limits, dict) else None
    if value is None:
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and 0 <= value <= PLAUSIBLE_MAX_CPU:  # also False for NaN; never converts a huge int
        if not whole:
            return float(value)
        if float(value).is_integer():
            return int(value) or None
    expected = "a whole number of CPU units" if whole else "a number of vCPUs"
    problems.append(f"{url}: {label}={shown(value)}: expected {expected}")
    return None


def _str(doc: dict[str, Any], key: str, url: str, problems: list[str]) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)[:64]  # Revision has been seen as a number in third-party stand-ins
    if not isinstance(value, str):
        problems.append(f"{url}: {key}={shown(value)}: expected a string")
        return None
    return value
