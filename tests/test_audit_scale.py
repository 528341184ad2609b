"""The audit at fleet scale: 50 clusters, 5 000 services, 20 000 stopped tasks in a moto server on 127.0.0.1.

1 000 distinct task definitions: each service name runs the same definition in 5 clusters, as an app
deployed to several clusters does (DescribeTaskDefinition is called once per distinct definition).

The fleet is generated here and put into moto's backend directly (tests/fleet.py); the audit runs as
a real `python -m sidecar audit --json` process and reads it over HTTP with boto3. The expected
figures come from the generator. The run's API calls and wall time are written to
build/audit-scale.json (the README's "Audit at scale" figures).
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.fleet import OOM, REGION, Stopped, backend, fast_moto, seed_stopped_task
from tests.servers import MotoServer

REPO = Path(__file__).resolve().parent.parent
CLUSTERS = 50
SERVICES_PER_CLUSTER = 100
STOPPED_PER_SERVICE = 4
SHARED_BY = 5  # clusters running the same task definition
KINDS = ("protected", "no-visible-limit", "sized", "pinned", "python")  # service s has KINDS[s % 5]
LOG: dict[str, Any] = {
    "logDriver": "awslogs",
    "options": {"awslogs-group": "/ecs/fleet", "awslogs-region": REGION, "awslogs-stream-prefix": "app"},
}


def containers(kind: str) -> list[dict[str, Any]]:
    """The container definitions of a service of `kind`."""
    if kind == "python":
        return [{"name": "worker", "image": "python:3.12-slim", "memory": 512, "command": ["python", "worker.py"]}]
    app: dict[str, Any] = {"name": "app", "image": "node:22-slim", "essential": True, "logConfiguration": LOG}
    if kind == "protected":
        init: dict[str, Any] = {
            "name": "node-heap-init",
            "image": "node-heap-sidecar:0.2.0",
            "essential": False,
            "memory": 64,
            "mountPoints": [{"sourceVolume": "node-heap", "containerPath": "/shared", "readOnly": False}],
            "environment": [{"name": "NODE_HEAP_TARGET", "value": "app"}],
            "logConfiguration": {**LOG, "options": {**LOG["options"], "mode": "blocking"}},
        }
        app |= {
            "memory": 1024,
            "dependsOn": [{"containerName": "node-heap-init", "condition": "SUCCESS"}],
            "mountPoints": [{"sourceVolume": "node-heap", "containerPath": "/shared", "readOnly": True}],
            "linuxParameters": {"initProcessEnabled": True},
            "entryPoint": ["sh", "-c"],
            "command": [". /shared/node-heap.env && exec node server.js"],
        }
        return [init, app]
    app["command"] = ["node", "server.js"]
    if kind == "no-visible-limit":
        app["memoryReservation"] = 512  # EC2-style: only a reservation, the task limit below
    elif kind == "sized":
        app["memory"] = 1024
    else:
        app["memory"] = 512
        app["environment"] = [{"name": "NODE_OPTIONS", "value": "--max-old-space-size=1024"}]
    return [app]


def build_fleet() -> dict[str, Any]:
    """Clusters, one task definition per service, services, stopped tasks; returns what was made."""
    ecs = backend()
    made: Counter[str] = Counter()
    oom_by_kind: Counter[str] = Counter()
    definitions: dict[str, Any] = {}
    for c in range(CLUSTERS):
        cluster = f"fleet-{c:03d}"  # fixed width: moto matches a cluster name as a substring of the task ARN
        ecs.create_cluster(cluster)
        for s in range(SERVICES_PER_CLUSTER):
            kind = KINDS[s % len(KINDS)]
            # One task definition per service of a cluster group: 1 000 distinct ones, each run by the same
            # service in 5 clusters (as an app deployed to several clusters is).
            family = f"group{c // SHARED_BY}-svc{s:03d}"
            if family in definitions:
                definition = definitions[family]
            else:
                definition = definitions[family] = ecs.register_task_definition(
                    family=family,
                    container_definitions=containers(kind),
                    volumes=[{"name": "node-heap"}] if kind == "protected" else None,
                    network_mode="bridge",
                    memory="2048" if kind == "no-visible-limit" else None,
                )
            service = f"svc{s:03d}"
            ecs.create_service(cluster, service, 1, task_definition_str=definition.arn)
            made[kind] += 1
            name = "worker" if kind == "python" else "app"
            for t in range(STOPPED_PER_SERVICE):
                oom = t == 0 and s % 10 in (1, 3)  # some no-visible-limit and pinned services were OOM-killed
                seed_stopped_task(
                    cluster,
                    definition.arn,
                    f"service:{service}",
                    [Stopped(name, 137, OOM) if oom else Stopped(name, 0)],
                )
                made["stopped"] += 1
                oom_by_kind[kind] += oom
    return {"services": made, "oom": oom_by_kind, "task_definitions": len(definitions)}


@pytest.fixture(scope="module")
def fleet_audit(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The generated fleet, audited once by a real process; its JSON report, stderr, and the wall time."""
    moto_server.reset()
    started = time.monotonic()
    made = build_fleet()
    seeded_s = time.monotonic() - started
    empty = tmp_path_factory.mktemp("aws") / "empty"
    empty.write_text("")
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_ECS": moto_server.endpoint,
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_EC2_METADATA_DISABLED": "true",
        "XDG_CACHE_HOME": "/nonexistent",
    }
    with fast_moto():
        started, children, server = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN), time.process_time()
        proc = subprocess.run(
            [sys.executable, "-m", "sidecar", "audit", "--json", "--fail-on", "never", "--offline"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        wall_s = time.monotonic() - started
        server_cpu_s = time.process_time() - server  # this process: moto's server threads, the test idles
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        audit_cpu_s = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    moto_server.reset()
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {
        "made": made,
        "report": json.loads(proc.stdout),
        "stderr": proc.stderr,
        "wall_s": wall_s,
        "seeded_s": seeded_s,
        "audit_cpu_s": audit_cpu_s,
        "server_cpu_s": server_cpu_s,
    }


def api_calls(stderr: str) -> dict[str, int]:
    """The per-operation counts of the audit's last stderr line (counted by botocore's event hooks)."""
    line = next(line for line in reversed(stderr.splitlines()) if " API calls (" in line)
    inside = line.split(" API calls (", 1)[1].split(")", 1)[0]
    return {op: int(n) for op, n in (part.rsplit(" ", 1) for part in inside.split(", "))}


class TestAuditAtScale:
    def test_every_node_container_is_judged(self, fleet_audit: dict[str, Any]) -> None:
        """One object per Node container (the Python services are not Node); verdicts as generated."""
        made, report = fleet_audit["made"]["services"], fleet_audit["report"]
        verdicts = Counter(item["verdict"] for item in report)
        assert len(report) == made["protected"] + made["no-visible-limit"] + made["sized"] + made["pinned"]
        assert verdicts == {
            "protected": made["protected"],
            "ok": made["sized"],
            "at-risk": made["no-visible-limit"] + made["pinned"],
        }

    def test_oom_kills_counted_per_service(self, fleet_audit: dict[str, Any]) -> None:
        """Every seeded OOM kill is counted once, on its own service."""
        oom, report = fleet_audit["made"]["oom"], fleet_audit["report"]
        assert sum(item["oom_kills"] for item in report) == oom["no-visible-limit"] + oom["pinned"]
        assert {item["oom_kills"] for item in report} == {0, 1}
        assert all(item["stopped_tasks"]["tasks"] == STOPPED_PER_SERVICE for item in report)

    def test_calls_grow_with_services_not_tasks_times_services(self, fleet_audit: dict[str, Any]) -> None:
        """Each operation's calls: lists per cluster (and page), describes per batch, one per task definition."""
        services = CLUSTERS * SERVICES_PER_CLUSTER
        stopped = services * STOPPED_PER_SERVICE
        per_cluster_stopped = SERVICES_PER_CLUSTER * STOPPED_PER_SERVICE
        calls = api_calls(fleet_audit["stderr"])
        # moto answers a list in one page; ECS pages by 100, which adds ListTasks pages, not describes
        assert calls == {
            "ListClusters": 1,
            "ListServices": CLUSTERS,
            "DescribeServices": CLUSTERS * math.ceil(SERVICES_PER_CLUSTER / 10),
            "ListTasks": CLUSTERS,
            "DescribeTasks": CLUSTERS * math.ceil(per_cluster_stopped / 100),
            "DescribeTaskDefinition": services // SHARED_BY,  # once per distinct task definition
        }
        assert sum(calls.values()) < services + stopped / 100 + CLUSTERS * 3 + services / 10 + 1
        record = {
            "clusters": CLUSTERS,
            "services": services,
            "stopped_tasks": stopped,
            "task_definitions": fleet_audit["made"]["task_definitions"],
            "node_containers": len(fleet_audit["report"]),
            "api_calls": calls,
            "api_calls_total": sum(calls.values()),
            "audit_wall_s": round(fleet_audit["wall_s"], 1),
            "audit_cpu_s": round(fleet_audit["audit_cpu_s"], 1),
            "moto_server_cpu_s": round(fleet_audit["server_cpu_s"], 1),
            "load_average_1m": round(os.getloadavg()[0], 1),
            "seeding_s": round(fleet_audit["seeded_s"], 1),
        }
        (REPO / "build").mkdir(exist_ok=True)
        (REPO / "build" / "audit-scale.json").write_text(json.dumps(record, indent=2) + "\n")


class TestFastMoto:
    def test_same_describe_tasks_answer(self, moto: MotoServer) -> None:
        """DescribeTasks looked up by ARN answers exactly what moto's own scan answers (order included)."""
        ecs = backend()
        arns = []
        for cluster in ("fleet-a", "fleet-b"):
            ecs.create_cluster(cluster)
            definition = ecs.register_task_definition(
                family=cluster, container_definitions=containers("sized"), volumes=None, network_mode="bridge"
            )
            arns += [
                seed_stopped_task(cluster, definition.arn, "service:web", [Stopped("app", code, OOM if code else None)])
                for code in (0, 137, 134)
            ]
        client = moto.client()
        asked = [arns[4], arns[0], arns[2], "arn:aws:ecs:us-east-1:123456789012:task/fleet-a/missing"]
        plain = client.describe_tasks(cluster="fleet-a", tasks=asked)
        with fast_moto():
            fast = client.describe_tasks(cluster="fleet-a", tasks=asked)
        plain.pop("ResponseMetadata")
        fast.pop("ResponseMetadata")
        assert fast == plain
