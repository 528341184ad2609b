"""`adopt`: read task definitions as they are kept, write them back with the sidecar wired in front of
their Node container(s).

Input: a file (or `-` for stdin) in any format fleet/formats.py reads (task definition JSON, a
DescribeTaskDefinition answer, a containerDefinitions list, a Terraform container_definitions string or
`terraform show -json`, CloudFormation JSON or YAML), or `--family` through DescribeTaskDefinition.
What each container runs is read from its image (fleet/images.py: the Docker daemon, the registry, the
cache), once for every image of the document, within one deadline; an image that cannot be read is a
note, and adopt goes on with what the task definition says. Each definition is rewritten
(rewrite.py) and checked against botocore's RegisterTaskDefinition input shape before anything is
written; every problem of every definition is reported in one run. The output keeps the input's
format; `--register` registers a task definition (only when something changed).
Exit status: 0; 2 bad arguments or input; 11 the ECS API failed; 12 refused (each reason said).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sidecar.errors import AdoptRefusedError, FleetApiError, SettingsError
from sidecar.fleet.client import make_client
from sidecar.fleet.formats import Document, Format, Located, parse_document, registrable_view, render_document
from sidecar.fleet.images import ImageLookup, ImageReader
from sidecar.fleet.rewrite import Adoption, AdoptOptions, NoNodeFound, adopt_definition
from sidecar.fleet.runs import known_defaults
from sidecar.imageref import parse_image
from sidecar.outputs.atomic import write_atomically
from sidecar.text import aws_error

_INDEXED = re.compile(r"containerDefinitions\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class AdoptCommand:
    rewrite: AdoptOptions
    file: str | None = None
    family: str | None = None
    output: Path | None = None
    register: bool = False
    region: str | None = None
    endpoint_url: str | None = None


def run_adopt(
    command: AdoptCommand, stdin: TextIO, stdout: TextIO, stderr: TextIO, *, images: ImageReader | None = None
) -> int:
    """Read, look the images up, rewrite, validate, then write (and register); nothing is written when any
    definition is refused."""
    if (command.file is None) == (command.family is None):
        raise SettingsError(["adopt: give exactly one of FILE (or - for stdin) and --family"])
    client = None
    if command.family is not None or command.register:
        client = make_client(region=command.region, endpoint_url=command.endpoint_url, retry_mode="standard")
    document = _load(command, stdin, client)
    lookups = images.read(_images_of(document.definitions)) if images is not None else {}
    adoptions, notes = adopt_document(document, command.rewrite, lookups)
    rewritten = [_as_definition(loc, a) for loc, a in zip(document.definitions, adoptions, strict=True)]
    text = render_document(document, rewritten)
    if command.output is not None:
        write_atomically(command.output, text)
    else:
        stdout.write(text)
    stderr.writelines(f"adopt: note: {note}\n" for note in notes)
    unchanged = [t for a in adoptions if a is not None and not a.changed for t in a.targets]
    if unchanged:
        stderr.write(f"adopt: {', '.join(unchanged)}: already adopted, nothing changed\n")
    if command.register:
        return _register(document, adoptions, client, stderr)
    return 0


def adopt_document(
    document: Document, options: AdoptOptions, lookups: Mapping[str, ImageLookup]
) -> tuple[list[Adoption | None], list[str]]:
    """Every definition of the document adopted (None: it runs no Node and is left as it is, in a document of
    several), with the notes to print; AdoptRefusedError with every problem of every definition."""
    several = len(document.definitions) > 1
    problems: list[str] = []
    notes = list(document.notes)
    adoptions: list[Adoption | None] = []
    for located in document.definitions:
        prefix = f"{located.where}: " if several else ""
        try:
            adoption = adopt_definition(located.kind, located.definition, options, lookups)
        except NoNodeFound as exc:
            if not several:
                raise
            notes.append(f"{prefix}left as it is: {exc}")
            adoptions.append(None)
            continue
        except AdoptRefusedError as exc:
            problems += [prefix + problem for problem in exc.problems]
            adoptions.append(None)
            continue
        cloudformation = document.format in (Format.CLOUDFORMATION_JSON, Format.CLOUDFORMATION_YAML)
        problems += [prefix + problem for problem in registration_problems(located, adoption, cloudformation)]
        notes += [prefix + note for note in adoption.notes]
        adoptions.append(adoption)
    notes += _image_notes(document.definitions, adoptions, lookups)
    if problems:
        raise AdoptRefusedError(problems)
    return adoptions, notes


def registration_problems(located: Located, adoption: Adoption, cloudformation: bool = False) -> list[str]:
    """What botocore's RegisterTaskDefinition input shape refuses in the result, the whole report, each
    container named by its name (never by its index in the rewritten list). In a CloudFormation template,
    intrinsic functions stand in for values of their field's type."""
    import botocore.session  # noqa: PLC0415 (lazy: the init job never loads the model)
    from botocore.validate import ParamValidator  # noqa: PLC0415

    definition = _as_definition(located, adoption)
    params = registrable_view(definition) if cloudformation else dict(definition)
    if located.kind == "containers":
        params = {"family": "adopt-check", "containerDefinitions": definition["containerDefinitions"]}
    shape = botocore.session.get_session().get_service_model("ecs").operation_model("RegisterTaskDefinition")
    report = ParamValidator().validate(params, shape.input_shape)
    if not report.has_errors():
        return []
    names = [str(c.get("name")) for c in definition["containerDefinitions"] if isinstance(c, Mapping)]

    def by_name(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return f"containerDefinitions[name={names[index]}]" if index < len(names) else match.group(0)

    lines = [line.strip() for line in report.generate_report().splitlines() if line.strip()]
    return [
        "not accepted by RegisterTaskDefinition (botocore's input shape; fix the input): " + _INDEXED.sub(by_name, line)
        for line in lines
    ]


def _as_definition(located: Located, adoption: Adoption | None) -> dict[str, Any]:
    """The rewritten definition in the shape of `located.definition` (unchanged when not adopted)."""
    if adoption is None:
        return located.definition
    if located.kind == "containers":
        return {**located.definition, "containerDefinitions": adoption.document}
    document: dict[str, Any] = adoption.document
    return document


def _images_of(definitions: Sequence[Located]) -> list[str]:
    return [
        container["image"]
        for located in definitions
        for container in located.definition.get("containerDefinitions") or []
        if isinstance(container, Mapping) and isinstance(container.get("image"), str)
    ]


def _image_notes(
    definitions: Sequence[Located], adoptions: Sequence[Adoption | None], lookups: Mapping[str, ImageLookup]
) -> list[str]:
    """Images of the Node containers that could not be read, each once (the task definition decided)."""
    notes: list[str] = []
    for located, adoption in zip(definitions, adoptions, strict=True):
        if adoption is None:
            continue
        for container in located.definition.get("containerDefinitions") or []:
            image = container.get("image") if isinstance(container, Mapping) else None
            lookup = lookups.get(image) if isinstance(image, str) else None
            decided = bool(container.get("entryPoint")) or known_defaults(parse_image(image)) is not None
            if container.get("name") in adoption.targets and lookup is not None and lookup.note and not decided:
                note = f"image not read, so the task definition and the image's name decided: {lookup.note}"
                if note not in notes:
                    notes.append(note)
    return notes


def _register(document: Document, adoptions: Sequence[Adoption | None], client: Any, stderr: TextIO) -> int:
    if document.format not in (Format.TASK_DEFINITION, Format.DESCRIBE_OUTPUT) or len(adoptions) != 1:
        raise SettingsError([f"--register needs one task definition in JSON, not {document.format.value}"])
    adoption = adoptions[0]
    if adoption is None or not adoption.changed:
        stderr.write("adopt: nothing registered\n")
        return 0
    import botocore.exceptions  # noqa: PLC0415

    try:
        answer = client.register_task_definition(**adoption.document)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise FleetApiError(f"RegisterTaskDefinition: {aws_error(exc)}") from None
    stderr.write(f"adopt: registered {answer['taskDefinition']['taskDefinitionArn']}\n")
    return 0


def _load(command: AdoptCommand, stdin: TextIO, client: Any) -> Document:
    if command.family is not None:
        import botocore.exceptions  # noqa: PLC0415

        try:
            answer = client.describe_task_definition(taskDefinition=command.family, include=["TAGS"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise FleetApiError(f"DescribeTaskDefinition {command.family!r}: {aws_error(exc)}") from None
        answer = {key: answer[key] for key in ("taskDefinition", "tags") if answer.get(key)}
        return parse_document(json.dumps(answer, indent=2, default=str) + "\n", where=f"--family {command.family}")
    assert command.file is not None
    where = "stdin" if command.file == "-" else command.file
    try:
        text = stdin.read() if command.file == "-" else Path(command.file).read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError([f"{where}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise SettingsError([f"{where}: expected UTF-8 text"]) from None
    return parse_document(text, where=where)
