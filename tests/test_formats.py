"""sidecar.fleet.formats: every format people keep task definitions in, read and written back."""

from __future__ import annotations

import copy
import difflib
import json
from pathlib import Path
from typing import Any

import pytest

from sidecar.errors import SettingsError
from sidecar.fleet.formats import (
    Document,
    Format,
    json_style,
    parse_document,
    registrable_view,
    render_document,
    render_json,
)
from sidecar.fleet.intrinsics import Intrinsic
from tests.strict import unavailable

FIXTURES = Path(__file__).parent / "fixtures" / "formats"
ALL = sorted(p.name for p in FIXTURES.iterdir() if p.name != "SOURCES.md")
INIT_IMAGE = "public.ecr.aws/example/node-heap-sidecar:0.1.0"


def check_registrable(kind: str, document: Any) -> None:
    """botocore's RegisterTaskDefinition input shape accepts it (a bare list: as containerDefinitions)."""
    import botocore.session  # noqa: PLC0415
    from botocore.validate import ParamValidator  # noqa: PLC0415

    shape = botocore.session.get_session().get_service_model("ecs").operation_model("RegisterTaskDefinition")
    params = {"family": "check", "containerDefinitions": document} if kind == "containers" else document
    report = ParamValidator().validate(params, shape.input_shape)
    assert not report.has_errors(), report.generate_report()


def read(name: str) -> Document:
    return parse_document((FIXTURES / name).read_text(encoding="utf-8"), where=name)


def adopt_like(definition: dict[str, Any]) -> dict[str, Any]:
    """What adopt does to a definition, by hand: an init container first (its log options copied from the
    first awslogs container, intrinsics included), then an env var, a dependency, a mount and
    initProcessEnabled on the first container, and a task volume."""
    td = copy.deepcopy(definition)
    containers = td["containerDefinitions"]
    app = containers[0]
    logs = next(c for c in containers if c.get("logConfiguration", {}).get("logDriver") == "awslogs")
    options = logs["logConfiguration"]["options"]
    init = {
        "name": "node-heap-init",
        "image": INIT_IMAGE,
        "essential": False,
        "mountPoints": [{"sourceVolume": "node-heap", "containerPath": "/shared", "readOnly": False}],
        "environment": [{"name": "NODE_HEAP_TARGET", "value": app["name"]}],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": options["awslogs-group"],
                "awslogs-region": options["awslogs-region"],
                "awslogs-stream-prefix": "node-heap-init",
                "mode": "blocking",
            },
        },
    }
    containers.insert(0, init)
    app.setdefault("environment", []).append({"name": "NODE_HEAP_FILE", "value": "/shared/node-heap.env"})
    app.setdefault("dependsOn", []).append({"containerName": "node-heap-init", "condition": "SUCCESS"})
    app.setdefault("mountPoints", []).append(
        {"sourceVolume": "node-heap", "containerPath": "/shared", "readOnly": True}
    )
    app.setdefault("linuxParameters", {})["initProcessEnabled"] = True
    if "containerDefinitions" in td and len(td) > 1:
        td.setdefault("volumes", []).append({"name": "node-heap"})
    return td


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line.rstrip("\n")
        for line in difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


