"""AWS::ECS::TaskDefinition properties (PascalCase) <-> the ECS API's RegisterTaskDefinition input (camelCase).

Reference: botocore's ECS service model (`RegisterTaskDefinition` input shapes: which fields are
structures, lists, free-form maps and scalars) and the CloudFormation resource schema of
AWS::ECS::TaskDefinition (shipped inside cfn-lint: cfnlint/data/schemas; tests/test_cfn_casing.py walks
both). A property's API name is the member of the same botocore structure equal to it ignoring case,
except the names in CFN_NAMES, where CloudFormation differs beyond case. Keys of free-form maps
(LogConfiguration.Options, DockerLabels, FirelensConfiguration.Options, DockerVolumeConfiguration
DriverOpts and Labels) are the user's and are never re-cased.

`to_api` reads a CloudFormation node into API values (intrinsic functions kept as `Intrinsic`);
`merge` writes API values back into the node, keeping every part that still says the same thing
(its comments, quoting and short-form tags with it). Pure; botocore is imported on first use.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping, MutableMapping, MutableSequence
from typing import Any

from sidecar.fleet.intrinsics import Intrinsic, intrinsic_of, plain_scalar

# (botocore structure, API member) -> CloudFormation property, where they differ beyond the first letter's
# case. Source: AWS::ECS::TaskDefinition's resource schema (cfn-lint 1.x) against botocore's ECS model.
CFN_NAMES: dict[tuple[str, str], str] = {
    ("ProxyConfiguration", "properties"): "ProxyConfigurationProperties",
    ("Volume", "efsVolumeConfiguration"): "EFSVolumeConfiguration",
    ("Volume", "fsxWindowsFileServerVolumeConfiguration"): "FSxWindowsFileServerVolumeConfiguration",
    ("Volume", "s3filesVolumeConfiguration"): "S3FilesVolumeConfiguration",
    ("EFSVolumeConfiguration", "fileSystemId"): "FilesystemId",
    ("EFSAuthorizationConfig", "iam"): "IAM",
}
_API_NAMES = {(shape, cfn): api for (shape, api), cfn in CFN_NAMES.items()}
# How the same list item is recognised after a rewrite changed it: containers, variables and volumes by
# name, dependencies by container, mounts by path.
_ITEM_KEYS = ("name", "containerName", "containerPath")
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
# CloudFormation reads YAML 1.1, where these are booleans; its schema also takes "true"/"false" strings.
_BOOLEANS = {"true": True, "false": False, "yes": True, "no": False, "on": True, "off": False}
_MISSING: Any = object()


@functools.lru_cache(maxsize=1)
def task_definition_shape() -> Any:
    """botocore's RegisterTaskDefinition input shape (the ECS model, loaded once)."""
    import botocore.session  # noqa: PLC0415

    model = botocore.session.get_session().get_service_model("ecs")
    return model.operation_model("RegisterTaskDefinition").input_shape


def cfn_name(shape: Any, api: str) -> str:
    """The CloudFormation property for API member `api` of botocore structure `shape`."""
    return CFN_NAMES.get((shape.name, api)) or api[:1].upper() + api[1:]


def api_name(shape: Any, cfn: str) -> str | None:
    """The API member of botocore structure `shape` that CloudFormation property `cfn` is, or None."""
    special = _API_NAMES.get((shape.name, cfn))
    if special is not None:
        return special
    lowered = cfn.lower()
    return next((member for member in shape.members if member.lower() == lowered), None)


def to_api(node: Any, shape: Any) -> Any:
    """A CloudFormation node (properties, a container, a value) as API values of botocore shape `shape`.

    Intrinsic functions become `Intrinsic`; unknown properties keep their name; scalars are read the
    way CloudFormation reads them for the field's type (`Cpu: 256` is the string "256").
    """
    found = intrinsic_of(node)
    if found is not None:
        return found
    kind = getattr(shape, "type_name", None)
    if isinstance(node, Mapping):
        if kind == "structure":
            result: dict[str, Any] = {}
            for key, value in node.items():
                member = api_name(shape, str(key))
                if member is None:
                    result[str(key)] = to_api(value, None)
                else:
                    result[member] = to_api(value, shape.members[member])
            return result
        value_shape = shape.value if kind == "map" else None
        return {str(key): to_api(value, value_shape) for key, value in node.items()}
    if isinstance(node, list):
        item_shape = shape.member if kind == "list" else None
        return [to_api(item, item_shape) for item in node]
    return _scalar(plain_scalar(node), kind)


def merge(old: Any, new: Any, shape: Any, *, yaml: bool = False) -> Any:
    """The node to write for API value `new`: `old` itself wherever it already says `new`, edited in place
    where it differs, a new node where there was none (CloudFormation names, intrinsics as they were read).

    `yaml`: new mappings and lists are ruamel.yaml's round-trip types, so comments can hang on them.
    """
    if old is not _MISSING and to_api(old, shape) == new:
        return old
    if isinstance(new, Intrinsic):
        return copy.deepcopy(new.node)  # a copy: a node written twice would become a YAML alias
    kind = getattr(shape, "type_name", None)
    if isinstance(new, Mapping):
        editable = isinstance(old, MutableMapping) and intrinsic_of(old) is None
        target = old if editable else _new_mapping(yaml)
        _merge_mapping(target, new, shape if kind in ("structure", "map") else None, yaml)
        return target
    if isinstance(new, list):
        item_shape = shape.member if kind == "list" else None
        editable = isinstance(old, MutableSequence) and intrinsic_of(old) is None
        target = old if editable else _new_list(yaml)
        _merge_list(target, new, item_shape, yaml)
        return target
    return new


