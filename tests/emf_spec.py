"""A validator of CloudWatch Embedded Metric Format documents, for tests: the spec's JSON schema, then the
rules the schema cannot say.

Spec: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
Its schema is tests/fixtures/ecs/emf-schema.json (provenance in that directory's SOURCES.md). The rules
beyond the schema, from the same page: every dimension key and metric name references a member of the
root node (a reference is never a path into a nested object); a dimension target is a string; a metric
target is a number or an array of at most 100 numbers; a directive has at most 100 metrics. A document is
a log event: one JSON object, nothing before or after it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).parent / "fixtures" / "ecs" / "emf-schema.json"
MAX_VALUES = 100
MAX_METRICS = 100


def emf_problems(doc: Any) -> list[str]:
    """Every way `doc` (a decoded log event) breaks the spec, one line each; [] for a valid document."""
    import jsonschema  # noqa: PLC0415 (lazy: only the tests that check EMF need it)

    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    problems = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if problems:
        return problems
    for directive in doc["_aws"]["CloudWatchMetrics"]:
        if len(directive["Metrics"]) > MAX_METRICS:
            problems.append(f"{len(directive['Metrics'])} metrics in one directive: at most {MAX_METRICS}")
        for key in {key for dimension_set in directive["Dimensions"] for key in dimension_set}:
            if key not in doc:
                problems.append(f"dimension {key!r} names no member of the root node")
            elif not isinstance(doc[key], str):
                problems.append(f"dimension {key!r} is {doc[key]!r}: expected a string")
        for metric in directive["Metrics"]:
            name = metric["Name"]
            value = doc.get(name)
            values = value if isinstance(value, list) else [value]
            if name not in doc:
                problems.append(f"metric {name!r} names no member of the root node")
            elif not values or not all(_number(v) for v in values):
                problems.append(f"metric {name!r} is {value!r}: expected a number or an array of numbers")
            elif len(values) > MAX_VALUES:
                problems.append(f"metric {name!r} has {len(values)} values: at most {MAX_VALUES}")
    return problems


def line_problems(line: str) -> list[str]:
    """`emf_problems` of one log line, which must be exactly one JSON object."""
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as exc:
        return [f"not one JSON object: {exc}"]
    if not isinstance(doc, dict):
        return [f"not one JSON object: {type(doc).__name__}"]
    return emf_problems(doc)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
