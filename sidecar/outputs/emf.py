"""CloudWatch Embedded Metric Format members for the decision event.

Spec: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
(example in tests/fixtures/ecs/emf-spec-example.json). The root object carries `_aws` with a
Timestamp (epoch ms) and one MetricDirective; every metric and dimension it names is a top-level
member; dimension values are strings, metric values numbers. Lines reaching CloudWatch Logs through
the awslogs driver are extracted without any agent (awslabs/aws-embedded-metrics-python#73).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def render_emf(
    namespace: str,
    dimensions: Mapping[str, str | None],
    metrics: Mapping[str, tuple[float | int, str]],
    timestamp_ms: int,
) -> dict[str, Any]:
    """Top-level members to merge into a log event; {} when `namespace` is empty (metrics off).

    Dimensions without a value are left out: EMF requires every named dimension to be present.
    """
    if not namespace:
        return {}
    dims = {key: value for key, value in dimensions.items() if value}
    members: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [list(dims)],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
                }
            ],
        }
    }
    members.update(dims)
    members.update({name: value for name, (value, _) in metrics.items()})
    return members
