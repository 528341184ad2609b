"""audit as a platform team runs it: a real `python -m sidecar audit` process against ECS on 127.0.0.1.

A small fleet in a moto server (task definitions and services through moto's API, stopped tasks
seeded with the exit codes and reasons the agent reports, tests/fleet.py), and the ECS JSON stub
for what moto cannot do (pages, throttling, access denied). Expected figures are worked out by hand
from the definitions below (the sidecar's model for Node 22: binary 40 MiB, isolate 12 MiB,
overhead 5 %, headroom 10 %).
"""

from __future__ import annotations

import copy
import fcntl
import io
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sidecar.errors import SettingsError
from sidecar.fleet.audit import AuditOptions, metric_window, parse_duration
from sidecar.fleet.audit import run_audit as audit_in_process
from sidecar.fleet.images import ECR_READ_ACTIONS
from sidecar.fleet.inventory import READ_ONLY_OPERATIONS
from tests.emf_spec import line_problems
from tests.fleet import OOM, REGION, Stopped, backend, create_service, finish_stopping, seed_stopped_task
from tests.servers import EcsJsonStub, MotoServer, Reply

REPO = Path(__file__).resolve().parent.parent
SHIPPED: dict[str, Any] = json.loads((REPO / "task-definition.json").read_text())
POLICY = REPO / "deploy" / "audit-policy.json"
LOG = SHIPPED["containerDefinitions"][1]["logConfiguration"]


class Audit:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr

    @property
    def report(self) -> list[dict[str, Any]]:
        doc: list[dict[str, Any]] = json.loads(self.stdout)
        return doc

    def item(self, service: str, container: str = "app") -> dict[str, Any]:
        (found,) = [i for i in self.report if i["service"] == service and i["container"] == container]
        return found

    def codes(self, service: str) -> list[str]:
        return [f["code"] for f in self.item(service)["findings"]]

    def calls(self) -> dict[str, int]:
        line = next(line for line in reversed(self.stderr.splitlines()) if " API calls (" in line)
        inside = line.split(" API calls (", 1)[1].split(")", 1)[0]
        return {op: int(n) for op, n in (part.rsplit(" ", 1) for part in inside.split(", "))}


