"""The fleet's OOM kills as CloudWatch metrics: deploy/oom-metric.yaml and its plain counterparts.

deploy/oom-metric.yaml (CloudFormation) holds the scheduled audit task, its roles, log group, schedule
and alarms; deploy/task-definition.audit.json, audit-schedule.json and audit-scheduler-policy.json are
the same without CloudFormation (docs/oom-metric.md). Checked here: cfn-lint finds nothing (and finds
a breach in a broken copy); the stack created in moto's CloudFormation registers the same container as
the plain task definition and gives its roles the policies the plain files hold (moto's CloudFormation
skips the schedule and the alarms: those are compared with the plain schedule, which moto's Scheduler
creates, and with what the audit really emits); the scheduled command, run as a process against a
moto fleet, prints nothing but valid EMF lines.
"""

from __future__ import annotations

import ast
import copy
import functools
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from sidecar.fleet.audit import parse_duration
from tests.emf_spec import line_problems
from tests.fleet import OOM, REGION, Stopped, create_service, seed_stopped_task
from tests.servers import FAKE_ACCOUNT, MotoServer
from tests.test_audit import app, definition, emf_run, shipped

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "deploy" / "oom-metric.yaml"
TASK_DEFINITION = REPO / "deploy" / "task-definition.audit.json"
SCHEDULE = REPO / "deploy" / "audit-schedule.json"
SCHEDULER_POLICY = REPO / "deploy" / "audit-scheduler-policy.json"
AUDIT_POLICY = REPO / "deploy" / "audit-policy.json"
STACK_PARAMETERS = {
    "Image": "node-heap-sidecar:0.2.0",
    "ClusterName": "ops",
    "Subnets": "subnet-0123456789abcdef0",
    "SecurityGroups": "sg-0123456789abcdef0",
}
UNSUPPORTED_IN_MOTO = "ignore:Tried to parse AWS::"  # moto's CloudFormation skips Scheduler and CloudWatch alarms


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def template() -> dict[str, Any]:
    """The template as CloudFormation reads it (short-form tags as `Ref`, `Fn::...`), by cfn-lint's decoder."""
    return copy.deepcopy(_decoded())


@functools.cache
def _decoded() -> dict[str, Any]:
    from cfnlint.decode import decode  # noqa: PLC0415 (lazy: only these tests use cfn-lint, ~1 s to import)

    doc, problems = decode(str(TEMPLATE))
    assert not problems
    assert doc is not None
    return dict(doc)


def cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("cfn-lint")  # installed with the test extras
    return subprocess.run([str(executable), str(path)], capture_output=True, text=True, timeout=300, check=False)


def create_stack(moto: MotoServer, **parameters: str) -> dict[str, str]:
    """The stack in moto's CloudFormation; returns its resources' physical ids by logical id."""
    cloudformation = moto.client("cloudformation")
    cloudformation.create_stack(
        StackName="node-heap-audit",
        TemplateBody=TEMPLATE.read_text(),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (STACK_PARAMETERS | parameters).items()],
    )
    (stack,) = cloudformation.describe_stacks(StackName="node-heap-audit")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    resources = cloudformation.list_stack_resources(StackName="node-heap-audit")["StackResourceSummaries"]
    return {r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in resources}


def role_policy(moto: MotoServer, role: str, name: str) -> dict[str, Any]:
    """An inline policy of a role the stack made. moto's CloudFormation stores the document as the Python repr
    of the template's mapping (not JSON), which boto3 hands back as a string: read it as the literal it is."""
    raw = moto.client("iam").get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    document: dict[str, Any] = ast.literal_eval(raw) if isinstance(raw, str) else raw
    return document


def registered_container(moto: MotoServer, arn: str) -> dict[str, Any]:
    described = moto.client().describe_task_definition(taskDefinition=arn)["taskDefinition"]
    (container,) = described["containerDefinitions"]
    keys = ("name", "image", "essential", "readonlyRootFilesystem", "command", "logConfiguration")
    return {"family": described["family"], **{key: container[key] for key in keys}}