class TestParseDocument:
    def test_cloudformation_yaml_reads_every_task_definition_in_order(self) -> None:
        """Both AWS::ECS::TaskDefinition resources of a template are read, named by their logical id."""
        document = read("cfn-node-services.yaml")
        assert document.format is Format.CLOUDFORMATION_YAML
        assert [(d.where, d.kind) for d in document.definitions] == [
            ("Resources.ApiTask", "task-definition"),
            ("Resources.WorkerTask", "task-definition"),
        ]

    def test_cloudformation_names_become_api_names(self) -> None:
        """PascalCase properties map to the API's names, ProxyConfigurationProperties to properties."""
        api = read("cfn-node-services.yaml").definitions[0].definition
        assert api["cpu"] == "1024"  # `Cpu: 1024` in YAML; the API's task cpu is a string
        assert api["memory"] == "2048"
        assert api["runtimePlatform"] == {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}
        assert api["proxyConfiguration"] == {
            "type": "APPMESH",
            "containerName": "envoy",
            "properties": [
                {"name": "IgnoredUID", "value": "1337"},
                {"name": "ProxyIngressPort", "value": "15000"},
                {"name": "AppPorts", "value": "8080"},
            ],
        }
        assert api["tags"] == [{"key": "team", "value": "orders"}]
        container = api["containerDefinitions"][0]
        assert container["linuxParameters"] == {
            "tmpfs": [{"containerPath": "/tmp", "size": 64, "mountOptions": ["rw", "noexec"]}]
        }
        assert container["portMappings"] == [
            {"containerPort": 8080, "protocol": "tcp", "name": "http", "appProtocol": "http"}
        ]
        assert container["dependsOn"] == [{"containerName": "envoy", "condition": "HEALTHY"}]
        assert container["healthCheck"] == {
            "command": ["CMD-SHELL", "wget -qO- http://localhost:8080/health || exit 1"],
            "interval": 10,
            "startPeriod": 30,
        }
        assert api["containerDefinitions"][2]["firelensConfiguration"] == {
            "type": "fluentbit",
            "options": {"enable-ecs-log-metadata": "true"},
        }

    def test_free_form_map_keys_keep_their_case(self) -> None:
        """DockerLabels and LogConfiguration.Options keys are the user's: never re-cased."""
        container = read("cfn-node-services.yaml").definitions[0].definition["containerDefinitions"][0]
        assert container["dockerLabels"] == {"com.datadoghq.ad.check_names": '["node"]', "Team": "orders"}
        assert list(container["logConfiguration"]["options"]) == [
            "Name",
            "region",
            "log_group_name",
            "log_stream_prefix",
        ]

    def test_volume_names_that_differ_beyond_case(self) -> None:
        """EFSVolumeConfiguration.FilesystemId and AuthorizationConfig.IAM are the API's fileSystemId and iam."""
        volume = read("cfn-node-services.yaml").definitions[1].definition["volumes"][0]
        efs = volume["efsVolumeConfiguration"]
        assert efs["transitEncryption"] == "ENABLED"
        assert efs["authorizationConfig"] == {"accessPointId": "fsap-0123456789abcdef0", "iam": "ENABLED"}
        assert efs["fileSystemId"] == Intrinsic(
            {"Fn::If": ["HasEfs", {"Fn::ImportValue": "orders-efs-id"}, "fs-00000000"]}, None
        )

    def test_intrinsics_are_opaque_values(self) -> None:
        """Short and long forms read as Intrinsic values, shown the way the template wrote them."""
        api, worker = (d.definition for d in read("cfn-node-services.yaml").definitions)
        image = api["containerDefinitions"][0]["image"]
        assert isinstance(image, Intrinsic)
        assert image.function == "Fn::Sub"
        assert str(image) == "!Sub ${AWS::AccountId}.dkr.ecr.${AWS::Region}.amazonaws.com/orders-api:${ImageTag}"
        assert worker["taskRoleArn"] == Intrinsic({"Fn::GetAtt": ["TaskRole", "Arn"]}, None)
        assert str(worker["containerDefinitions"][0]["image"]) == (
            '{"Fn::Sub": "${AWS::AccountId}.dkr.ecr.${AWS::Region}.amazonaws.com/orders-worker:${ImageTag}"}'
        )

    def test_strings_cloudformation_reads_as_numbers_and_booleans(self) -> None:
        """`Cpu: "10"`, `Essential: "true"`, `Memory: "300"` (aws-cloudformation-templates) are 10, True, 300."""
        container = read("cfn-ecs-schedule-example.yaml").definitions[0].definition["containerDefinitions"][0]
        assert (container["cpu"], container["essential"], container["memory"]) == (10, True, 300)

    def test_cloudformation_json(self) -> None:
        """A JSON template (CDK's output) reads like a YAML one; Fn::Join and Fn::GetAtt stay intrinsics."""
        document = read("cdk-orders-stack.template.json")
        assert document.format is Format.CLOUDFORMATION_JSON
        (located,) = document.definitions
        assert located.where == "Resources.ApiTaskDef5E7F8A9B"
        assert located.definition["executionRoleArn"] == Intrinsic(
            {"Fn::GetAtt": ["ApiTaskDefExecutionRole1A2B3C4D", "Arn"]}, None
        )
        assert located.definition["containerDefinitions"][0]["environment"][1] == {
            "name": "GREETING",
            "value": "café <ok> & done",
        }

    def test_terraform_show_state_finds_resources_in_child_modules(self) -> None:
        """values.root_module and its child_modules; the data source of the same type is not a definition."""
        document = read("terraform-show-state.json")
        assert document.format is Format.TERRAFORM_SHOW
        assert [(d.where, d.kind) for d in document.definitions] == [
            ("aws_ecs_task_definition.api", "containers"),
            ("module.worker.aws_ecs_task_definition.this[0]", "containers"),
        ]
        api = document.definitions[0].definition
        assert list(api) == ["containerDefinitions"]
        assert api["containerDefinitions"][0]["command"] == [
            "sh",
            "-c",
            "node dist/migrate.js && exec node dist/server.js",
        ]

    def test_terraform_show_plan_reads_planned_values(self) -> None:
        """A plan's planned_values; a definition not known until apply is reported, not offered."""
        document = read("terraform-show-plan.json")
        assert [d.where for d in document.definitions] == ['module.orders.aws_ecs_task_definition.this["api"]']
        assert document.notes == (
            'module.orders.aws_ecs_task_definition.this["worker"]: container_definitions is not known until apply; '
            "left as it is",
        )

    def test_terraform_container_definitions_string(self) -> None:
        """A JSON string holding the container list (jsonencode's value) is a Terraform string."""
        document = read("terraform-output-container-definitions.json")
        assert document.format is Format.TERRAFORM_STRING
        assert document.definitions[0].definition["containerDefinitions"][0]["name"] == "api"

    def test_api_shapes(self) -> None:
        """A DescribeTaskDefinition answer loses its read-only fields; a bare list is a container list."""
        described = read("describe-task-definition.json")
        assert described.format is Format.DESCRIBE_OUTPUT
        assert sorted(described.definitions[0].definition) == ["containerDefinitions", "family", "volumes"]
        template = read("container-definitions.json.tpl")
        assert template.format is Format.CONTAINER_LIST
        assert template.definitions[0].kind == "containers"


