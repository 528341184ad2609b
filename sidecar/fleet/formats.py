"""Task definitions as platform teams keep them: read into what adopt rewrites, written back as they came.

Formats and their references:
- JSON in the ECS API's shape (botocore's ECS model): a task definition (RegisterTaskDefinition input),
  a DescribeTaskDefinition answer (written back as a task definition, ready to register: its ARN and
  revision would be wrong), a bare `containerDefinitions` list.
- Terraform: the `container_definitions` argument of `aws_ecs_task_definition` as a JSON string (a file
  holding `jsonencode(...)` output, `terraform output -json`), and `terraform show -json` of a state or a
  plan (Terraform's "JSON Output Format": `values` or `planned_values`, `root_module`, `child_modules`;
  the argument is a JSON string there). `.tf` files (HCL) are not read.
- CloudFormation templates in JSON and YAML: every `AWS::ECS::TaskDefinition` of `Resources`, its
  PascalCase properties mapped to the API's camelCase by `cfn_casing`; intrinsic functions (long form
  and YAML short form) are `Intrinsic` values in the definitions and are written back as they were.

Writing back changes only what the rewrite changed: an unchanged document is returned byte for byte;
JSON is written in the input's indentation, separators and escaping (Go's `\\u003c` for Terraform); YAML
goes through ruamel.yaml's round trip (comments, key order, tags, quotes and flow style kept; block
indentation detected; see render_document for what it cannot keep).
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sidecar.errors import SettingsError
from sidecar.fleet import cfn_casing
from sidecar.fleet.intrinsics import Intrinsic, canonical
from sidecar.text import shown

TASK_DEFINITION_TYPE = "AWS::ECS::TaskDefinition"
TERRAFORM_TYPE = "aws_ecs_task_definition"
# DescribeTaskDefinition fields that RegisterTaskDefinition refuses (botocore's ECS model: TaskDefinition
# members that are not RegisterTaskDefinitionRequest members).
READ_ONLY_FIELDS = (
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
)
EXPECTED = (
    "expected a task definition, a DescribeTaskDefinition answer, a containerDefinitions list, a Terraform "
    "container_definitions JSON string, `terraform show -json` output or a CloudFormation template (JSON or YAML)"
)
_HCL = re.compile(
    r"^\s*(resource|data|module|variable|locals|provider|terraform|output)\b[^\n]*\{\s*(#.*)?$", re.MULTILINE
)
_YAML_WIDTH = 1 << 16  # never fold a long line
Path = tuple[str | int, ...]


class Format(enum.Enum):
    TASK_DEFINITION = "a task definition (JSON)"
    DESCRIBE_OUTPUT = "a DescribeTaskDefinition answer (JSON)"
    CONTAINER_LIST = "a containerDefinitions list (JSON)"
    TERRAFORM_STRING = "a Terraform container_definitions string (JSON)"
    TERRAFORM_SHOW = "`terraform show -json` output"
    CLOUDFORMATION_JSON = "a CloudFormation template (JSON)"
    CLOUDFORMATION_YAML = "a CloudFormation template (YAML)"


@dataclass(frozen=True, slots=True)
class Located:
    where: str  # how a user names it: "Resources.AppTask", "aws_ecs_task_definition.app", "(the task definition)"
    kind: str  # "task-definition" | "containers" (only the containers are known: the user adds volumes)
    definition: dict[str, Any]  # RegisterTaskDefinition input shape; intrinsic functions as `Intrinsic`


@dataclass(frozen=True, slots=True)
class JsonStyle:
    """How a JSON text was written, so a rewrite is written the same way."""

    indent: str | None  # one level's whitespace; None: all on one line
    item_separator: str
    key_separator: str
    ensure_ascii: bool  # non-ASCII written as \\uXXXX
    html_escaped: bool  # <, >, & written as \\u003c, \\u003e, \\u0026 (Go's encoder: Terraform)
    prefix: str  # a byte-order mark, leading whitespace
    suffix: str  # trailing whitespace and newlines


@dataclass(frozen=True, slots=True)
class Document:
    format: Format
    definitions: tuple[Located, ...]
    source: str  # the text as read: render_document writes back into it
    where: str
    paths: tuple[Path, ...]  # where each definition sits in the parsed document, in order
    notes: tuple[str, ...] = ()  # task definitions found but not offered, and why


def parse_document(text: str, *, where: str) -> Document:
    """The task definitions `text` holds, in document order; SettingsError (one line, naming `where` and the
    place in the document) when it is none of the formats or is malformed."""
    body = text.lstrip("\ufeff \t\r\n")
    if not body:
        raise SettingsError([f"{where}: empty; {EXPECTED}"])
    if body[0] in '{["':
        try:
            value = json.loads(body)
        except json.JSONDecodeError as exc:
            raise SettingsError(
                [f"{where}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}{_why(body, exc.pos)}"]
            ) from None
        return _parse_json(value, text, where)
    if _HCL.search(body):
        raise SettingsError(
            [
                f"{where}: a Terraform configuration (HCL) is not read: give `terraform show -json` output, "
                "or the container_definitions JSON (jsonencode's value)"
            ]
        )
    tree = _load_yaml(text, where)
    if not isinstance(tree, Mapping) or not isinstance(tree.get("Resources"), Mapping):
        raise SettingsError([f"{where}: {EXPECTED}"])
    return _parse_cloudformation(tree, text, where, Format.CLOUDFORMATION_YAML)


_PLACEHOLDER = re.compile(r"\$\{[^}\n]{1,80}\}|\{\{[^}\n]{1,80}\}\}|<[A-Z][A-Z0-9_]{1,60}>|%\{[^}\n]{1,80}\}")


def _why(text: str, position: int) -> str:
    """`: an unrendered template placeholder there (...)` when one stands where JSON broke."""
    line_start = text.rfind("\n", 0, position) + 1
    line_end = text.find("\n", position)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    found = _PLACEHOLDER.search(line)
    if found is None:
        return ""
    return (
        f" (an unrendered template placeholder {found.group(0)} there: adopt the rendered task definition, e.g. "
        "the JSON your pipeline registers or `terraform show -json`)"
    )


def render_document(document: Document, rewritten: Sequence[dict[str, Any]]) -> str:
    """`document` with each of its definitions replaced by the rewritten one (same order as
    `document.definitions`, same shape as `Located.definition`), in the document's format.

    Nothing changed: the source, byte for byte. Otherwise everything the rewrite did not change is
    kept as it was written, except what the libraries cannot keep: JSON is re-serialised whole in the
    source's detected style (hand alignment and one-line arrays in an indented file are not kept);
    YAML through ruamel.yaml keeps comments, order, tags, quotes and flow style, but writes block
    indentation uniformly (the detected one) and drops trailing spaces.
    """
    if len(rewritten) != len(document.definitions):
        raise ValueError(f"{len(rewritten)} rewritten definitions for {len(document.definitions)} read")
    if all(new == old.definition for new, old in zip(rewritten, document.definitions, strict=True)):
        return document.source
    fmt = document.format
    if fmt is Format.CLOUDFORMATION_YAML:
        return _render_yaml(document, rewritten)
    style = json_style(document.source)
    if fmt in (Format.TASK_DEFINITION, Format.DESCRIBE_OUTPUT):
        return render_json(rewritten[0], style)
    if fmt is Format.CONTAINER_LIST:
        return render_json(rewritten[0]["containerDefinitions"], style)
    tree = json.loads(document.source.lstrip("\ufeff"))
    if fmt is Format.TERRAFORM_STRING:
        return render_json(_terraform_string(tree, rewritten[0]), style)
    for path, new in zip(document.paths, rewritten, strict=True):
        if fmt is Format.TERRAFORM_SHOW:
            _set(tree, path, _terraform_string(_get(tree, path), new))
        else:
            _set(tree, path, cfn_casing.merge(_get(tree, path), new, cfn_casing.task_definition_shape()))
    return render_json(tree, style)


def registrable_view(definition: Mapping[str, Any]) -> dict[str, Any]:
    """`definition` with every intrinsic function replaced by a stand-in of its field's type (and a family
    when CloudFormation names it), for checking the rest against botocore's RegisterTaskDefinition shape."""
    shape = cfn_casing.task_definition_shape()
    view = _stand_in(dict(definition), shape)
    view.setdefault("family", "cloudformation-named")
    return dict(view)