class TestCfnLint:
    def test_template_is_clean(self) -> None:
        """cfn-lint (CloudFormation's resource schemas, references, conditions) reports nothing."""
        result = cfn_lint(TEMPLATE)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")

    def test_breaches_are_found(self, tmp_path: Path) -> None:
        """A copy with a launch type and a statistic that do not exist fails, each breach named."""
        broken = tmp_path / "broken.yaml"
        text = TEMPLATE.read_text()
        broken.write_text(text.replace("LaunchType: FARGATE\n", "LaunchType: FARGATEX\n").replace("Maximum", "Maximal"))
        result = cfn_lint(broken)
        assert result.returncode == 2
        assert "E3030 'FARGATEX' is not one of ['EC2', 'FARGATE', 'EXTERNAL']" in result.stdout
        assert "E3030 'Maximal' is not one of ['Average', 'Maximum', 'Minimum', 'SampleCount', 'Sum']" in result.stdout


@pytest.mark.filterwarnings(UNSUPPORTED_IN_MOTO)
class TestStackInMoto:
    def test_registers_the_plain_task_definition(self, moto: MotoServer) -> None:
        """The stack's task definition is deploy/task-definition.audit.json's, plus `--cluster ""` (every cluster)."""
        resources = create_stack(moto)
        (plain,) = load(TASK_DEFINITION)["containerDefinitions"]
        expected = {key: plain[key] for key in ("name", "image", "essential", "readonlyRootFilesystem")}
        assert registered_container(moto, resources["TaskDefinition"]) == {
            "family": "node-heap-audit",
            **expected,
            "command": [*plain["command"], "--cluster", ""],
            "logConfiguration": plain["logConfiguration"],
        }

    def test_parameters_reach_the_command(self, moto: MotoServer) -> None:
        """WindowMinutes 15 gives `--since 15m`; AuditedClusters and Namespace are passed as given."""
        resources = create_stack(moto, WindowMinutes="15", AuditedClusters="prod,batch", Namespace="Fleet/Heap")
        assert registered_container(moto, resources["TaskDefinition"])["command"] == [
            "audit",
            "--emf",
            "--since",
            "15m",
            "--fail-on",
            "never",
            "--no-progress",
            "--metrics-namespace",
            "Fleet/Heap",
            "--region",
            "us-east-1",
            "--cluster",
            "prod,batch",
        ]

    def test_task_role_is_the_audit_policy(self, moto: MotoServer) -> None:
        """The task role's only policy is deploy/audit-policy.json (read-only ECS)."""
        resources = create_stack(moto)
        iam = moto.client("iam")
        role = resources["TaskRole"]
        assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["audit-read-only"]
        assert role_policy(moto, role, "audit-read-only") == load(AUDIT_POLICY)

    def test_scheduler_role_runs_this_task_only(self, moto: MotoServer) -> None:
        """RunTask on the stack's task definition in cluster ops, PassRole on its two roles: the plain policy's
        statements, with the revision the stack registered."""
        resources = create_stack(moto)
        iam = moto.client("iam")
        role = iam.get_role(RoleName=resources["SchedulerRole"])["Role"]
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
        run_task, pass_role = role_policy(moto, resources["SchedulerRole"], "run-audit-task")["Statement"]
        execution, task = (iam.get_role(RoleName=resources[r])["Role"]["Arn"] for r in ("ExecutionRole", "TaskRole"))
        plain_run_task, plain_pass_role = load(SCHEDULER_POLICY)["Statement"]
        assert run_task == {**plain_run_task, "Resource": resources["TaskDefinition"]}
        assert pass_role == {**plain_pass_role, "Resource": [execution, task]}
        assert resources["TaskDefinition"] == f"arn:aws:ecs:{REGION}:{FAKE_ACCOUNT}:task-definition/node-heap-audit:1"

    def test_log_group(self, moto: MotoServer) -> None:
        """The task's awslogs group exists, kept 14 days."""
        create_stack(moto)
        (group,) = moto.client("logs").describe_log_groups(logGroupNamePrefix="/ecs/node-heap-audit")["logGroups"]
        assert (group["logGroupName"], group["retentionInDays"]) == ("/ecs/node-heap-audit", 14)


