"""Tests for sidecar.outputs.emf: CloudWatch Embedded Metric Format members for the decision event.

Spec: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
The spec's own example is tests/fixtures/ecs/emf-spec-example.json (provenance in SOURCES.md). The
spec says target members sit at the top level, dimension values are strings, and "A DimensionSet
MAY be empty". tests/emf_spec.py checks whole documents against the spec (its JSON schema and the
rules beside it); `TestSpecValidator` shows it accepts the spec's example and refuses each breach.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from sidecar.outputs.emf import render_emf
from tests.emf_spec import emf_problems, line_problems

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


def spec_example() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(SPEC_EXAMPLE.read_text())
    return doc


def broken(change: str) -> dict[str, Any]:
    """The spec's example with one breach (named by `change`)."""
    doc = spec_example()
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    if change == "no-timestamp":
        del doc["_aws"]["Timestamp"]
    elif change == "timestamp-in-seconds-as-text":
        doc["_aws"]["Timestamp"] = "1574109732"
    elif change == "unknown-unit":
        directive["Metrics"][0]["Unit"] = "Millis"
    elif change == "no-dimension-target":
        del doc["functionVersion"]
    elif change == "numeric-dimension":
        doc["functionVersion"] = 7
    elif change == "nested-metric-target":
        doc["time"] = {"value": 100}
    elif change == "boolean-metric":
        doc["time"] = True
    elif change == "101-values":
        doc["time"] = [1] * 101
    elif change == "no-dimensions":
        directive["Dimensions"] = []
    return doc


class TestSpecValidator:
    def test_spec_example_is_valid(self) -> None:
        """The spec's own example breaks nothing."""
        assert emf_problems(spec_example()) == []

    def test_render_emf_output_is_valid(self) -> None:
        """What render_emf makes, with an empty DimensionSet and several metrics, is a valid document."""
        doc = {"event": "x", **render_emf("NodeHeapSidecar", {}, {"A": (1, "Count"), "B": (2.5, "Bytes")}, 1)}
        assert emf_problems(doc) == []

    @pytest.mark.parametrize(
        ("change", "problems"),
        [
            ("no-timestamp", ["_aws: 'Timestamp' is a required property"]),
            ("timestamp-in-seconds-as-text", ["_aws/Timestamp: '1574109732' is not of type 'integer'"]),
            (
                "unknown-unit",
                [
                    "_aws/CloudWatchMetrics/0/Metrics/0/Unit: 'Millis' does not match '^(Seconds|Microseconds|"
                    "Milliseconds|Bytes|Kilobytes|Megabytes|Gigabytes|Terabytes|Bits|Kilobits|Megabits|Gigabits|"
                    "Terabits|Percent|Count|Bytes\\\\/Second|Kilobytes\\\\/Second|Megabytes\\\\/Second|"
                    "Gigabytes\\\\/Second|Terabytes\\\\/Second|Bits\\\\/Second|Kilobits\\\\/Second|"
                    "Megabits\\\\/Second|Gigabits\\\\/Second|Terabits\\\\/Second|Count\\\\/Second|None)$'"
                ],
            ),
            ("no-dimension-target", ["dimension 'functionVersion' names no member of the root node"]),
            ("numeric-dimension", ["dimension 'functionVersion' is 7: expected a string"]),
            ("nested-metric-target", ["metric 'time' is {'value': 100}: expected a number or an array of numbers"]),
            ("boolean-metric", ["metric 'time' is True: expected a number or an array of numbers"]),
            ("101-values", ["metric 'time' has 101 values: at most 100"]),
            ("no-dimensions", ["_aws/CloudWatchMetrics/0/Dimensions: [] should be non-empty"]),
        ],
    )
    def test_each_breach_is_named(self, change: str, problems: list[str]) -> None:
        """One breach of the spec, one line that names it."""
        assert emf_problems(broken(change)) == problems

    def test_a_line_is_one_object(self) -> None:
        """A log line with anything after the object, or a JSON array, is not an EMF document."""
        line = json.dumps(spec_example())
        assert line_problems(line) == []
        # `{"a": 1}` is 8 characters, a space, then the stray `x` at index 9
        assert line_problems('{"a": 1} x') == ["not one JSON object: Extra data: line 1 column 10 (char 9)"]
        assert line_problems(json.dumps([spec_example()])) == ["not one JSON object: list"]

    def test_example_unchanged_by_the_checks(self) -> None:
        """The validator reads the document and changes nothing in it."""
        doc = spec_example()
        before = copy.deepcopy(doc)
        emf_problems(doc)
        assert doc == before
