"""The footprint catalogue: what a well-known sidecar holds when its container sets no memory.

A container beside Node without `memory` or `memoryReservation` still holds memory in the task;
counted as zero, Node's heap is planned on the whole task and the kernel kills Node when the heap
fills. When such a container runs a well-known sidecar image, the budget counts the footprint its
vendor publishes (sizing/siblings.py decides when a guess is used at all).

Each figure is what the vendor publishes for running that sidecar: a measurement of its normal use,
a recommendation, or the memory its own ECS task definition gives it. "MB" in a source is read as
MiB (the larger reading) and rounded up. Every entry quotes its source (repository @ commit and
path, or documentation URL). The figures are for normal operation: a log router whose destination
is down, or a collector under heavy load, holds more.

Containers that ECS adds to a task itself are recognised by name or image even where the task
definition does not list them: the Service Connect proxy (`is_service_connect_proxy`; the agent
names its image `ecs-service-connect-agent:interface-<v>`, aws/amazon-ecs-agent @ 8dfceca
agent/engine/serviceconnect/manager_linux.go, and ECS names the container `ecs-service-connect-<id>`).
Images are read with `sidecar.imageref`. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from sidecar.imageref import parse_image

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


def find_footprint(name: str, image: str | None, firelens_type: str | None = None) -> tuple[Footprint, str] | None:
    """The catalogue entry for a container and what identified it (its image, FireLens type or name)."""
    reference = parse_image(image)
    repository = reference.repository if reference is not None else None
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
