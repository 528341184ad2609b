"""`adopt`: read a task definition, write it back with the sidecar wired in front of its Node container(s).

Input: a file (or `-` for stdin) holding a task definition, a DescribeTaskDefinition answer, or a
bare `containerDefinitions` list (Terraform's `container_definitions`, CDK); or `--family` through
DescribeTaskDefinition. The rewrite (rewrite.py) is checked against botocore's
RegisterTaskDefinition input shape before anything is written, so the output is ready for
`aws ecs register-task-definition --cli-input-json file://adopted.json`; `--register` registers it
(only when something changed: adopting an adopted definition registers nothing).
Exit status: 0; 2 bad arguments or input; 11 the ECS API failed; 12 refused (the message says why).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sidecar.errors import AdoptRefusedError, FleetApiError, SettingsError
from sidecar.fleet.client import describe_error, make_client
from sidecar.fleet.rewrite import AdoptOptions, adopt_definition, read_document
from sidecar.outputs.atomic import write_atomically


@dataclass(frozen=True, slots=True)
class AdoptCommand:
    rewrite: AdoptOptions
    file: str | None = None
    family: str | None = None
    output: Path | None = None
    register: bool = False
    region: str | None = None
    endpoint_url: str | None = None


def run_adopt(command: AdoptCommand, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    """Read, rewrite, validate, then write (and register); nothing is written when any step refuses."""
    if (command.file is None) == (command.family is None):
        raise SettingsError(["adopt: give exactly one of FILE (or - for stdin) and --family"])
    client = None
    if command.family is not None or command.register:
        client = make_client(region=command.region, endpoint_url=command.endpoint_url, retry_mode="standard")
    doc = _load(command, stdin, client)
    kind, definition = read_document(doc)
    adoption = adopt_definition(kind, definition, command.rewrite)
    check_registrable(kind, adoption.document)
    text = json.dumps(adoption.document, indent=2) + "\n"
    if command.output is not None:
        write_atomically(command.output, text)
    else:
        stdout.write(text)
    for note in adoption.notes:
        stderr.write(f"adopt: note: {note}\n")
    targets = ", ".join(adoption.targets)
    if not adoption.changed:
        stderr.write(f"adopt: {targets}: already adopted, nothing changed\n")
    if command.register:
        if kind == "containers":
            raise AdoptRefusedError("--register needs a whole task definition, not a containerDefinitions list")
        if not adoption.changed:
            stderr.write("adopt: nothing registered\n")
            return 0
        import botocore.exceptions  # noqa: PLC0415

        try:
            answer = client.register_task_definition(**adoption.document)  # type: ignore[union-attr]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise FleetApiError(f"RegisterTaskDefinition: {describe_error(exc)}") from None
        stderr.write(f"adopt: registered {answer['taskDefinition']['taskDefinitionArn']}\n")
    return 0


def check_registrable(kind: str, document: Any) -> None:
    """botocore's RegisterTaskDefinition input shape accepts it (a bare list: as containerDefinitions)."""
    import botocore.session  # noqa: PLC0415
    from botocore.validate import ParamValidator  # noqa: PLC0415

    shape = botocore.session.get_session().get_service_model("ecs").operation_model("RegisterTaskDefinition")
    params = {"family": "adopt-check", "containerDefinitions": document} if kind == "containers" else document
    report = ParamValidator().validate(params, shape.input_shape)
    if report.has_errors():
        lines = [line.strip() for line in report.generate_report().splitlines()[1:] if line.strip()]
        raise AdoptRefusedError(
            "the result does not match botocore's RegisterTaskDefinition input (fix the input): " + "; ".join(lines[:5])
        )


def _load(command: AdoptCommand, stdin: TextIO, client: Any) -> Any:
    if command.family is not None:
        import botocore.exceptions  # noqa: PLC0415

        try:
            return client.describe_task_definition(taskDefinition=command.family, include=["TAGS"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise FleetApiError(f"DescribeTaskDefinition {command.family!r}: {describe_error(exc)}") from None
    assert command.file is not None
    where = "stdin" if command.file == "-" else command.file
    try:
        text = stdin.read() if command.file == "-" else Path(command.file).read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError([f"{where}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise SettingsError([f"{where}: expected UTF-8 JSON"]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError([f"{where}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]) from None