class TestRoundTrip:
    @pytest.mark.parametrize("name", ALL)
    def test_unchanged_is_byte_identical(self, name: str) -> None:
        """Nothing rewritten: the document comes back byte for byte."""
        document = read(name)
        text = (FIXTURES / name).read_text(encoding="utf-8")
        assert render_document(document, [d.definition for d in document.definitions]) == text

    @pytest.mark.parametrize(
        "name",
        [
            "cdk-orders-stack.template.json",
            "cfn-fargate-public-service.json",
            "describe-task-definition.json",
            "terraform-show-plan.json",
            "terraform-show-state.json",
            "terraform-output-container-definitions.json",
        ],
    )
    def test_json_style_is_detected(self, name: str) -> None:
        """Re-serialised whole, machine-written JSON (1, 4 spaces, Go's one line) is byte-identical."""
        text = (FIXTURES / name).read_text(encoding="utf-8")
        assert render_json(json.loads(text), json_style(text)) == text

    def test_hand_formatted_json_is_normalised(self) -> None:
        """One-line arrays in an indented file are what JSON re-serialisation does not keep."""
        text = (FIXTURES / "container-definitions.json.tpl").read_text(encoding="utf-8")
        assert changed_lines(text, render_json(json.loads(text), json_style(text))) == [
            '-    "command": ["node", "dist/server.js"],',
            '+    "command": [',
            '+      "node",',
            '+      "dist/server.js"',
            "+    ],",
            '-      {"name": "NODE_ENV", "value": "${environment}"}',
            "+      {",
            '+        "name": "NODE_ENV",',
            '+        "value": "${environment}"',
            "+      }",
        ]