def json_style(text: str) -> JsonStyle:
    """The indentation, separators and escaping `text` (a JSON text) was written with."""
    body = text.lstrip("\ufeff \t\r\n")
    prefix = text[: len(text) - len(body)]
    stripped = body.rstrip(" \t\r\n")
    suffix = body[len(stripped) :]
    indent_match = re.search(r"\n([ \t]+)\S", stripped)
    indent = indent_match.group(1) if indent_match else None
    key = re.search(r'"(?:[^"\\]|\\.)*"([ \t]*):([ \t]*)', stripped)
    key_separator = f"{key.group(1)}:{key.group(2)}" if key else ": "
    item = re.search(r"[\]}\"0-9el],([ \t]*)[\"\[{0-9tfn-]", stripped) if indent is None else None
    item_separator = "," + (item.group(1) if item else " ") if indent is None else ","
    raw_html = re.search(r"[<>&]", stripped) is not None
    escaped_html = re.search(r"\\u00(3[ce]|26)", stripped, re.IGNORECASE) is not None
    escaped_non_ascii = re.search(r"\\u(00[89a-f]|0[1-9a-f]|[1-9a-f])", stripped, re.IGNORECASE) is not None
    return JsonStyle(
        indent=indent,
        item_separator=item_separator,
        key_separator=key_separator,
        ensure_ascii=escaped_non_ascii and not any(ord(c) > 127 for c in stripped),
        html_escaped=escaped_html and not raw_html,
        prefix=prefix,
        suffix=suffix,
    )


