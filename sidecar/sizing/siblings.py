"""What a container beside Node is counted for when it sets no memory: the footprint catalogue.

A container beside Node without `memory` or `memoryReservation` still holds memory in the task;
counted as zero, Node's heap is planned on the whole task and the kernel kills Node when the heap
fills. The budget (sizing/budget.py) counts each long-running container beside Node, in order:
NODE_HEAP_SIBLING_MIB (the user's figure), its hard limit, its reservation, else a guess from here:
the footprint of a well-known sidecar image, else NODE_HEAP_SIBLING_DEFAULT_MIB. A guess is always
reported (`sidecar_unbounded`) with the setting that replaces it.

Each catalogue figure is what the vendor publishes for running that sidecar: a measurement of its
normal use, a recommendation, or the memory its own ECS task definition gives it. "MB" in a source
is read as MiB (the larger reading) and rounded up. Every entry quotes its source (repository @
commit and path, or documentation URL). The figures are for normal operation: a log router whose
destination is down, or a collector under heavy load, holds more.

Containers that ECS adds to a task itself are recognised by name or image even where the task
definition does not list them: the Service Connect proxy (`is_service_connect_proxy`; the agent
names its image `ecs-service-connect-agent:interface-<v>`, aws/amazon-ecs-agent @ 8dfceca
agent/engine/serviceconnect/manager_linux.go, and ECS names the container `ecs-service-connect-<id>`).
Pure.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sidecar.sizing.candidates import Kind, Notice, Verdict

if TYPE_CHECKING:
    from sidecar.sizing.task import ContainerFacts

SETTING = "NODE_HEAP_SIBLING_MIB"
DEFAULT_SETTING = "NODE_HEAP_SIBLING_DEFAULT_MIB"
SERVICE_CONNECT = "service-connect"


@dataclass(frozen=True, slots=True)
class Footprint:
    """One well-known sidecar: the memory counted for it and the public source of that figure."""

    key: str  # stable name; also accepted as a key of NODE_HEAP_SIBLING_MIB
    product: str
    mib: int
    images: tuple[str, ...]  # image repositories it matches, as path suffixes (`aws-for-fluent-bit`)
    evidence: str  # what the source says, quoted or summarised in one line
    source: str
    firelens_type: str | None = None  # `firelensConfiguration.type` that identifies it without its image
    name_prefixes: tuple[str, ...] = ()


CATALOGUE: tuple[Footprint, ...] = (
    Footprint(
        "fluent-bit",
        "AWS for Fluent Bit / Fluent Bit (FireLens)",
        100,
        ("aws-for-fluent-bit", "fluent-bit"),
        '"Memory usage for the lower throughput tests tends to vary around ~40MB to ~100MB, with high '
        'throughput tests consuming up to 400MB of memory or more"; the OOMKill guide: "In normal/happy '
        'case conditions, the memory usage of Fluent Bit will often stay below 100 MB"',
        "github.com/aws/aws-for-fluent-bit @ cd557e0 troubleshooting/debugging.md; "
        "github.com/aws-samples/amazon-ecs-firelens-examples @ 852c3a7 "
        "examples/fluent-bit/oomkill-prevention/README.md",
        firelens_type="fluentbit",
    ),
    Footprint(
        "fluentd",
        "Fluentd (FireLens)",
        100,
        ("fluentd",),
        'Fluentd idles at "~40MB" where Fluent Bit idles at "~650KB", and FireLens buffers the same forward '
        "input in memory: counted as Fluent Bit's normal-use bound (no vendor figure under load)",
        "github.com/fluent/fluent-bit-docs @ 1.4 about/fluentd-and-fluent-bit.md",
        firelens_type="fluentd",
    ),
    Footprint(
        "cloudwatch-agent",
        "Amazon CloudWatch agent",
        64,
        ("cloudwatch-agent",),
        'AWS\'s ECS task definition for the agent alone gives the task "memory": "64"',
        "github.com/aws-samples/amazon-cloudwatch-container-insights @ dfd9611 ecs-task-definition-templates/"
        "deployment-mode/daemon-service/cwagent-ecs-instance-metric/cwagent-ecs-instance-metric.json",
    ),
    Footprint(
        "aws-otel-collector",
        "AWS Distro for OpenTelemetry / OpenTelemetry Collector",
        142,
        ("aws-otel-collector", "opentelemetry-collector", "opentelemetry-collector-contrib"),
        "ADOT performance report v0.49.0: max memory 112.55-141.43 MB for the AWS exporters (awsemf, "
        "awsxray) at 100 and 1000 TPS",
        "github.com/aws-observability/aws-otel-collector @ 637f890 (gh-pages) benchmark/report.md",
    ),
    Footprint(
        "xray-daemon",
        "AWS X-Ray daemon",
        30,
        ("aws-xray-daemon",),
        '"X-Ray Daemon Performance Report": 17.07 MB idle, 29.7 MB average at 2000 TPS (t2.micro, 1 GB; its '
        "buffers default to 1% of the machine's memory)",
        "github.com/aws/aws-xray-daemon @ 8c295a5 README.md, cmd/tracing/daemon.go evaluateBufferMemory",
    ),
    Footprint(
        "datadog-agent",
        "Datadog Agent",
        256,
        ("datadog/agent", "datadoghq/agent"),
        "Datadog's ECS task definition gives the agent container \"memory\": 256 (the host-wide daemon's "
        "current one gives 512)",
        "github.com/DataDog/documentation/pull/3449 static/json/datadog-agent-ecs1.json; "
        "https://docs.datadoghq.com/resources/json/datadog-agent-ecs-apm-uds.json",
    ),
    Footprint(
        "envoy",
        "Envoy / AWS App Mesh Envoy",
        64,
        ("aws-appmesh-envoy", "envoyproxy/envoy", "envoyproxy/envoy-distroless"),
        '"We recommend allocating 512 CPU units and at least 64 MiB of memory to the Envoy container"',
        "https://docs.aws.amazon.com/app-mesh/latest/userguide/envoy.html",
    ),
    Footprint(
        SERVICE_CONNECT,
        "ECS Service Connect proxy (added by ECS)",
        64,
        ("ecs-service-connect-agent",),
        '"We recommend adding 256 CPU units and at least 64 MiB of memory to your task CPU and memory for the '
        'Service Connect proxy container" (128 MiB more above 100 services or 2000 tasks in the namespace)',
        "github.com/awsdocs/amazon-ecs-developer-guide @ 49232cf doc_source/service-connect.md, "
        '"Service Connect proxy"',
        name_prefixes=("ecs-service-connect-",),
    ),
)


class Rule(enum.Enum):
    """Where a sibling's figure comes from when it is not its own memory setting."""

    OVERRIDE = "override"  # NODE_HEAP_SIBLING_MIB: wins over the container's own settings
    CATALOGUE = "catalogue"  # a known image's footprint (a guess)
    DEFAULT = "default"  # NODE_HEAP_SIBLING_DEFAULT_MIB (a guess)


