"""Values a rewrite must carry but cannot read: CloudFormation intrinsic functions and unrendered templates.

References: CloudFormation's "Intrinsic function reference" (long form `{"Ref": ...}` / `{"Fn::Name": ...}`,
YAML short form `!Name ...`); Terraform's string templates (`${...}`, `%{...}`); Go templates (Helm) and
Jinja (`{{ ... }}`). Pure; no YAML library is imported here (a YAML tag is read through its `tag` attribute).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

# `${var}` (Terraform, CloudFormation Fn::Sub, envsubst), `%{ if }` (Terraform directives), `{{ x }}` (Go
# templates, Helm, Jinja), `<%= x %>` (ERB).
_TEMPLATE = re.compile(r"\$\{[^}]*\}|%\{[^}]*\}|\{\{.*?\}\}|<%.*?%>", re.DOTALL)
_STANDARD_TAG = "tag:yaml.org,2002:"


class Intrinsic:
    """An intrinsic function, kept as the document wrote it; equal to another when they say the same thing.

    `canonical` is its long form in plain JSON values (for comparing); `node` is what the document holds (a
    JSON object, or ruamel.yaml's tagged node), written back as it is. Immutable: a copy is itself.
    """

    __slots__ = ("canonical", "node", "short")

    def __init__(self, canonical: Any, node: Any, short: str | None = None) -> None:
        self.canonical = canonical
        self.node = node
        self.short = short

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Intrinsic) and self.canonical == other.canonical

    def __hash__(self) -> int:
        return hash(json.dumps(self.canonical, sort_keys=True, default=str))

    def __copy__(self) -> Intrinsic:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Intrinsic:
        return self

    def __str__(self) -> str:
        """As the user wrote it: `!Sub ...` from YAML's short form, the JSON object otherwise."""
        if self.short is not None:
            return self.short
        return json.dumps(self.canonical, ensure_ascii=False, default=str)

    def __repr__(self) -> str:
        return f"Intrinsic({self!s})"

    @property
    def function(self) -> str:
        """`Ref`, `Fn::Sub`, ...: the function's long-form name."""
        return next(iter(self.canonical)) if isinstance(self.canonical, dict) and self.canonical else "?"


def intrinsic_of(node: Any) -> Intrinsic | None:
    """The intrinsic function `node` is (long form, or a YAML node with a local tag), else None."""
    tag = yaml_tag(node)
    if tag is not None:
        name = tag[1:]
        key = name if name in ("Ref", "Condition") else f"Fn::{name}"
        inner = node.value if hasattr(node, "value") and not isinstance(node, Mapping | list) else node
        value = canonical(inner, untagged=True)
        short = f"{tag} {inner}" if isinstance(inner, str) else None
        return Intrinsic({key: value}, node, short)
    if _is_long_form(node):
        return Intrinsic(canonical(node), node)
    return None


def yaml_tag(node: Any) -> str | None:
    """`!Sub` for a YAML node carrying a local tag (ruamel.yaml round-trip types), else None."""
    tag = getattr(node, "tag", None)
    value = getattr(tag, "value", tag)
    if isinstance(value, str) and value.startswith("!") and not value.startswith(_STANDARD_TAG):
        return value
    return None


def canonical(node: Any, *, untagged: bool = False) -> Any:
    """`node` in plain JSON values, every intrinsic function in its long form (for comparing, and for JSON)."""
    if not untagged:
        found = intrinsic_of(node) if yaml_tag(node) is not None else None
        if found is not None:
            return found.canonical
    if isinstance(node, Intrinsic):
        return node.canonical
    if isinstance(node, Mapping):
        return {str(k): canonical(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [canonical(v) for v in node]
    return plain_scalar(node)


def plain_scalar(value: Any) -> Any:
    """A YAML library's scalar (str, int, float and bool subclasses) as the plain Python value."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return bool(value) if type(value).__name__ == "ScalarBoolean" else int(value)
    if isinstance(value, float):
        return float(value)
    return value


def is_unrendered(value: Any) -> bool:
    """Whether `value` is not a value yet: an intrinsic function, or a string holding a template placeholder.

    For fields that are never expanded by a shell or by ECS (image, container name, log group): a `${HOME}`
    inside `sh -c` is the shell's business, not a template.
    """
    if isinstance(value, Intrinsic) or _is_long_form(value) or yaml_tag(value) is not None:
        return True
    return isinstance(value, str) and _TEMPLATE.search(value) is not None


def _is_long_form(node: Any) -> bool:
    if not isinstance(node, Mapping) or len(node) != 1:
        return False
    key = next(iter(node))
    return isinstance(key, str) and (key == "Ref" or key.startswith("Fn::"))