def run_audit(endpoint: str, tmp_path: Path, *args: str, credentials: bool = True) -> Audit:
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_ECS": endpoint,
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_EC2_METADATA_DISABLED": "true",
        "XDG_CACHE_HOME": "/nonexistent",
    }
    if credentials:
        env |= {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    proc = subprocess.run(
        [sys.executable, "-m", "sidecar", "audit", *args, "--offline"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Audit(proc)


def app(**fields: Any) -> dict[str, Any]:
    """A Node container on node:22-slim running `node server.js`, plus `fields`."""
    return {"name": "app", "image": "public.ecr.aws/docker/library/node:22-slim", "essential": True,
            "entryPoint": ["node"], "command": ["server.js"], "logConfiguration": LOG, **fields}  # fmt: skip


def definition(family: str, *containers: dict[str, Any], memory: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"family": family, "containerDefinitions": list(containers)}
    if memory:
        doc["memory"] = memory
    return doc


def shipped(family: str, **app_fields: Any) -> dict[str, Any]:
    doc = copy.deepcopy(SHIPPED)
    doc["family"] = family
    doc["containerDefinitions"][1].update(app_fields)
    return doc


@pytest.fixture
def fleet(moto: MotoServer) -> MotoServer:
    """Clusters prod and batch: one service per case, stopped tasks for `oomed`."""
    moto.create_cluster("prod")
    moto.create_cluster("batch")
    create_service(moto, "prod", "adopted", shipped("adopted"))
    create_service(moto, "prod", "plain", definition("plain", app(), memory="1024"))
    create_service(
        moto,
        "prod",
        "pinned",
        definition(
            "pinned", app(memory=512, environment=[{"name": "NODE_OPTIONS", "value": "--max-old-space-size=1024"}])
        ),
    )
    create_service(moto, "prod", "sized", definition("sized", app(memory=1024)))
    create_service(moto, "prod", "tiny", definition("tiny", app(memory=256)))
    create_service(
        moto, "prod", "python", definition("python", {"name": "worker", "image": "python:3.12", "memory": 256})
    )
    create_service(moto, "prod", "broken", shipped("broken", entryPoint=["node"], command=["server.js"]))
    create_service(
        moto,
        "prod",
        "workers",
        shipped("workers", command=[". /shared/node-heap.env && exec pm2-runtime -i 4 server.js"]),
    )
    oomed = create_service(moto, "batch", "oomed", definition("oomed", app(memory=1024, stopTimeout=30)))

    def seed(*containers: Stopped, **kw: Any) -> str:
        return seed_stopped_task("batch", oomed, "service:oomed", list(containers), **kw)

    seed(Stopped("app", 137, OOM))
    seed(Stopped("app", 137, OOM))
    seed(Stopped("app", 137), stopped_reason=OOM)  # the task's stoppedReason only
    seed(Stopped("app", 137), stop_code="ServiceSchedulerInitiated", stop_took=timedelta(seconds=31))
    seed(Stopped("app", 137), stop_code="UserInitiated", stop_took=timedelta(seconds=5))
    seed(Stopped("app", 134, "Essential container in task exited"))
    seed(Stopped("app", 139))
    seed(Stopped("app", 0))
    seed(Stopped("app", 137, OOM), stopped_ago=timedelta(days=2))  # outside the 24 h window
    return moto


class TestReport:
    def test_one_object_per_node_container(self, fleet: MotoServer, tmp_path: Path) -> None:
        """Every Node container of every service, with its verdict; the Python service is not Node."""
        audit = run_audit(fleet.endpoint, tmp_path, "--json")
        assert audit.code == 10, audit.stderr  # critical findings exist
        verdicts = {(i["cluster"], i["service"], i["container"]): i["verdict"] for i in audit.report}
        assert verdicts == {
            ("prod", "adopted", "app"): "protected",
            ("prod", "plain", "app"): "at-risk",
            ("prod", "pinned", "app"): "at-risk",
            ("prod", "sized", "app"): "ok",
            ("prod", "tiny", "app"): "at-risk",
            ("prod", "broken", "app"): "at-risk",
            ("prod", "workers", "app"): "at-risk",
            ("batch", "oomed", "app"): "at-risk",
        }
        for item in audit.report:
            assert item["task_definition"] == f"arn:aws:ecs:us-east-1:123456789012:task-definition/{item['service']}:1"
            assert item["reasons"] == [f"{f['severity']}: {f['text']}" for f in item["findings"]]

    def test_why_each_is_at_risk(self, fleet: MotoServer, tmp_path: Path) -> None:
        """The finding codes, worst first, per case."""
        audit = run_audit(fleet.endpoint, tmp_path, "--json")
        assert audit.codes("adopted") == ["plan"]
        assert audit.codes("plain") == ["no_visible_limit", "plan"]
        assert audit.codes("pinned") == ["heap_pin_above_memory", "plan"]
        assert audit.codes("sized") == ["plan"]
        assert audit.codes("tiny") == ["node_default_does_not_fit", "plan"]
        assert audit.codes("broken") == ["wiring", "no_visible_limit", "plan"]
        assert audit.codes("workers") == ["workers", "plan"]
        assert audit.codes("oomed") == ["oom_killed", "killed", "aborted", "segfault", "killed_at_stop_timeout", "plan"]

    def test_what_the_sidecar_would_plan(self, fleet: MotoServer, tmp_path: Path) -> None:
        """The init job's own budget and plan: 1024 MiB gives 780 MiB (the README's worked example), 256 MiB 159."""
        audit = run_audit(fleet.endpoint, tmp_path, "--json")
        plain, tiny = audit.item("plain"), audit.item("tiny")
        assert (plain["memory_mib"], plain["memory_arithmetic"]) == (1024, "task 1024 MiB")
        assert plain["plan"]["node_options"] == "--max-old-space-size=780 --max-semi-space-size=16"
        assert plain["node_sees"] == "the host's memory (no container-level memory)"
        # 256 - 40 binary - 26 headroom = 190; - 12 isolate - 11 young (ceil(3/55 x 190), semi-space 2)
        # = 167 = 159 + ceil(0.05 x 159)
        assert (tiny["plan"]["heap_mib"], tiny["node_sees"]) == (159, "its own limit 256 MiB")
        assert audit.item("tiny")["findings"][0]["text"] == (
            "Node's own default old space (256 MiB: half of 256 MiB, at least 256) is more than the 159 MiB that fit: "
            "it thrashes or is killed at the limit before V8 stops it"
        )
        assert audit.item("pinned")["findings"][0]["text"].startswith(
            "the app pins --max-old-space-size=1024 in NODE_OPTIONS: 1024 MiB of old space, at or above the 512 MiB"
        )

    def test_what_the_wiring_misses(self, fleet: MotoServer, tmp_path: Path) -> None:
        """A definition with the init container whose Node container does not read the file."""
        broken = run_audit(fleet.endpoint, tmp_path, "--json").item("broken")
        assert broken["sidecar"] == {
            "init_container": "node-heap-init",
            "env_file": "/shared/node-heap.env",
            "mode": None,
            "missing": [
                "'app' neither sources /shared/node-heap.env (`. /shared/node-heap.env && exec node ...`) nor runs "
                "`node --env-file=/shared/node-heap.env`: Node never reads the heap flags"
            ],
        }

    def test_stopped_tasks_counted_per_service(self, fleet: MotoServer, tmp_path: Path) -> None:
        """OOM kills by container reason or task reason; 137 at stopTimeout or not; 134; 139; the window."""
        oomed = run_audit(fleet.endpoint, tmp_path, "--json").item("oomed")
        assert oomed["oom_kills"] == 3
        assert oomed["stopped_tasks"] == {
            "tasks": 8,
            "oom_killed": 3,
            "exit_137_stop_timeout": 1,
            "exit_137": 1,
            "exit_134": 1,
            "exit_139": 1,
        }
        assert oomed["reasons"][0] == (
            "critical: 3 of 8 stopped tasks in the last 24h OOM-killed: "
            "OutOfMemoryError: Container killed due to memory usage"
        )
        assert oomed["reasons"][1] == (
            "warning: 1 of 8 stopped tasks in the last 24h killed (exit 137) without an OOM reason or a stop: "
            "exit 137 (SIGKILL) 5 s after the stop (UserInitiated), before stopTimeout 30 s"
        )

    def test_table_for_people(self, fleet: MotoServer, tmp_path: Path) -> None:
        """A row per container, its reasons beneath, totals and API calls at the end."""
        audit = run_audit(fleet.endpoint, tmp_path, "--no-progress")
        lines = audit.stdout.splitlines()
        assert lines[0].split() == [
            "CLUSTER",
            "SERVICE",
            "/",
            "TASK",
            "CONTAINER",
            "VERDICT",
            "OOM",
            "MEMORY",
            "NODE",
            "SEES",
            "SIDECAR",
            "PLAN",
        ]
        assert lines[1].split()[:6] == ["batch", "oomed", "app", "at-risk", "3", "1024"]
        assert lines[-2] == (
            "8 Node containers in 9 services of 2 clusters: 6 at-risk, 1 protected, 1 ok; 3 OOM kills in "
            "8 stopped tasks (last 24h)"
        )
        # ListClusters 1, ListServices 2, ListTasks 2, DescribeServices 2, DescribeTasks 1, DescribeTaskDefinition 9
        assert lines[-1].startswith("17 API calls (17 HTTP requests), 9 task definitions, ")
        assert audit.stderr.splitlines() == []

    def test_progress_on_stderr(self, fleet: MotoServer, tmp_path: Path) -> None:
        """Not a terminal: plain progress lines, ending with each phase's total."""
        audit = run_audit(fleet.endpoint, tmp_path, "--json")
        assert "audit: clusters listed 2/2 done" in audit.stderr.splitlines()
        assert "audit: task definitions read 9/9 done" in audit.stderr.splitlines()

    def test_progress_bar_on_a_terminal(self, fleet: MotoServer, tmp_path: Path) -> None:
        """stderr on a terminal (a pty): tqdm bars, one per phase, reaching 100 %; stdout stays clean JSON."""
        controller, terminal = pty.openpty()
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a 120-column terminal
        empty = tmp_path / "aws-empty"
        empty.write_text("")
        env = {
            "PATH": "/usr/bin:/bin",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL_ECS": fleet.endpoint,
            "AWS_CONFIG_FILE": str(empty),
            "AWS_SHARED_CREDENTIALS_FILE": str(empty),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        with subprocess.Popen(
            [sys.executable, "-m", "sidecar", "audit", "--json", "--offline"],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=terminal,
        ) as proc:
            os.close(terminal)
            stdout, _ = proc.communicate(timeout=120)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            shown += chunk
        os.close(controller)
        assert len(json.loads(stdout)) == 8
        for phase in (b"clusters listed", b"services and tasks described", b"task definitions read"):
            assert re.search(phase + rb": 100%\|[^\r\n]*\| (\d+)/\1", shown), shown


class TestExitStatus:
    @pytest.mark.parametrize(
        ("fail_on", "clusters", "code"),
        [
            ("never", "prod,batch", 0),
            ("critical", "prod,batch", 10),
            ("warning", "prod,batch", 10),
            ("info", "prod,batch", 10),
        ],
    )
    def test_fail_on(self, fleet: MotoServer, tmp_path: Path, fail_on: str, clusters: str, code: int) -> None:
        """Exit 10 when a finding at or above --fail-on exists; `never` always 0."""
        assert run_audit(fleet.endpoint, tmp_path, "--json", "--fail-on", fail_on, "--cluster", clusters).code == code

    def test_only_protected_and_ok(self, moto: MotoServer, tmp_path: Path) -> None:
        """No warning or worse: exit 0 at --fail-on warning; info findings alone fail only --fail-on info."""
        moto.create_cluster("calm")
        create_service(moto, "calm", "adopted", shipped("adopted"))
        create_service(moto, "calm", "sized", definition("sized", app(memory=1024)))
        assert run_audit(moto.endpoint, tmp_path, "--json", "--fail-on", "warning").code == 0
        assert run_audit(moto.endpoint, tmp_path, "--json", "--fail-on", "info").code == 10

    def test_named_clusters_only(self, fleet: MotoServer, tmp_path: Path) -> None:
        """--cluster: those clusters only, and no ListClusters call."""
        audit = run_audit(fleet.endpoint, tmp_path, "--json", "--cluster", "batch")
        assert [i["service"] for i in audit.report] == ["oomed"]
        assert "ListClusters" not in audit.calls()

    def test_empty_cluster_list_means_every_cluster(self, fleet: MotoServer, tmp_path: Path) -> None:
        """`--cluster ""` names no cluster, so every cluster is audited (deploy/oom-metric.yaml's default)."""
        audit = run_audit(fleet.endpoint, tmp_path, "--json", "--cluster", "")
        assert sorted({i["cluster"] for i in audit.report}) == ["batch", "prod"]
        assert audit.calls()["ListClusters"] == 1

    def test_no_credentials(self, fleet: MotoServer, tmp_path: Path) -> None:
        """Nothing can be read: exit 11 and one line."""
        audit = run_audit(fleet.endpoint, tmp_path, "--json", credentials=False)
        assert audit.code == 11
        assert audit.stderr.splitlines()[-1] == (
            "node-heap-sidecar audit: ListClusters: NoCredentialsError: Unable to locate credentials"
        )

    def test_bad_window(self, fleet: MotoServer, tmp_path: Path) -> None:
        """A window that is not a duration: exit 2."""
        audit = run_audit(fleet.endpoint, tmp_path, "--since", "yesterday")
        assert (audit.code, audit.stderr) == (
            2,
            "node-heap-sidecar audit: --since='yesterday': expected a duration such as 24h, 90m or 2d\n",
        )


class TestOutputs:
    def test_emf(self, fleet: MotoServer, tmp_path: Path) -> None:
        """--emf: one valid EMF line per Node container and one for the fleet, naming the whole day it counted.

        The stopped tasks counted depend on the clock (the last whole period): TestMetricWindows fixes it.
        """
        audit = run_audit(fleet.endpoint, tmp_path, "--emf", "--metrics-namespace", "Fleet/Audit", "--since", "1d")
        assert [line_problems(line) for line in audit.stdout.splitlines()] == [[]] * 9
        lines = [json.loads(line) for line in audit.stdout.splitlines()]
        for line in lines:
            (directive,) = line["_aws"]["CloudWatchMetrics"]
            assert directive["Namespace"] == "Fleet/Audit"
        oomed = next(line for line in lines if line.get("Service") == "oomed")
        assert (oomed["Cluster"], oomed["Container"], oomed["ContainerMemoryBytes"]) == ("batch", "app", 1024 << 20)
        summary = lines[-1]
        assert (summary["event"], summary["NodeContainers"]) == ("audit_summary", 8)
        # a day's window ends at midnight UTC, and the datapoints carry that time
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT00:00:00Z", summary["window_end"])
        end = datetime.strptime(summary["window_end"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert summary["_aws"]["Timestamp"] == int(end.timestamp()) * 1000
        assert summary["window_start"] == f"{end - timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}"

    def test_standalone_tasks(self, moto: MotoServer, tmp_path: Path) -> None:
        """--standalone: running tasks of no service are audited too, named by their task."""
        moto.create_cluster("jobs")
        arn = moto.register_task_definition("job", [app(memory=512)])
        # moto's RunTask needs a container instance (EC2) or a network (Fargate): seed the running task instead
        ecs = backend()
        task_arn = seed_stopped_task("jobs", arn, "family:job", [Stopped("app", 0)])
        running = ecs.tasks["jobs"][task_arn]
        running.last_status, running.desired_status = "RUNNING", "RUNNING"
        audit = run_audit(moto.endpoint, tmp_path, "--json", "--standalone")
        (item,) = audit.report
        assert (item["service"], item["task"], item["verdict"]) == (None, task_arn, "ok")


T = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a top of the hour: 1796637600 s since 1970 (`date -u -d ... +%s`)


def emf_run(moto: MotoServer, now: datetime, since: str = "1h") -> tuple[list[dict[str, Any]], str]:
    """`audit --emf --since 1h` at `now` (in this process: the clock is a parameter), against moto over HTTP."""
    options = AuditOptions(
        output="emf", since=since, fail_on="never", endpoint_url=moto.endpoint, region=REGION, progress=False
    )
    out, err = io.StringIO(), io.StringIO()
    code = audit_in_process(options, out, err, now=now, stderr_tty=False)
    assert code == 0, err.getvalue()
    return [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def oom_kills(lines: list[dict[str, Any]]) -> tuple[int, int]:
    """(OomKills of service `oomed`, OomKills of the fleet line)."""
    (oomed,) = [line for line in lines if line.get("Service") == "oomed"]
    return oomed["OomKills"], lines[-1]["OomKills"]


class TestMetricWindow:
    @pytest.mark.parametrize(
        ("now", "period", "window"),
        [
            ("2026-12-07T10:00:00", "1h", ("2026-12-07T09:00:00", "2026-12-07T10:00:00")),
            ("2026-12-07T10:59:59.999", "1h", ("2026-12-07T09:00:00", "2026-12-07T10:00:00")),
            ("2026-12-07T10:02:30", "15m", ("2026-12-07T09:45:00", "2026-12-07T10:00:00")),
            ("2026-12-07T10:44:59", "30m", ("2026-12-07T10:00:00", "2026-12-07T10:30:00")),
            ("2026-12-07T00:01:00", "1d", ("2026-12-06T00:00:00", "2026-12-07T00:00:00")),
        ],
    )
    def test_last_whole_period(self, now: str, period: str, window: tuple[str, str]) -> None:
        """The period that ended last, at a multiple of the period since 1970 (UTC): `[end - period, end)`."""
        start, end = metric_window(datetime.fromisoformat(now).replace(tzinfo=UTC), parse_duration(period))
        assert (start, end) == tuple(datetime.fromisoformat(w).replace(tzinfo=UTC) for w in window)

    def test_zero_period_refused(self, moto: MotoServer, aws_credentials: None) -> None:
        """--emf needs a period to align to: `--since 0h` is a settings error."""
        with pytest.raises(SettingsError) as raised:
            emf_run(moto, T, since="0h")
        assert str(raised.value) == "--since='0h': expected at least 1s with --emf"


class TestMetricWindows:
    def test_each_stopped_task_counted_once(self, moto: MotoServer, aws_credentials: None) -> None:
        """Hourly runs two minutes past the hour, one late, one repeated: every OOM kill lands in one datapoint.

        Seeded in the order time passes: a kill at T-1h-1s (before the run for the hour before T-1h);
        kills at T-1h and T-1s and a task still stopping since T-10s (before the run for [T-1h, T)); kills
        at T and T+30min, the stopping task stopped at T+3min (before a repeated run at T+59min and the
        run for [T, T+1h)).
        """
        moto.create_cluster("batch")
        arn = create_service(moto, "batch", "oomed", definition("oomed", app(memory=1024)))

        def oom_at(when: datetime, **kw: Any) -> str:
            stopped = [Stopped("app", 137, OOM)]
            return seed_stopped_task("batch", arn, "service:oomed", stopped, stopped_ago=timedelta(0), now=when, **kw)

        oom_at(T - timedelta(hours=1, seconds=1))
        before, _ = emf_run(moto, T - timedelta(minutes=58))
        oom_at(T - timedelta(hours=1))
        oom_at(T - timedelta(seconds=1))
        stopping = oom_at(T - timedelta(seconds=10), still_stopping=True)
        first, said = emf_run(moto, T + timedelta(minutes=2))
        oom_at(T)
        oom_at(T + timedelta(minutes=30))
        finish_stopping("batch", stopping, T + timedelta(minutes=3))
        repeated, _ = emf_run(moto, T + timedelta(minutes=59, seconds=59))
        after, _ = emf_run(moto, T + timedelta(hours=1, minutes=2))

        assert (oom_kills(before), oom_kills(first), oom_kills(after)) == ((1, 1), (2, 2), (3, 3))
        assert repeated == first  # the same window: the same datapoints, to the byte
        assert [line["_aws"]["Timestamp"] for line in first] == [1796637600000, 1796637600000]
        assert (first[-1]["window_start"], first[-1]["window_end"]) == ("2026-12-07T09:00:00Z", "2026-12-07T10:00:00Z")
        assert "audit: stopped tasks counted by stoppedAt in [2026-12-07T09:00:00Z, 2026-12-07T10:00:00Z)" in said
        assert first[0]["reasons"][0] == (
            "critical: 2 of 2 stopped tasks in the last 1h ending 2026-12-07T10:00:00Z OOM-killed: "
            "OutOfMemoryError: Container killed due to memory usage"
        )

    def test_the_window_decides_the_verdict(self, moto: MotoServer, aws_credentials: None) -> None:
        """A service whose only OOM kill is in an earlier hour is not at risk in this hour's datapoint."""
        moto.create_cluster("batch")
        arn = create_service(moto, "batch", "oomed", definition("oomed", app(memory=1024)))
        seed_stopped_task(
            "batch", arn, "service:oomed", [Stopped("app", 137, OOM)], stopped_ago=timedelta(hours=1, seconds=1), now=T
        )
        (line, fleet), _ = emf_run(moto, T + timedelta(minutes=2))
        assert (line["OomKills"], line["AtRisk"], fleet["AtRisk"]) == (0, 0, 0)
        (line, fleet), _ = emf_run(moto, T - timedelta(minutes=58))
        assert (line["OomKills"], line["AtRisk"], fleet["AtRisk"]) == (1, 1, 1)


class TestReadOnly:
    def test_calls_are_the_policy(self, fleet: MotoServer, tmp_path: Path) -> None:
        """The audit calls read-only operations only, and deploy/audit-policy.json allows exactly those, and
        what reading ECR images' configs takes."""
        calls = run_audit(fleet.endpoint, tmp_path, "--json", "--standalone").calls()
        policy = json.loads(POLICY.read_text())
        ecs, ecr = policy["Statement"]
        assert (ecs["Effect"], ecr["Effect"]) == ("Allow", "Allow")
        assert set(calls) == set(READ_ONLY_OPERATIONS)
        assert sorted(ecs["Action"]) == sorted(f"ecs:{op}" for op in READ_ONLY_OPERATIONS)
        assert all(op.startswith(("List", "Describe")) for op in calls)
        assert ecr["Action"] == list(ECR_READ_ACTIONS)


def stub_page(key: str, items: list[str], token: str | None) -> Reply:
    doc: dict[str, Any] = {key: items}
    if token:
        doc["nextToken"] = token
    return Reply.json(doc, content_type="application/x-amz-json-1.1")


class TestAgainstTheEcsJsonStub:
    @pytest.fixture
    def stub(self) -> Iterator[EcsJsonStub]:
        with EcsJsonStub() as stub:
            cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/big"
            services = [f"arn:aws:ecs:us-east-1:123456789012:service/big/s{i:02d}" for i in range(25)]
            stub.script("ListClusters", stub_page("clusterArns", [cluster], None))
            stub.script(
                "ListServices",
                stub_page("serviceArns", services[:20], "page-2"),
                stub_page("serviceArns", services[20:], None),
            )
            service = {
                "serviceName": "s00",
                "serviceArn": services[0],
                "clusterArn": cluster,
                "status": "ACTIVE",
                "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3",
            }
            stub.answer("DescribeServices", {"services": [service], "failures": []})
            stub.answer("ListTasks", {"taskArns": []})
            stub.answer("DescribeTaskDefinition", {"taskDefinition": definition("web", app(memory=1024))})
            yield stub

    def test_pages_and_batches(self, stub: EcsJsonStub, tmp_path: Path) -> None:
        """Every page is followed (maxResults 100, nextToken); DescribeServices gets 10 services per call."""
        audit = run_audit(stub.endpoint, tmp_path, "--json", "--concurrency", "1")
        assert audit.code == 0, audit.stderr
        calls = stub.calls()
        pages = [body for op, body in calls if op == "ListServices"]
        assert pages == [
            {"cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/big", "maxResults": 100},
            {"cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/big", "maxResults": 100, "nextToken": "page-2"},
        ]
        assert [len(body["services"]) for op, body in calls if op == "DescribeServices"] == [10, 10, 5]
        assert [body for op, body in calls if op == "ListTasks"] == [
            {"cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/big", "desiredStatus": "STOPPED", "maxResults": 100}
        ]

    def test_throttling_is_retried(self, stub: EcsJsonStub, tmp_path: Path) -> None:
        """A throttled call is retried by botocore: the audit completes, with more HTTP requests than calls."""
        stub.script(
            "ListClusters",
            Reply.aws_error("ThrottlingException", "Rate exceeded"),
            stub_page("clusterArns", ["arn:aws:ecs:us-east-1:123456789012:cluster/big"], None),
        )
        audit = run_audit(stub.endpoint, tmp_path, "--no-progress")
        assert audit.code == 0, audit.stderr
        assert stub.attempts("ListClusters") == 2
        # ListClusters 1, ListServices 2, DescribeServices 3, ListTasks 1, DescribeTaskDefinition 1
        assert "8 API calls (9 HTTP requests)" in audit.stdout

    def test_access_denied_on_part_of_the_fleet(self, stub: EcsJsonStub, tmp_path: Path) -> None:
        """A definition that cannot be read: the rest is reported, the gap named, exit 11."""
        stub.script("DescribeTaskDefinition", Reply.aws_error("AccessDeniedException", "not authorized"))
        audit = run_audit(stub.endpoint, tmp_path, "--json")
        assert audit.code == 11
        assert audit.report == []
        assert audit.stderr.splitlines()[-1] == (
            "audit: could not read: task definition arn:aws:ecs:us-east-1:123456789012:task-definition/web:3: "
            "AccessDeniedException: not authorized"
        )