@dataclass(frozen=True, slots=True)
class SiblingEstimate:
    """A figure for a container beside Node that does not come from its own memory settings."""

    container: str
    mib: int
    rule: Rule
    where: str  # the setting, or the catalogue entry and its source (a candidate's `where`)
    summary: str  # what the figure is, for the `sidecar_unbounded` warning
    pin: str  # the NODE_HEAP_SIBLING_MIB pair that replaces it, e.g. `log_router=<MiB>`


def image_repository(image: str | None) -> str | None:
    """`[registry/]path/name[:tag][@digest]` -> `path/name` in lower case; None for no image.

    The first component is a registry when it has a `.` or a `:` or is `localhost` (Docker's
    reference grammar, distribution/reference `reference.go`).
    """
    if not image or not image.strip():
        return None
    parts = image.strip().split("@", 1)[0].split("/")
    parts[-1] = parts[-1].split(":", 1)[0]
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    return "/".join(parts).lower()


def find_footprint(name: str, image: str | None, firelens_type: str | None = None) -> tuple[Footprint, str] | None:
    """The catalogue entry for a container and what identified it (its image, FireLens type or name)."""
    repository = image_repository(image)
    for entry in CATALOGUE:
        if repository is not None and any(repository == p or repository.endswith("/" + p) for p in entry.images):
            return entry, f"image {image}"
    for entry in CATALOGUE:
        if firelens_type is not None and entry.firelens_type == firelens_type.lower():
            return entry, f"firelensConfiguration.type {firelens_type}"
        if any(name.startswith(prefix) for prefix in entry.name_prefixes):
            return entry, f"name {name}"
    return None