class TestSchedule:
    def test_plain_schedule_creates_in_moto(self, moto: MotoServer) -> None:
        """deploy/audit-schedule.json is CreateSchedule's input as botocore models it, and moto's Scheduler keeps it."""
        doc = load(SCHEDULE)
        shape = botocore.session.get_session().get_service_model("scheduler").operation_model("CreateSchedule")
        report = ParamValidator().validate(doc, shape.input_shape)
        assert not report.has_errors(), report.generate_report()
        scheduler = moto.client("scheduler")
        scheduler.create_schedule(**doc)
        created = scheduler.get_schedule(Name="node-heap-audit")
        assert (created["ScheduleExpression"], created["Target"]["EcsParameters"]) == (
            "cron(2 * * * ? *)",
            doc["Target"]["EcsParameters"],
        )

    def test_template_schedule_is_the_plain_one(self) -> None:
        """With the default 60-minute window the template's schedule is deploy/audit-schedule.json's."""
        doc = template()
        schedule = doc["Resources"]["Schedule"]["Properties"]
        hourly = doc["Mappings"]["Window"]["60"]
        plain = load(SCHEDULE)
        assert schedule["ScheduleExpression"] == {"Fn::FindInMap": ["Window", {"Ref": "WindowMinutes"}, "Schedule"]}
        assert doc["Parameters"]["WindowMinutes"]["Default"] == "60"
        assert hourly["Schedule"] == plain["ScheduleExpression"]
        assert hourly["RetryWithinSeconds"] == plain["Target"]["RetryPolicy"]["MaximumEventAgeInSeconds"]
        for key in ("ScheduleExpressionTimezone", "FlexibleTimeWindow", "State", "Description"):
            assert schedule[key] == plain[key]
        ecs = schedule["Target"]["EcsParameters"]
        for key in ("TaskCount", "LaunchType", "PlatformVersion"):
            assert ecs[key] == plain["Target"]["EcsParameters"][key]
        assert (
            schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"]
            == 3
            == plain["Target"]["RetryPolicy"]["MaximumRetryAttempts"]
        )

    @pytest.mark.parametrize(("minutes", "cron"), [("15", "cron(2/15 * * * ? *)"), ("30", "cron(2/30 * * * ? *)"),
                                                   ("60", "cron(2 * * * ? *)")])  # fmt: skip
    def test_each_window_runs_after_its_boundary(self, minutes: str, cron: str) -> None:
        """Each run starts 2 minutes after a boundary, `--since` is the alarm's period, and a retry still starts
        3 minutes before the next boundary: so every run counts the period that just ended."""
        window = template()["Mappings"]["Window"][minutes]
        assert window["Schedule"] == cron
        assert (
            parse_duration(window["Since"]) == timedelta(seconds=window["Seconds"]) == timedelta(minutes=int(minutes))
        )
        assert 120 + window["RetryWithinSeconds"] <= window["Seconds"] - 180


