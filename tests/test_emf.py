"""Tests for sidecar.outputs.emf: CloudWatch Embedded Metric Format members for the decision event.

Spec: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
The spec's own example is tests/fixtures/ecs/emf-spec-example.json (provenance in SOURCES.md). The
spec says target members sit at the top level, dimension values are strings, and "A DimensionSet
MAY be empty".
"""

from __future__ import annotations

import json
from pathlib import Path

from sidecar.outputs.emf import render_emf

SPEC_EXAMPLE = Path(__file__).parent / "fixtures" / "ecs" / "emf-spec-example.json"


class TestRenderEmf:
    def test_spec_example(self) -> None:
        """The spec's example, rebuilt from its namespace, dimension, metric and timestamp, matches it."""
        members = render_emf(
            "lambda-function-metrics",
            {"functionVersion": "$LATEST"},
            {"time": (100, "Milliseconds")},
            1574109732004,
        )
        event = {**members, "requestId": "989ffbf8-9ace-4817-a57c-e4dd734019ee"}

        assert event == json.loads(SPEC_EXAMPLE.read_text())

    def test_several_dimensions_and_metrics(self) -> None:
        """Every dimension and metric is named in the directive and present as a top-level member."""
        members = render_emf(
            "NodeHeapSidecar",
            {"ServiceName": "web-svc", "ContainerName": "web"},
            {
                "HeapMiB": (1536, "Megabytes"),
                "LimitMiB": (2048, "Megabytes"),
                "Processes": (2, "Count"),
                "HeapShare": (0.75, "None"),
            },
            1700000000000,
        )

        assert members == {
            "_aws": {
                "Timestamp": 1700000000000,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "NodeHeapSidecar",
                        "Dimensions": [["ServiceName", "ContainerName"]],
                        "Metrics": [
                            {"Name": "HeapMiB", "Unit": "Megabytes"},
                            {"Name": "LimitMiB", "Unit": "Megabytes"},
                            {"Name": "Processes", "Unit": "Count"},
                            {"Name": "HeapShare", "Unit": "None"},
                        ],
                    }
                ],
            },
            "ServiceName": "web-svc",
            "ContainerName": "web",
            "HeapMiB": 1536,
            "LimitMiB": 2048,
            "Processes": 2,
            "HeapShare": 0.75,
        }

    def test_dimensions_without_a_value_dropped(self) -> None:
        """A dimension that is None or empty is neither named nor present (EMF needs every named one)."""
        members = render_emf(
            "NodeHeapSidecar",
            {"ServiceName": None, "ContainerName": "web", "TaskFamily": ""},
            {"HeapMiB": (512, "Megabytes")},
            1700000000000,
        )

        assert members == {
            "_aws": {
                "Timestamp": 1700000000000,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "NodeHeapSidecar",
                        "Dimensions": [["ContainerName"]],
                        "Metrics": [{"Name": "HeapMiB", "Unit": "Megabytes"}],
                    }
                ],
            },
            "ContainerName": "web",
            "HeapMiB": 512,
        }

    def test_no_dimension_has_a_value(self) -> None:
        """With every dimension dropped the DimensionSet is empty, which the spec allows."""
        members = render_emf("NodeHeapSidecar", {"ServiceName": None}, {"HeapMiB": (512, "Megabytes")}, 1700000000000)

        assert members == {
            "_aws": {
                "Timestamp": 1700000000000,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "NodeHeapSidecar",
                        "Dimensions": [[]],
                        "Metrics": [{"Name": "HeapMiB", "Unit": "Megabytes"}],
                    }
                ],
            },
            "HeapMiB": 512,
        }

    def test_empty_namespace_turns_metrics_off(self) -> None:
        """An empty namespace (NODE_HEAP_METRICS_NAMESPACE='') adds no members at all."""
        assert render_emf("", {"ContainerName": "web"}, {"HeapMiB": (512, "Megabytes")}, 1700000000000) == {}

    def test_serializes_to_json(self) -> None:
        """The members are plain JSON: they survive a round trip unchanged."""
        members = render_emf("NodeHeapSidecar", {"ContainerName": "web"}, {"HeapMiB": (512, "Megabytes")}, 1)

        assert json.loads(json.dumps(members)) == members