def render_json(value: Any, style: JsonStyle) -> str:
    """`value` as JSON written in `style` (intrinsic functions in their long form)."""
    text = json.dumps(
        value,
        indent=style.indent,
        separators=(style.item_separator, style.key_separator),
        ensure_ascii=style.ensure_ascii,
        default=_json_default,
    )
    if style.html_escaped:
        for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
            text = text.replace(raw, escaped)
    if style.html_escaped or not style.ensure_ascii:
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return style.prefix + text + style.suffix


# -- reading ----------------------------------------------------------------------------------------


def _parse_json(value: Any, text: str, where: str) -> Document:
    if isinstance(value, str):
        containers = _containers_in(value, f"{where}: the container_definitions string")
        located = Located("(the container_definitions string)", "containers", {"containerDefinitions": containers})
        return Document(Format.TERRAFORM_STRING, (located,), text, where, ((),))
    if isinstance(value, list):
        _check_containers(value, f"{where}: containerDefinitions")
        located = Located("(the containerDefinitions list)", "containers", {"containerDefinitions": value})
        return Document(Format.CONTAINER_LIST, (located,), text, where, ((),))
    if not isinstance(value, dict):
        raise SettingsError([f"{where}: {EXPECTED}"])
    if isinstance(value.get("taskDefinition"), dict):
        definition = _register_input(value["taskDefinition"], f"{where}: taskDefinition")
        if value.get("tags"):
            definition["tags"] = value["tags"]
        located = Located("(the DescribeTaskDefinition answer)", "task-definition", definition)
        return Document(Format.DESCRIBE_OUTPUT, (located,), text, where, (("taskDefinition",),))
    if "containerDefinitions" in value:
        definition = _register_input(value, where)
        return Document(
            Format.TASK_DEFINITION,
            (Located("(the task definition)", "task-definition", definition),),
            text,
            where,
            ((),),
        )
    if "format_version" in value and ("values" in value or "planned_values" in value):
        return _parse_terraform_show(value, text, where)
    if isinstance(value.get("Resources"), dict):
        return _parse_cloudformation(value, text, where, Format.CLOUDFORMATION_JSON)
    if "terraform_version" in value and ("modules" in value or "resources" in value):
        raise SettingsError(
            [
                f"{where}: a Terraform state file is not rewritten (Terraform owns it): give `terraform show -json` "
                "output, or the container_definitions JSON, and change the configuration it comes from"
            ]
        )
    raise SettingsError([f"{where}: {EXPECTED}"])