class TestAlarms:
    def test_alarms_watch_what_the_audit_emits(self, moto: MotoServer, aws_credentials: None) -> None:
        """The fleet alarm's metric, the per-service query's dimensions and the silence alarm's metric are in the
        audit's real EMF lines."""
        moto.create_cluster("prod")
        create_service(moto, "prod", "web", definition("web", app(memory=1024)))
        lines, _ = emf_run(moto, datetime(2026, 12, 7, 10, 2, tzinfo=UTC))
        directives = [(line["_aws"]["CloudWatchMetrics"][0], line) for line in lines]
        emitted = {
            (d["Namespace"], tuple(sorted(d["Dimensions"][0])), m["Name"]) for d, _ in directives for m in d["Metrics"]
        }
        resources = template()["Resources"]
        fleet, service, silent = (resources[r]["Properties"] for r in ("FleetOomKillsAlarm", "ServiceOomKillsAlarm",
                                                                        "AuditSilentAlarm"))  # fmt: skip
        assert ("NodeHeapSidecar", (), fleet["MetricName"]) in emitted
        assert ("NodeHeapSidecar", (), silent["MetricName"]) in emitted
        assert ("NodeHeapSidecar", ("Cluster", "Container", "Service"), "OomKills") in emitted
        (query,) = service["Metrics"]
        assert query["Expression"] == {
            "Fn::Sub": 'SELECT MAX(OomKills) FROM SCHEMA("${Namespace}", Cluster, Container, Service) '
            "GROUP BY Cluster, Service, Container"
        }

    def test_any_oom_kill_alarms_and_repeats_do_not_add_up(self) -> None:
        """At least one OOM kill in the period, by the Maximum (a repeated run sends the same datapoint again);
        no datapoint is not a breach; the silence alarm wants two periods without the fleet line."""
        resources = template()["Resources"]
        fleet = resources["FleetOomKillsAlarm"]["Properties"]
        service = resources["ServiceOomKillsAlarm"]["Properties"]
        silent = resources["AuditSilentAlarm"]["Properties"]
        period = {"Fn::FindInMap": ["Window", {"Ref": "WindowMinutes"}, "Seconds"]}
        for alarm in (fleet, service):
            assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["TreatMissingData"]) == (
                1,
                "GreaterThanOrEqualToThreshold",
                "notBreaching",
            )
            assert alarm["EvaluationPeriods"] == 1
        assert (fleet["Statistic"], fleet["Period"], service["Metrics"][0]["Period"]) == ("Maximum", period, period)
        assert "Dimensions" not in fleet
        assert (silent["Statistic"], silent["EvaluationPeriods"], silent["DatapointsToAlarm"]) == ("SampleCount", 2, 2)
        assert (silent["ComparisonOperator"], silent["TreatMissingData"]) == ("LessThanThreshold", "breaching")


class TestScheduledCommand:
    def test_prints_only_valid_emf(self, moto: MotoServer, tmp_path: Path) -> None:
        """The plain task definition's command, run as a process against a moto fleet, exits 0 with only valid EMF
        lines on stdout (what CloudWatch Logs turns into metrics) and its window on stderr."""
        moto.create_cluster("prod")
        create_service(moto, "prod", "adopted", shipped("adopted"))
        oomed = create_service(moto, "prod", "oomed", definition("oomed", app(memory=1024)))
        create_service(moto, "prod", "plain", definition("plain", app(), memory="1024"))
        seed_stopped_task("prod", oomed, "service:oomed", [Stopped("app", 137, OOM)], stopped_ago=timedelta(hours=1))
        (container,) = load(TASK_DEFINITION)["containerDefinitions"]
        empty = tmp_path / "aws-empty"
        empty.write_text("")
        env = {
            "PATH": "/usr/bin:/bin",
            "AWS_ENDPOINT_URL_ECS": moto.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": str(empty),
            "AWS_SHARED_CREDENTIALS_FILE": str(empty),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        proc = subprocess.run(
            [sys.executable, "-m", "sidecar", *container["command"], "--offline"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert [line_problems(line) for line in lines] == [[]] * 4
        assert sorted(str(json.loads(line).get("Service")) for line in lines) == ["None", "adopted", "oomed", "plain"]
        said = proc.stderr.splitlines()
        assert said[0].startswith("audit: stopped tasks counted by stoppedAt in [")
        assert said[1].startswith("audit: 3 Node containers, ")