class TestRewriteYaml:
    def test_only_the_rewrite_is_written(self) -> None:
        """A new container, env var, dependsOn, mount and volume: added lines only, in CloudFormation's names,
        intrinsics copied in short form; the unchanged containers and everything else are untouched."""
        text = (FIXTURES / "cfn-node-services.yaml").read_text(encoding="utf-8")
        document = read("cfn-node-services.yaml")
        after = render_document(
            document, [adopt_like(document.definitions[0].definition), document.definitions[1].definition]
        )
        assert changed_lines(text, after) == [
            "+        - Name: node-heap-init",
            f"+          Image: {INIT_IMAGE}",
            "+          Essential: false",
            "+          MountPoints:",
            "+            - SourceVolume: node-heap",
            "+              ContainerPath: /shared",
            "+              ReadOnly: false",
            "+          Environment:",
            "+            - Name: NODE_HEAP_TARGET",
            "+              Value: api",
            "+          LogConfiguration:",
            "+            LogDriver: awslogs",
            "+            Options:",
            "+              awslogs-group: !Ref LogGroup",
            "+              awslogs-region: !Ref AWS::Region",
            "+              awslogs-stream-prefix: node-heap-init",
            "+              mode: blocking",
            "+            - Name: NODE_HEAP_FILE",
            "+              Value: /shared/node-heap.env",
            "+            InitProcessEnabled: true",
            "+            - ContainerName: node-heap-init",
            "+              Condition: SUCCESS",
            "+          MountPoints:",
            "+            - SourceVolume: node-heap",
            "+              ContainerPath: /shared",
            "+              ReadOnly: true",
            "+      Volumes:",
            "+        - Name: node-heap",
        ]

    def test_reads_back_as_written_and_again_gives_the_same_text(self) -> None:
        """parse(render(x)) gives the rewritten definitions; rendering them again changes nothing."""
        document = read("cfn-node-services.yaml")
        rewritten = [adopt_like(document.definitions[0].definition), document.definitions[1].definition]
        after = render_document(document, rewritten)
        again = parse_document(after, where="after")
        assert [d.definition for d in again.definitions] == rewritten
        assert render_document(again, rewritten) == after
        assert render_document(again, [adopt_like(d) for d in rewritten][:1] + rewritten[1:]) != after

    def test_a_changed_property_keeps_its_comment(self) -> None:
        """A property rewritten in place keeps the comment on its line, at its column."""
        document = read("cfn-node-services.yaml")
        api = copy.deepcopy(document.definitions[0].definition)
        api["cpu"] = "2048"
        after = render_document(document, [api, document.definitions[1].definition])
        text = (FIXTURES / "cfn-node-services.yaml").read_text(encoding="utf-8")
        assert changed_lines(text, after) == [
            "-      Cpu: 1024          # a number here; the API takes a string",
            "+      Cpu: '2048'        # a number here; the API takes a string",
        ]

    def test_public_template_with_string_booleans(self) -> None:
        """aws-cloudformation-templates' schedule example: the container gains lines, `Essential: "true"` stays."""
        text = (FIXTURES / "cfn-ecs-schedule-example.yaml").read_text(encoding="utf-8")
        document = read("cfn-ecs-schedule-example.yaml")
        after = render_document(document, [adopt_like(document.definitions[0].definition)])
        assert [line for line in changed_lines(text, after) if line.startswith("-")] == []
        assert '          Essential: "true"\n' in after
        assert "+        - Name: node-heap\n" not in after