def _merge_mapping(target: MutableMapping[Any, Any], new: Mapping[str, Any], shape: Any, yaml: bool) -> None:
    structure = getattr(shape, "type_name", None) == "structure"
    tail = _tail_slot(target)
    keys: dict[str, Any] = {}  # API name -> the key the document already uses
    for key in target:
        member = api_name(shape, str(key)) if structure else None
        keys[member or str(key)] = key
    wanted = []
    for name, value in new.items():
        if structure:
            member_shape = shape.members.get(name)
            key = keys.get(name, cfn_name(shape, name) if member_shape is not None else name)
        else:
            member_shape = shape.value if shape is not None else None
            key = keys.get(name, name)
        target[key] = merge(target.get(key, _MISSING), value, member_shape, yaml=yaml)
        wanted.append(key)
    for key in [k for k in target if k not in wanted]:
        del target[key]
    _keep_trailing_lines(tail, _tail_slot(target))


def _merge_list(target: MutableSequence[Any], new: list[Any], item_shape: Any, yaml: bool) -> None:
    olds = list(target)
    old_values = [to_api(item, item_shape) for item in olds]
    tail = _tail_slot(target)
    used: set[int] = set()
    items: list[Any] = []
    origins: list[int | None] = []
    for value in new:
        index = next((i for i, o in enumerate(old_values) if i not in used and o == value), None)
        if index is None:
            index = next((i for i, o in enumerate(old_values) if i not in used and _same_item(o, value)), None)
        old = _MISSING if index is None else olds[index]
        if index is not None:
            used.add(index)
        items.append(merge(old, value, item_shape, yaml=yaml))
        origins.append(index)
    if len(items) == len(olds) and all(a is b for a, b in zip(items, olds, strict=True)):
        return
    comments = getattr(target, "ca", None)
    saved = dict(comments.items) if comments is not None else {}
    target[:] = items
    if comments is not None:  # ruamel.yaml keeps a list's comments by index
        comments.items.clear()
        for new_index, old_index in enumerate(origins):
            if old_index is not None and old_index in saved:
                comments.items[new_index] = saved[old_index]
    _keep_trailing_lines(tail, _tail_slot(target))


def _same_item(old: Any, new: Any) -> bool:
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return False
    key = next((k for k in _ITEM_KEYS if k in old and k in new), None)
    return key is not None and old[key] == new[key]


def _new_mapping(yaml: bool) -> Any:
    if not yaml:
        return {}
    from ruamel.yaml.comments import CommentedMap  # noqa: PLC0415

    return CommentedMap()


def _new_list(yaml: bool) -> Any:
    if not yaml:
        return []
    from ruamel.yaml.comments import CommentedSeq  # noqa: PLC0415

    return CommentedSeq()


def _tail_slot(node: Any) -> tuple[Any, Any, int] | None:
    """Where ruamel.yaml keeps what follows `node`'s last line: (the innermost last collection, its last
    key or index, the slot in its comment entry); None for a JSON node or an empty one."""
    owner = node
    while hasattr(owner, "ca") and owner:
        key = next(reversed(owner)) if isinstance(owner, Mapping) else len(owner) - 1
        child = owner[key]
        if isinstance(child, Mapping | list) and child and hasattr(child, "ca") and intrinsic_of(child) is None:
            owner = child
            continue
        return owner, key, 2 if isinstance(owner, Mapping) else 0
    return None


def _keep_trailing_lines(before: tuple[Any, Any, int] | None, after: tuple[Any, Any, int] | None) -> None:
    """ruamel.yaml hangs the blank lines and comments that follow a block on the block's last line: when
    the rewrite added lines after it, move them after the new last line, so they stay between the blocks."""
    if before is None or after is None or (before[0] is after[0] and before[1] == after[1]):
        return
    owner, key, slot = before
    entry = owner.ca.items.get(key) if hasattr(owner, "ca") else None
    token = entry[slot] if entry is not None and len(entry) > slot else None
    text = getattr(token, "value", None)
    if not isinstance(text, str) or "\n" not in text:
        return
    head, tail = text.split("\n", 1)
    if not tail.strip(" "):
        return
    token.value = head + "\n"  # type: ignore[union-attr]
    from ruamel.yaml.tokens import CommentToken  # noqa: PLC0415

    end_owner, end_key, end_slot = after
    end_entry = end_owner.ca.items.setdefault(end_key, [None, None, None, None] if end_slot == 2 else [None, None])
    existing = end_entry[end_slot]
    if existing is not None and isinstance(existing.value, str) and existing.value.endswith("\n"):
        existing.value += tail
    else:
        end_entry[end_slot] = CommentToken("\n" + tail, token.start_mark, None)  # type: ignore[union-attr]


def _scalar(value: Any, kind: str | None) -> Any:
    if kind == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if kind in ("integer", "long") and isinstance(value, str) and _INTEGER.match(value.strip()):
        return int(value)
    if kind == "boolean" and isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    return value
