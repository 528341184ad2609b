"""ECS task metadata endpoint v4: `GET ${ECS_CONTAINER_METADATA_URI_V4}` and `.../task`.

Format: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4-response.html
and the AWS examples in tests/fixtures/ecs/. Facts the parser relies on:
- task `Limits.Memory` is MiB and is absent on EC2 tasks without a task size;
- a container's `Limits.Memory` may be absent (Fargate), `0` (EC2, no hard limit) or MiB;
- `Type` is `NORMAL` for task-definition containers (others are agent-internal, e.g. `CNI_PAUSE`);
- task `Limits.CPU` is vCPUs (0.25 on a quarter-vCPU Fargate task); a container's `Limits.CPU` is
  CPU units, 1024 per vCPU (the agent reports 2, Docker's minimum share, for a container without one);
- on EC2 a container that has not been created yet is not listed in `Containers`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from sidecar.errors import SourceError

CONNECT_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 2.0
MAX_BODY_BYTES = 1 << 20  # a /task answer is a few KiB; anything near this is not TMDS
# The agent answers 404 while a container is still being registered and 5xx while it holds
# partial state (aws/amazon-ecs-agent#2747, #4078), and rate-limits with 429.
RETRY = Retry(
    total=6,
    connect=6,
    read=3,
    status=6,
    backoff_factor=0.1,
    backoff_max=2.0,
    status_forcelist=(404, 429, 500, 502, 503, 504),
    allowed_methods=frozenset({"GET"}),
    raise_on_status=False,
    respect_retry_after_header=False,  # keep the worst case bounded (~10 s)
)


@dataclass(frozen=True, slots=True)
class ContainerMetadata:
    name: str
    type: str | None
    memory_mib: int | None  # Limits.Memory; None when absent or 0 (no hard limit)
    image: str | None
    known_status: str | None
    cpu_units: int | None = None  # Limits.CPU; None when absent or 0


@dataclass(frozen=True, slots=True)
class TaskMetadata:
    task_arn: str
    cluster: str | None
    family: str | None
    revision: str | None
    launch_type: str | None
    service_name: str | None
    memory_mib: int | None  # task Limits.Memory; None when absent
    containers: tuple[ContainerMetadata, ...]
    self_name: str | None  # the container this process runs in (the init container)
    url: str
    cpu_vcpus: float | None = None  # task Limits.CPU; None when absent


def make_session() -> requests.Session:
    """A session whose GETs are retried with backoff on connection errors, 404, 429 and 5xx."""
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=RETRY)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def fetch_json(session: requests.Session, url: str) -> Any:
    """GET `url` and decode its JSON body, or raise SourceError naming the URL."""
    try:
        with session.get(url, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S), stream=True) as resp:
            if resp.status_code != 200:
                raise SourceError(f"GET {url}: HTTP {resp.status_code} after retries")
            body = bytearray()
            for chunk in resp.iter_content(chunk_size=65536):
                body.extend(chunk)
                if len(body) > MAX_BODY_BYTES:
                    raise SourceError(f"GET {url}: body larger than {MAX_BODY_BYTES} bytes")
    except requests.RequestException as exc:
        raise SourceError(f"GET {url}: {type(exc).__name__}: {_first_line(exc)}") from None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise SourceError(f"GET {url}: body is not JSON ({exc})") from None


def fetch_task_metadata(uri: str, session: requests.Session | None = None) -> TaskMetadata:
    """Read the task (`${uri}/task`) and this container (`${uri}`) from TMDS v4."""
    owned = session is None
    session = session or make_session()
    try:
        task_url = f"{uri}/task"
        task = parse_task(fetch_json(session, task_url), task_url)
        own = parse_container(fetch_json(session, uri), uri, label="Limits.Memory")
    finally:
        if owned:
            session.close()
    return dataclasses.replace(task, self_name=own.name)


def parse_task(doc: Any, url: str = "task") -> TaskMetadata:
    """Turn a `/task` document into TaskMetadata; tolerate absent optional fields."""
    if not isinstance(doc, dict):
        raise SourceError(f"{url}: expected a JSON object, got {type(doc).__name__}")
    task_arn = doc.get("TaskARN")
    if not isinstance(task_arn, str) or not task_arn:
        raise SourceError(f"{url}: TaskARN={task_arn!r}: expected a task ARN")
    containers = doc.get("Containers", [])
    if not isinstance(containers, list):
        raise SourceError(f"{url}: Containers={containers!r}: expected a list")
    return TaskMetadata(
        task_arn=task_arn,
        cluster=_str(doc, "Cluster", url),
        family=_str(doc, "Family", url),
        revision=_str(doc, "Revision", url),
        launch_type=_str(doc, "LaunchType", url),
        service_name=_str(doc, "ServiceName", url),
        memory_mib=_limit_mib(doc, url, "Limits.Memory"),
        containers=tuple(parse_container(item, f"{url} Containers[{index}]") for index, item in enumerate(containers)),
        self_name=None,
        url=url,
        cpu_vcpus=_cpu(doc, url, "Limits.CPU", whole=False),
    )


def parse_container(doc: Any, url: str = "container", *, label: str | None = None) -> ContainerMetadata:
    """Turn a container object (from `${uri}` or `/task` `Containers[]`) into ContainerMetadata."""
    if not isinstance(doc, dict):
        raise SourceError(f"{url}: expected a JSON object, got {type(doc).__name__}")
    name = doc.get("Name")
    if not isinstance(name, str) or not name:
        raise SourceError(f"{url}: Name={name!r}: expected a container name")
    return ContainerMetadata(
        name=name,
        type=_str(doc, "Type", url),
        memory_mib=_limit_mib(doc, url, label or f"Containers[Name={name}].Limits.Memory"),
        image=_str(doc, "Image", url),
        known_status=_str(doc, "KnownStatus", url),
        cpu_units=_cpu(doc, url, f"Containers[Name={name}].Limits.CPU", whole=True),
    )


def _limit_mib(doc: dict[str, Any], url: str, label: str) -> int | None:
    limits = doc.get("Limits")
    if limits is None:
        return None
    if not isinstance(limits, dict):
        raise SourceError(f"{url}: Limits={limits!r}: expected an object")
    value = limits.get("Memory")
    if value is None:
        return None
    mib = value
    if isinstance(mib, float) and mib.is_integer():  # False for NaN and +-Infinity, which json.loads accepts
        mib = int(mib)
    if isinstance(mib, bool) or not isinstance(mib, int) or mib < 0:
        raise SourceError(f"{url}: {label}={value!r}: expected a whole number of MiB")
    return mib or None  # absent or 0 both mean "no hard limit"


def _cpu(doc: dict[str, Any], url: str, label: str, *, whole: bool) -> Any:
    """Limits.CPU: vCPUs (float) for a task, CPU units (int; 0 = none set) for a container; None when absent."""
    limits = doc.get("Limits")
    value = limits.get("CPU") if isinstance(limits, dict) else None
    if value is None:
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    if not whole and number:
        return float(value)
    if number and float(value).is_integer():
        return int(value) or None
    expected = "a whole number of CPU units" if whole else "a number of vCPUs"
    raise SourceError(f"{url}: {label}={value!r}: expected {expected}")


def _str(doc: dict[str, Any], key: str, url: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # Revision has been seen as a number in third-party stand-ins
    if not isinstance(value, str):
        raise SourceError(f"{url}: {key}={value!r}: expected a string")
    return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""