class TestRewriteJson:
    def test_cloudformation_json_in_its_indentation(self) -> None:
        """CDK's 1-space JSON: the new container in PascalCase with long-form Refs; nothing else moves."""
        text = (FIXTURES / "cdk-orders-stack.template.json").read_text(encoding="utf-8")
        document = read("cdk-orders-stack.template.json")
        after = render_document(document, [adopt_like(document.definitions[0].definition)])
        lines = changed_lines(text, after)
        assert [line for line in lines if line.startswith("-")] == ["-       }", "-      ]", "-    }"]
        assert '+        "awslogs-group": {' in lines
        assert '+         "Ref": "OrdersLogGroup4A1B2C3D"' in lines
        assert '+    "Volumes": [' in lines
        assert json.loads(after)["Resources"]["ApiTaskDef5E7F8A9B"]["Properties"]["Volumes"] == [{"Name": "node-heap"}]

    def test_terraform_state_written_as_terraform_writes_it(self) -> None:
        """One line, Go's escaping in the document and in the container_definitions string it holds."""
        document = read("terraform-show-state.json")
        rewritten = [adopt_like(d.definition) for d in document.definitions]
        after = render_document(document, rewritten)
        assert after.count("\n") == 1
        assert "\\\\u0026\\\\u0026 exec node" in after  # `&&` in the string in the string
        resource = json.loads(after)["values"]["root_module"]["resources"][1]
        assert resource["values"]["container_definitions"].startswith(
            '[{"name":"node-heap-init","image":"public.ecr.aws/example/node-heap-sidecar:0.1.0","essential":false,'
        )
        again = parse_document(after, where="after")
        assert [d.definition for d in again.definitions] == rewritten
        assert render_document(again, rewritten) == after
        for definition in rewritten:
            check_registrable("containers", definition["containerDefinitions"])

    def test_terraform_string(self) -> None:
        """A jsonencode value is written back as a JSON string holding compact JSON."""
        document = read("terraform-output-container-definitions.json")
        definition = copy.deepcopy(document.definitions[0].definition)
        definition["containerDefinitions"][0]["essential"] = False
        after = render_document(document, [definition])
        assert after == (
            '"[{\\"command\\":[\\"node\\",\\"dist/server.js\\"],\\"essential\\":false,\\"image\\":\\"123456789012.dkr.'
            'ecr.eu-west-1.amazonaws.com/orders-api:2024.11.3\\",\\"logConfiguration\\":{\\"logDriver\\":\\"awslogs\\",'
            '\\"options\\":{\\"awslogs-group\\":\\"/ecs/orders\\",\\"awslogs-region\\":\\"eu-west-1\\",\\"awslogs-stream-'
            'prefix\\":\\"api\\"}},\\"name\\":\\"api\\",\\"portMappings\\":[{\\"containerPort\\":8080}]}]"\n'
        )

    def test_describe_answer_is_written_as_a_task_definition(self) -> None:
        """A DescribeTaskDefinition answer comes back ready to register, in its 4-space indentation."""
        document = read("describe-task-definition.json")
        definition = copy.deepcopy(document.definitions[0].definition)
        definition["containerDefinitions"][0]["essential"] = False
        after = render_document(document, [definition])
        assert after.startswith('{\n    "containerDefinitions": [\n')
        assert json.loads(after) == definition


