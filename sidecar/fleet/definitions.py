"""Reading container definitions as people keep them: `null` is absent, a field of the wrong type is
absent, and a container is named by its name, never by its index in a rewritten list.

Console exports and DescribeTaskDefinition output carry `null` for unset fields (`dependsOn: null`,
`mountPoints: null`, `linuxParameters: null`); botocore's RegisterTaskDefinition input refuses them.
Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def without_nulls(value: Any) -> Any:
    """`value` with every `null` member of an object dropped, at any depth (lists keep their items)."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def argv_of(container: Mapping[str, Any]) -> list[str]:
    """entryPoint + command as the task definition gives them (`null` and non-lists read as absent)."""
    return words(container.get("entryPoint")) + words(container.get("command"))


def environment_of(container: Mapping[str, Any]) -> dict[str, str]:
    """The `environment` list as a mapping (the last of a repeated name wins, as in ECS)."""
    found: dict[str, str] = {}
    for pair in container.get("environment") or []:
        if isinstance(pair, Mapping) and isinstance(pair.get("name"), str):
            value = pair.get("value")
            found[pair["name"]] = value if isinstance(value, str) else ""
    return found


def words(value: Any) -> list[str]:
    """A list of strings (an entryPoint or command): `null`, a non-list or an item that is not a string (an
    intrinsic function) gives no words; `holds_template` says when an item is a template."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def holds_template(value: Any) -> bool:
    """An entryPoint or command with an item that is not a plain string (a CloudFormation intrinsic)."""
    return isinstance(value, list) and any(not isinstance(item, str) for item in value)