def is_service_connect_proxy(name: str, image: str | None) -> bool:
    """True for the proxy container ECS adds to a Service Connect task (by its name or its image)."""
    found = find_footprint(name, image)
    return found is not None and found[0].key == SERVICE_CONNECT


def estimate_siblings(
    others: Sequence[ContainerFacts], overrides: Sequence[tuple[str, int]], default_mib: int
) -> tuple[list[SiblingEstimate], list[Notice]]:
    """For each container beside Node: the user's figure if any, and the guess used without a memory setting.

    An override key is a container name or a catalogue key (`service-connect`: ECS picks that
    container's name). Keys that match no container beside Node are reported, not fatal: one
    settings value may serve task definitions with different sidecars.
    """
    given = dict(overrides)
    used: set[str] = set()
    estimates: list[SiblingEstimate] = []
    for facts in others:
        found = find_footprint(facts.name, facts.image, facts.firelens_type)
        entry, matched = found if found is not None else (None, "")
        keys = [facts.name] + ([entry.key] if entry is not None else [])
        key = next((k for k in keys if k in given), None)
        pin = f"{entry.key if entry is not None and entry.key == SERVICE_CONNECT else facts.name}=<MiB>"
        if key is not None:
            used.add(key)
            estimates.append(
                SiblingEstimate(
                    facts.name, given[key], Rule.OVERRIDE, f"{SETTING} {key}={given[key]}", "given by the user", pin
                )
            )
        added = ", added by ECS (not in the task definition)" if facts.added_by_ecs else ""
        if entry is not None:
            estimates.append(
                SiblingEstimate(
                    facts.name,
                    entry.mib,
                    Rule.CATALOGUE,
                    f"footprint catalogue {entry.key!r} ({matched}){added}: {entry.evidence} [{entry.source}]",
                    f"the known footprint of {entry.product}",
                    pin,
                )
            )
        else:
            estimates.append(
                SiblingEstimate(
                    facts.name,
                    default_mib,
                    Rule.DEFAULT,
                    f"{DEFAULT_SETTING}={default_mib} (image {facts.image or 'unknown'} is not in the "
                    f"footprint catalogue){added}",
                    f"{DEFAULT_SETTING} (its image is not in the footprint catalogue)",
                    pin,
                )
            )
    notices = []
    unused = [key for key in given if key not in used]
    if unused:
        beside = ", ".join(f.name for f in others) or "none"
        notices.append(
            Notice(
                "sibling_override_unused",
                f"{SETTING} names {', '.join(map(repr, unused))}, which match no container beside Node "
                f"(beside Node: {beside})",
            )
        )
    return estimates, notices


def guess_notices(counted: Sequence[Verdict], estimates: Sequence[SiblingEstimate]) -> list[Notice]:
    """A `sidecar_unbounded` warning for each container counted with a guess, naming the setting to give."""
    guesses = {e.container: e for e in estimates if e.rule is not Rule.OVERRIDE}
    notices = []
    for verdict in counted:
        name = verdict.candidate.container
        if verdict.candidate.kind is not Kind.SIDECAR_FOOTPRINT or name not in guesses:
            continue
        guess = guesses[name]
        notices.append(
            Notice(
                "sidecar_unbounded",
                f"container {name!r} has neither a hard limit nor a reservation: counted {guess.mib} MiB, "
                f"{guess.summary}; give it a memory limit, or set {SETTING}={guess.pin} to what it holds",
            )
        )
    return notices


def render_catalogue_table() -> str:
    """The README's footprint table, generated from CATALOGUE."""
    rows = ["| Key | Sidecar | Counted | Recognised by | Source: what it says |", "| --- | --- | --- | --- | --- |"]
    for entry in CATALOGUE:
        by = [f"image `{p}`" for p in entry.images]
        by += [f"FireLens type `{entry.firelens_type}`"] if entry.firelens_type else []
        by += [f"name `{p}*`" for p in entry.name_prefixes]
        cells = [
            f"`{entry.key}`",
            entry.product,
            f"{entry.mib} MiB",
            ", ".join(by),
            f"{entry.source}: {entry.evidence}",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