class TestValidation:
    @pytest.mark.parametrize(
        "name", ["cfn-node-services.yaml", "cdk-orders-stack.template.json", "cfn-refarch-product-service.yaml"]
    )
    def test_cfn_lint_passes_on_the_rewrite(self, name: str) -> None:
        """cfn-lint finds nothing in the rewritten template (nor in the original)."""
        try:
            import cfnlint.api  # noqa: PLC0415
        except ImportError:
            unavailable("cfn-lint is not installed (it comes with the test extras, through moto[server])")
        text = (FIXTURES / name).read_text(encoding="utf-8")
        document = read(name)
        rewritten = [adopt_like(document.definitions[0].definition)] + [d.definition for d in document.definitions[1:]]
        after = render_document(document, rewritten)
        assert [m.rule.id for m in cfnlint.api.lint(text, regions=["us-east-1"])] == []
        assert [f"{m.rule.id} {m.message}" for m in cfnlint.api.lint(after, regions=["us-east-1"])] == []

    def test_registrable_view_checks_a_cloudformation_rewrite_with_botocore(self) -> None:
        """Intrinsics stand in as values of their field's type, so botocore's shape check can run."""
        document = read("cfn-node-services.yaml")
        rewritten = adopt_like(document.definitions[0].definition)
        view = registrable_view(rewritten)
        assert view["family"] == "intrinsic"
        assert view["containerDefinitions"][1]["image"] == "intrinsic"
        check_registrable("task-definition", view)

    def test_registrable_view_names_a_family_cloudformation_would_name(self) -> None:
        """A template without Family gets a stand-in family (CloudFormation generates one)."""
        document = read("cdk-orders-stack.template.json")
        definition = copy.deepcopy(document.definitions[0].definition)
        del definition["family"]
        assert registrable_view(definition)["family"] == "cloudformation-named"


class TestMalformed:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (
                "",
                "x.json: empty; expected a task definition, a DescribeTaskDefinition answer, a containerDefinitions "
                "list, a Terraform container_definitions JSON string, `terraform show -json` output or a "
                "CloudFormation "
                "template (JSON or YAML)",
            ),
            ('{"containerDefinitions": [}', "x.json: not JSON: Expecting value at line 1 column 27"),
            (
                '{"family": "x"}',
                "x.json: expected a task definition, a DescribeTaskDefinition answer, a "
                "containerDefinitions list, a Terraform container_definitions JSON string, `terraform show -json` "
                "output or a CloudFormation template (JSON or YAML)",
            ),
            (
                '{"containerDefinitions": {"name": "app"}}',
                "x.json.containerDefinitions: expected a list of container definitions, found an object",
            ),
            (
                '[{"name": "app"}, "sidecar"]',
                "x.json: containerDefinitions[1]: expected a container definition (an object), found 'sidecar'",
            ),
            (
                '"[{\\"name\\": \\"app\\"}"',
                "x.json: the container_definitions string: not JSON: Expecting ',' delimiter at line 1 column 17",
            ),
            (
                'resource "aws_ecs_task_definition" "app" {\n  family = "app"\n}\n',
                "x.json: a Terraform configuration (HCL) is not read: give `terraform show -json` output, or the "
                "container_definitions JSON (jsonencode's value)",
            ),
            (
                "Resources:\n  App:\n    Type: AWS::ECS::TaskDefinition\n    Properties: {Family: [a\n",
                "x.json: not JSON or YAML: expected ',' or ']', but got '<stream end>' at line 5 column 1",
            ),
            ("Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n", "x.json: no AWS::ECS::TaskDefinition in Resources"),
            (
                "Resources:\n  App:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n"
                "      ContainerDefinitions: !If [Big, [], []]\n",
                "x.json: Resources.App.Properties.ContainerDefinitions: an intrinsic function "
                '({"Fn::If": ["Big", [], []]}); left as it is',
            ),
            (
                '{"format_version": "1.0", "values": {"root_module": {}}}',
                "x.json: no aws_ecs_task_definition resource in values",
            ),
            (
                '{"format_version": "1.0", "values": {"root_module": {"resources": [{"address": '
                '"aws_ecs_task_definition.a", "type": "aws_ecs_task_definition", '
                '"values": {"container_definitions": "{}"}}]}}}',
                "x.json: aws_ecs_task_definition.a.container_definitions: expected a list of container definitions, "
                "found an object",
            ),
        ],
    )
    def test_one_line_naming_the_place(self, text: str, message: str) -> None:
        """Each malformed input is one SettingsError line naming the file and the place in it."""
        with pytest.raises(SettingsError) as raised:
            parse_document(text, where="x.json")
        assert str(raised.value) == message
        assert raised.value.exit_code == 2
