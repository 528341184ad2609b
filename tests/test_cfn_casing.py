"""sidecar.fleet.cfn_casing: CloudFormation's property names against the ECS API's, from both public schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sidecar.fleet.cfn_casing import CFN_NAMES, api_name, cfn_name, merge, task_definition_shape, to_api
from sidecar.fleet.intrinsics import Intrinsic
from tests.strict import unavailable


def cfn_schema() -> dict[str, Any]:
    """AWS::ECS::TaskDefinition's resource schema as cfn-lint ships it (us-east-1's provider list)."""
    try:
        import cfnlint  # noqa: PLC0415
    except ImportError:
        unavailable("cfn-lint is not installed (it comes with the test extras, through moto[server])")
    schemas = Path(cfnlint.__file__).parent / "data" / "schemas"
    ref = json.loads((schemas / "providers" / "us-east-1.json").read_text())["AWS::ECS::TaskDefinition"]
    schema: dict[str, Any] = json.loads((schemas / "resources" / f"{ref}.json").read_text())
    return schema


def walk(schema: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(path, CloudFormation property, botocore structure holding it) for every property the API also has."""
    definitions = schema["definitions"]
    found: list[tuple[str, str, Any]] = []

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = definitions[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def visit(node: dict[str, Any], shape: Any, path: str) -> None:
        node = resolve(node)
        if shape.type_name == "list":
            visit(node.get("items", {}), shape.member, path + "[]")
        elif shape.type_name == "structure":
            for prop, sub in node.get("properties", {}).items():
                member = next((m for m in shape.members if m.lower() == prop.lower()), None)
                member = member or {cfn: api for (s, api), cfn in CFN_NAMES.items() if s == shape.name}.get(prop)
                if member is None:
                    continue
                found.append((f"{path}.{prop}", prop, shape))
                visit(sub, shape.members[member], f"{path}.{prop}")

    visit({"properties": schema["properties"]}, task_definition_shape(), "TaskDefinition")
    return found


class TestNames:
    def test_every_schema_property_maps_to_the_api_and_back(self) -> None:
        """Each property of the CloudFormation schema has an API member, whose CloudFormation name is it."""
        pairs = walk(cfn_schema())
        assert len(pairs) > 150
        wrong = [path for path, prop, shape in pairs if cfn_name(shape, api_name(shape, prop) or "") != prop]
        assert wrong == []

    def test_only_known_properties_are_missing_from_the_api(self) -> None:
        """TaskDefinitionArn is read-only in CloudFormation; nothing else lacks an API member."""
        schema = cfn_schema()
        shape = task_definition_shape()
        missing = [prop for prop in schema["properties"] if api_name(shape, prop) is None]
        assert missing == ["TaskDefinitionArn"]

    @pytest.mark.parametrize(
        ("structure", "cfn", "api"),
        [
            ("ProxyConfiguration", "ProxyConfigurationProperties", "properties"),
            ("Volume", "EFSVolumeConfiguration", "efsVolumeConfiguration"),
            ("Volume", "FSxWindowsFileServerVolumeConfiguration", "fsxWindowsFileServerVolumeConfiguration"),
            ("EFSVolumeConfiguration", "FilesystemId", "fileSystemId"),
            ("EFSAuthorizationConfig", "IAM", "iam"),
            ("ContainerDefinition", "ReadonlyRootFilesystem", "readonlyRootFilesystem"),
            ("RegisterTaskDefinitionRequest", "TaskRoleArn", "taskRoleArn"),
        ],
    )
    def test_exceptions_and_plain_cases(self, structure: str, cfn: str, api: str) -> None:
        """Names that differ beyond case (CloudFormation docs vs botocore), and ordinary ones, both ways."""
        shape = _find(task_definition_shape(), structure)
        assert api_name(shape, cfn) == api
        assert cfn_name(shape, api) == cfn


class TestToApi:
    def test_map_keys_and_coercions(self) -> None:
        """Free-form map keys stay; scalars are read for their field's type; intrinsics stay opaque."""
        container = {
            "Name": "app",
            "Memory": "512",
            "Essential": "false",
            "DockerLabels": {"Team": "x"},
            "Image": {"Ref": "Image"},
        }
        shape = task_definition_shape().members["containerDefinitions"].member
        assert to_api(container, shape) == {
            "name": "app",
            "memory": 512,
            "essential": False,
            "dockerLabels": {"Team": "x"},
            "image": Intrinsic({"Ref": "Image"}, None),
        }

    def test_unknown_properties_keep_their_name(self) -> None:
        """A property the installed botocore does not know is carried as it is, both ways."""
        shape = task_definition_shape()
        node = {"Family": "app", "SomeNewProperty": {"A": 1}}
        assert to_api(node, shape) == {"family": "app", "SomeNewProperty": {"A": 1}}
        assert merge({"Family": "old"}, {"family": "app", "SomeNewProperty": {"A": 1}}, shape) == node


class TestMerge:
    def test_unchanged_parts_are_the_same_objects(self) -> None:
        """What still says the same is kept as the very node read (its formatting with it)."""
        shape = task_definition_shape()
        volumes = [{"Name": "data", "Host": {"SourcePath": "/data"}}]
        node = {"Family": "app", "Volumes": volumes}
        merged = merge(node, {"family": "app", "volumes": [{"name": "data", "host": {"sourcePath": "/data"}}]}, shape)
        assert merged is node
        assert merged["Volumes"] is volumes

    def test_items_are_matched_by_name(self) -> None:
        """A changed container is edited in place; a new one is inserted in CloudFormation's names."""
        shape = task_definition_shape()
        app = {"Name": "app", "Image": "node:22"}
        node = {"ContainerDefinitions": [app]}
        new = {"containerDefinitions": [{"name": "init", "essential": False}, {"name": "app", "image": "node:24"}]}
        merged = merge(node, new, shape)
        assert merged == {
            "ContainerDefinitions": [{"Name": "init", "Essential": False}, {"Name": "app", "Image": "node:24"}]
        }
        assert merged["ContainerDefinitions"][1] is app


def _find(shape: Any, name: str) -> Any:
    seen: set[str] = set()
    pending = [shape]
    while pending:
        current = pending.pop()
        if current.name == name:
            return current
        if current.name in seen:
            continue
        seen.add(current.name)
        if current.type_name == "structure":
            pending.extend(current.members.values())
        elif current.type_name == "list":
            pending.append(current.member)
    raise AssertionError(name)