def _register_input(definition: dict[str, Any], where: str) -> dict[str, Any]:
    _check_containers(definition.get("containerDefinitions"), f"{where}.containerDefinitions")
    return {k: v for k, v in definition.items() if k not in READ_ONLY_FIELDS}


def _check_containers(value: Any, where: str) -> None:
    if not isinstance(value, list):
        raise SettingsError([f"{where}: expected a list of container definitions, found {_what(value)}"])
    for index, container in enumerate(value):
        if not isinstance(container, dict):
            raise SettingsError(
                [f"{where}[{index}]: expected a container definition (an object), found {_what(container)}"]
            )


def _containers_in(text: str, where: str) -> list[Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError([f"{where}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]) from None
    _check_containers(value, where)
    return list(value)


def _parse_terraform_show(value: dict[str, Any], text: str, where: str) -> Document:
    root_key = "planned_values" if "planned_values" in value else "values"
    found: list[tuple[Located, Path]] = []
    notes: list[str] = []
    for module_path, module in _terraform_modules(value.get(root_key), (root_key, "root_module")):
        for index, resource in enumerate(module.get("resources") or []):
            if not isinstance(resource, dict) or resource.get("type") != TERRAFORM_TYPE:
                continue
            if resource.get("mode", "managed") != "managed":
                continue
            address = str(resource.get("address") or f"{TERRAFORM_TYPE}.{resource.get('name')}")
            values = resource.get("values") or {}
            raw = values.get("container_definitions")
            if not isinstance(raw, str):
                notes.append(f"{address}: container_definitions is not known until apply; left as it is")
                continue
            containers = _containers_in(raw, f"{where}: {address}.container_definitions")
            path = (*module_path, "resources", index, "values", "container_definitions")
            found.append((Located(address, "containers", {"containerDefinitions": containers}), path))
    if not found:
        reason = notes[0] if notes else f"no {TERRAFORM_TYPE} resource in {root_key}"
        raise SettingsError([f"{where}: {reason}"])
    return Document(
        Format.TERRAFORM_SHOW, tuple(f[0] for f in found), text, where, tuple(f[1] for f in found), tuple(notes)
    )


def _terraform_modules(root: Any, path: Path) -> list[tuple[Path, dict[str, Any]]]:
    module = root.get("root_module") if isinstance(root, dict) else None
    if not isinstance(module, dict):
        return []
    found: list[tuple[Path, dict[str, Any]]] = []
    pending: list[tuple[Path, dict[str, Any]]] = [(path, module)]
    while pending:
        current_path, current = pending.pop(0)
        found.append((current_path, current))
        for index, child in enumerate(current.get("child_modules") or []):
            if isinstance(child, dict):
                pending.append(((*current_path, "child_modules", index), child))
    return found


def _parse_cloudformation(tree: Mapping[str, Any], text: str, where: str, fmt: Format) -> Document:
    shape = cfn_casing.task_definition_shape()
    found: list[tuple[Located, Path]] = []
    notes: list[str] = []
    for name, resource in tree["Resources"].items():
        if not isinstance(resource, Mapping) or resource.get("Type") != TASK_DEFINITION_TYPE:
            continue
        place = f"Resources.{name}"
        properties = resource.get("Properties")
        containers = properties.get("ContainerDefinitions") if isinstance(properties, Mapping) else None
        definition = cfn_casing.to_api(properties, shape) if isinstance(properties, Mapping) else None
        if not isinstance(definition, dict) or containers is None:
            notes.append(f"{place}: no ContainerDefinitions; left as it is")
            continue
        if isinstance(definition.get("containerDefinitions"), Intrinsic):
            function = definition["containerDefinitions"]
            notes.append(
                f"{place}.Properties.ContainerDefinitions: an intrinsic function ({str(function)[:80]}); left as it is"
            )
            continue
        found.append((Located(place, "task-definition", definition), ("Resources", str(name), "Properties")))
    if not found:
        reason = notes[0] if notes else f"no {TASK_DEFINITION_TYPE} in Resources"
        raise SettingsError([f"{where}: {reason}"])
    return Document(fmt, tuple(f[0] for f in found), text, where, tuple(f[1] for f in found), tuple(notes))


# -- YAML -------------------------------------------------------------------------------------------


def _yaml(mapping: int = 2, sequence: int = 4, offset: int = 2) -> Any:
    from ruamel.yaml import YAML  # noqa: PLC0415

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = _YAML_WIDTH
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.representer.ignore_aliases = lambda _data: True  # CloudFormation has no anchors: never invent one
    return yaml


def _load_yaml(text: str, where: str) -> Any:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError  # noqa: PLC0415

    try:
        return _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "malformed"
        raise SettingsError([f"{where}: not JSON or YAML: {problem}{at}"]) from None
    except YAMLError as exc:
        raise SettingsError(
            [f"{where}: not JSON or YAML: {str(exc).splitlines()[0] if str(exc) else 'malformed'}"]
        ) from None


def _render_yaml(document: Document, rewritten: Sequence[dict[str, Any]]) -> str:
    """Only what changed is written anew: each changed property of a task definition, and within a list
    property (ContainerDefinitions, Volumes) each changed or added item, by ruamel.yaml, comments included;
    every other line of the source is kept as it is."""
    indent = _guess_indentation(document.source)
    yaml = _yaml(*indent)
    tree = yaml.load(document.source)
    lines = document.source.splitlines(keepends=True)
    shape = cfn_casing.task_definition_shape()
    edits: list[tuple[int, int, list[str]]] = []
    for path, new in zip(document.paths, rewritten, strict=True):
        properties = _get(tree, path)
        if not properties or properties.fa.flow_style():
            return _dump_yaml(yaml, tree, document, rewritten)
        entries = _entries(properties, list(properties), _end_line(tree, path, len(lines)), lines)
        before = {e.key: _Before(properties[e.key], e, lines) for e in entries}
        cfn_casing.merge(properties, new, shape, yaml=True)
        written: list[str] = []
        last = entries[-1]
        for key in properties:
            was = before.get(key)
            value = properties[key]
            if was is not None and was.same(value):
                written += lines[was.entry.start : was.entry.stop]
            elif was is not None and was.items is not None and value is was.node:
                written += _splice_items(yaml, indent, value, was, lines)
            else:
                written += _dump_entry(yaml, indent, properties, key, entries[0].column)
            if was is not None and was.entry is not last:
                written += lines[was.entry.stop : was.entry.gap_stop]
        written += lines[last.stop : last.gap_stop]
        edits.append((entries[0].start, last.gap_stop, written))
    for first, stop, written in sorted(edits, reverse=True):
        lines[first:stop] = written
    return "".join(lines)


@dataclass(frozen=True, slots=True)
class _Entry:
    key: Any  # a mapping's key, or a list's index
    column: int
    start: int  # its first line
    stop: int  # after its last line
    gap_stop: int  # after the blank and comment lines that follow it (before the next entry)


class _Before:
    """A node as it was read: the object, what it said, where it stood; for a block list of mappings with
    one item per dash line, the same of each item (so items can be kept one by one)."""

    def __init__(self, node: Any, entry: _Entry, lines: list[str]) -> None:
        self.node = node
        self.entry = entry
        self.said = canonical(node)
        self.items: list[_Before] | None = None
        if _block_items(node, entry):
            spots = _entries(node, list(range(len(node))), entry.stop, lines)
            self.items = [_Before(node[spot.key], spot, lines) for spot in spots]

    def same(self, node: Any) -> bool:
        return node is self.node and canonical(node) == self.said


def _entries(node: Any, keys: list[Any], end: int, lines: list[str]) -> list[_Entry]:
    """Where each key of a block mapping (index of a block list) parsed by ruamel.yaml stands, in line order."""
    lc: Any = node.lc
    place = lc.key if isinstance(node, Mapping) else lc.item
    placed = sorted((place(key)[0], place(key)[1], index, key) for index, key in enumerate(keys))
    entries = []
    for index, (line, column, _, key) in enumerate(placed):
        gap_stop = placed[index + 1][0] if index + 1 < len(placed) else end
        stop = gap_stop
        while stop - 1 > line and (not lines[stop - 1].strip() or lines[stop - 1].lstrip().startswith("#")):
            stop -= 1
        entries.append(_Entry(key, column, line, stop, gap_stop))
    return entries


def _block_items(node: Any, entry: _Entry) -> bool:
    if not isinstance(node, list) or not node or not hasattr(node, "lc") or _flow(node):
        return False
    if not all(isinstance(item, Mapping) and hasattr(item, "lc") and not _flow(item) for item in node):
        return False
    lines_of_items = [node.lc.item(index)[0] for index in range(len(node))]
    return lines_of_items[0] > entry.start and len(set(lines_of_items)) == len(lines_of_items)


def _splice_items(yaml: Any, indent: tuple[int, int, int], value: Any, was: _Before, lines: list[str]) -> list[str]:
    items = was.items or []
    ordered = sorted(items, key=lambda item: item.entry.start)
    written = list(lines[was.entry.start : ordered[0].entry.start])  # the key, comments before the first item
    last = ordered[-1]
    dash = len(lines[ordered[0].entry.start]) - len(lines[ordered[0].entry.start].lstrip(" "))
    for index, item in enumerate(value):
        old = next((b for b in items if b.node is item), None)
        if old is not None and old.same(item):
            written += lines[old.entry.start : old.entry.stop]
        else:
            written += _dump_item(yaml, indent, value, index, dash)
        if old is not None and old is not last:
            written += lines[old.entry.stop : old.entry.gap_stop]
    written += lines[last.entry.stop : last.entry.gap_stop]
    return written


def _end_line(tree: Any, path: Path, total: int) -> int:
    """The line where the node at `path` ends: where the next key of a mapping holding it starts."""
    for depth in range(len(path), 0, -1):
        parent = _get(tree, path[: depth - 1])
        line = parent.lc.key(path[depth - 1])[0]
        later = sorted(int(parent.lc.key(k)[0]) for k in parent if parent.lc.key(k)[0] > line)
        if later:
            return later[0]
    return total


def _flow(node: Any) -> bool:
    return bool(node.fa.flow_style())


def _dump_entry(yaml: Any, indent: tuple[int, int, int], mapping: Any, key: Any, column: int) -> list[str]:
    """`key: value` of `mapping` as ruamel.yaml writes it with the key at `column`."""
    from ruamel.yaml.comments import CommentedMap  # noqa: PLC0415

    holder = CommentedMap()
    holder[key] = mapping[key]
    if key in mapping.ca.items:
        holder.ca.items[key] = mapping.ca.items[key]  # the comment on its line
    return _dump_at(yaml, indent[0], holder, column)


def _dump_item(yaml: Any, indent: tuple[int, int, int], items: Any, index: int, dash: int) -> list[str]:
    """Item `index` of a block list as ruamel.yaml writes it with its dash at `dash`."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq  # noqa: PLC0415

    mapping, _, offset = indent
    one = CommentedSeq([items[index]])
    holder = CommentedMap()
    holder["_"] = one
    return _dump_at(yaml, mapping, holder, dash - offset)[1:]  # without the `_:` line


def _dump_at(yaml: Any, mapping: int, holder: Any, column: int) -> list[str]:
    """`holder` written with its keys at `column`: nested under placeholder keys when the column is a
    whole number of indentation steps (so comments keep their columns), else shifted right."""
    import io  # noqa: PLC0415

    from ruamel.yaml.comments import CommentedMap  # noqa: PLC0415

    depth, shift = divmod(column, mapping) if column >= 0 else (0, 0)
    node = holder
    for _ in range(depth):
        wrapper = CommentedMap()
        wrapper["_"] = node
        node = wrapper
    out = io.StringIO()
    yaml.dump(node, out)
    written = out.getvalue().splitlines(keepends=True)[depth:]
    while written and (not written[-1].strip() or written[-1].lstrip().startswith("#")):
        written.pop()  # what follows it in the source stays there
    return [" " * shift + line if line.strip() and shift else line for line in written]


def _dump_yaml(yaml: Any, tree: Any, document: Document, rewritten: Sequence[dict[str, Any]]) -> str:
    import io  # noqa: PLC0415

    shape = cfn_casing.task_definition_shape()
    for path, new in zip(document.paths, rewritten, strict=True):
        _set(tree, path, cfn_casing.merge(_get(tree, path), new, shape, yaml=True))
    out = io.StringIO()
    yaml.dump(tree, out)
    return _with_start(out.getvalue(), document.source)


def _guess_indentation(text: str) -> tuple[int, int, int]:
    """The first nested mapping's indent, and the first block sequence's dash offset under its key."""
    mapping: int | None = None
    offset: int | None = None
    previous_key: int | None = None  # indentation of the previous line when it was `key:` alone
    for line in text.splitlines():
        content = line.lstrip(" ")
        if not content or content.startswith("#"):
            continue
        indent = len(line) - len(content)
        if previous_key is not None and indent > previous_key:
            if content.startswith("- "):
                offset = offset if offset is not None else indent - previous_key
            elif mapping is None:
                mapping = indent - previous_key
        bare = content.split(" #", 1)[0].rstrip()
        previous_key = indent if bare.endswith(":") and not content.startswith("- ") else None
        if content.startswith("- ") and content[2:].split(" #", 1)[0].rstrip().endswith(":"):
            previous_key = indent + 2
        if mapping is not None and offset is not None:
            break
    mapping = mapping or 2
    offset = offset if offset is not None else 0
    return mapping, offset + 2, offset


def _with_start(written: str, source: str) -> str:
    """ruamel.yaml drops a leading `---` unless told: keep the source's."""
    first = next((line for line in source.splitlines() if line.strip() and not line.startswith("#")), "")
    if first.rstrip() == "---" and not written.lstrip().startswith("---"):
        head = source[: source.index("---")]  # comments before it, which ruamel.yaml drops
        return head + "---\n" + (written[len(head) :] if written.startswith(head) else written)
    return written


# -- shared -----------------------------------------------------------------------------------------


def _terraform_string(old: str, new: dict[str, Any]) -> str:
    return render_json(new["containerDefinitions"], json_style(old)).strip()


def _get(tree: Any, path: Path) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def _set(tree: Any, path: Path, value: Any) -> None:
    _get(tree, path[:-1])[path[-1]] = value


def _stand_in(value: Any, shape: Any) -> Any:
    kind = getattr(shape, "type_name", None)
    if isinstance(value, Intrinsic):
        if kind in ("integer", "long"):
            return max(1, int(shape.metadata.get("min", 1)))
        if kind == "boolean":
            return False
        if kind == "list":
            return []
        if kind in ("structure", "map"):
            members = shape.members if kind == "structure" else {}
            return {m: _stand_in(Intrinsic("", None), members[m]) for m in getattr(shape, "required_members", [])}
        return "intrinsic"
    if isinstance(value, dict):
        if kind == "structure":
            return {k: _stand_in(v, shape.members.get(k)) for k, v in value.items()}
        return {k: _stand_in(v, shape.value if kind == "map" else None) for k, v in value.items()}
    if isinstance(value, list):
        return [_stand_in(v, shape.member if kind == "list" else None) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, Intrinsic):
        return value.canonical
    raise TypeError(f"not JSON: {shown(value)}")


def _what(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return shown(value)
