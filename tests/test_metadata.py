"""Tests for sidecar.sources.metadata: TMDS v4 payloads parsed, and fetched over HTTP from a stub on 127.0.0.1.

Payloads are the AWS examples in tests/fixtures/ecs/ (provenance in SOURCES.md); expected values were
read from those files by hand.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest
import urllib3

from sidecar.errors import SourceError
from sidecar.sources import metadata
from sidecar.sources.metadata import ContainerMetadata, TaskMetadata
from tests.servers import CONTAINER_ID, Reply, TmdsStub, ecs_payload

FARGATE_TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/MyEmptyCluster/bfa2636268144d039771334145e490c5"
EC2_TASK_ARN = "arn:aws:ecs:us-west-2:111122223333:task/default/158d1c8083dd49d6b527399fd6414f5c"
CURL_IMAGE_ECR = "111122223333.dkr.ecr.us-west-2.amazonaws.com/curltest:latest"

FARGATE_CURL_IMAGE = ContainerMetadata(
    "curl-image",
    "NORMAL",
    None,
    "curlimages/curl",
    "RUNNING",
    "bfa2636268144d039771334145e490c5-1117626119",
    cpu_units=128,
)
FARGATE_APP = ContainerMetadata(
    "fargate-app",
    "NORMAL",
    None,
    "public.ecr.aws/docker/library/httpd:latest",
    "RUNNING",
    "bfa2636268144d039771334145e490c5-3681984407",
    cpu_units=2,
)
EC2_PAUSE = ContainerMetadata(  # Limits.CPU 0: no CPU units
    "~internal~ecs~pause",
    "CNI_PAUSE",
    None,
    "amazon/amazon-ecs-pause:0.1.0",
    "RESOURCES_PROVISIONED",
    "598cba581fe3f939459eaba1e071d5c93bb2c49b7d1ba7db6bb19deeb70d8e38",
)
EC2_CURL_ID = "ee08638adaaf009d78c248913f629e38299471d45fe7dc944d1039077e3424ca"
EC2_CURL = ContainerMetadata("curl", "NORMAL", 128, CURL_IMAGE_ECR, "RUNNING", EC2_CURL_ID, cpu_units=10)


def ec2_task(
    *, url: str = "task", self_name: str | None = None, memory_mib: int | None = None, cpu_vcpus: float | None = None
) -> TaskMetadata:
    """The TaskMetadata of ec2-task-metadata.json, written out by hand."""
    return TaskMetadata(
        task_arn=EC2_TASK_ARN,
        cluster="default",
        family="curltest",
        revision="26",
        launch_type="EC2",
        service_name="MyService",
        memory_mib=memory_mib,
        containers=(EC2_PAUSE, EC2_CURL),
        self_name=self_name,
        url=url,
        cpu_vcpus=cpu_vcpus,
    )


def fast_session() -> urllib3.PoolManager:
    """make_session()'s retry policy without the sleeps, so exhausting it takes milliseconds."""
    return urllib3.PoolManager(retries=metadata.RETRY.new(backoff_factor=0))


class TestParseTask:
    def test_fargate_task(self) -> None:
        """The Fargate /task example has task memory 512 MiB and containers without Limits.Memory."""
        assert metadata.parse_task(ecs_payload("fargate-task-metadata.json")) == TaskMetadata(
            task_arn=FARGATE_TASK_ARN,
            cluster="arn:aws:ecs:us-east-1:123456789012:cluster/MyEmptyCluster",
            family="sample-fargate",
            revision="5",
            launch_type="FARGATE",
            service_name=None,
            memory_mib=512,
            containers=(FARGATE_CURL_IMAGE, FARGATE_APP),
            self_name=None,
            url="task",
            cpu_vcpus=0.25,
        )

    def test_ec2_task_without_task_size(self) -> None:
        """The EC2 /task example has no task Limits, a CNI_PAUSE container with Memory 0 and curl at 128."""
        assert metadata.parse_task(ecs_payload("ec2-task-metadata.json")) == ec2_task()

    def test_ec2_task_with_task_size(self) -> None:
        """An EC2 task with a task size reports task Limits.Memory, as in aws/amazon-ecs-agent#4376."""
        doc = ecs_payload("ec2-task-metadata.json")
        doc["Limits"] = {"CPU": 1, "Memory": 3072}  # added: the task Limits of the PR #4376 excerpt
        assert metadata.parse_task(doc) == ec2_task(memory_mib=3072, cpu_vcpus=1.0)

    def test_fargate_task_with_sidecar_limit(self) -> None:
        """A Fargate container with container-level memory reports it next to one without."""
        doc = ecs_payload("fargate-task-metadata.json")
        doc["Containers"][0]["Limits"]["Memory"] = 64  # changed: curl-image gets a 64 MiB hard limit
        assert metadata.parse_task(doc).containers == (
            ContainerMetadata(
                "curl-image",
                "NORMAL",
                64,
                "curlimages/curl",
                "RUNNING",
                "bfa2636268144d039771334145e490c5-1117626119",
                cpu_units=128,
            ),
            FARGATE_APP,
        )

    @pytest.mark.parametrize("cpu", [-0.25, "0.25", math.nan])
    def test_malformed_task_cpu(self, cpu: Any) -> None:
        """Task Limits.CPU is vCPUs; anything but a number >= 0 is named in problems, and the memory is kept."""
        doc = ecs_payload("fargate-task-metadata.json")
        doc["Limits"]["CPU"] = cpu  # changed: the value under test
        task = metadata.parse_task(doc)
        assert (task.cpu_vcpus, task.memory_mib) == (None, 512)
        assert task.problems == (f"task: Limits.CPU={cpu!r}: expected a number of vCPUs",)

    def test_target_absent_from_task(self) -> None:
        """An EC2 task whose app container is not created yet lists only the pause container."""
        doc = ecs_payload("ec2-task-metadata.json")
        del doc["Containers"][1]  # removed: curl, as when it dependsOn the init container
        assert metadata.parse_task(doc).containers == (EC2_PAUSE,)

    def test_only_task_arn(self) -> None:
        """Every field but TaskARN is optional and becomes None, and no Containers is an empty tuple."""
        assert metadata.parse_task({"TaskARN": EC2_TASK_ARN}) == TaskMetadata(
            task_arn=EC2_TASK_ARN,
            cluster=None,
            family=None,
            revision=None,
            launch_type=None,
            service_name=None,
            memory_mib=None,
            containers=(),
            self_name=None,
            url="task",
        )

    def test_numeric_revision(self) -> None:
        """A Revision sent as a number is kept as its decimal string."""
        doc = ecs_payload("ec2-task-metadata.json")
        doc["Revision"] = 26  # changed: number instead of the string "26"
        assert metadata.parse_task(doc).revision == "26"

    @pytest.mark.parametrize(
        ("limits", "expected"),
        [
            ({"CPU": 0.25, "Memory": 512}, 512),
            ({"CPU": 0.25, "Memory": 512.0}, 512),
            ({"CPU": 0.25, "Memory": 0}, None),
            ({"CPU": 0.25, "Memory": None}, None),
            ({"CPU": 0.25}, None),
            ({}, None),
            (None, None),
        ],
    )
    def test_task_limits_memory(self, limits: Any, expected: int | None) -> None:
        """Task Limits.Memory is MiB; absent, null and 0 all mean no task size."""
        doc = ecs_payload("fargate-task-metadata.json")
        doc["Limits"] = limits  # changed: the task Limits object
        assert metadata.parse_task(doc).memory_mib == expected

    @pytest.mark.parametrize(
        ("memory", "shown"),
        [
            ("512", "'512'"),
            (-512, "-512"),
            (0.5, "0.5"),
            (True, "True"),
            (False, "False"),
            (math.nan, "nan"),
            (math.inf, "inf"),
            ([512], "[512]"),
        ],
    )
    def test_task_limits_memory_garbage(self, memory: Any, shown: str) -> None:
        """A task Limits.Memory that is not a whole non-negative number is named; the containers are kept."""
        doc = ecs_payload("fargate-task-metadata.json")
        doc["Limits"]["Memory"] = memory  # changed: task Limits.Memory
        task = metadata.parse_task(doc)
        assert (task.memory_mib, task.containers, task.problems) == (
            None,
            (FARGATE_CURL_IMAGE, FARGATE_APP),
            (f"task: Limits.Memory={shown}: expected a whole number of MiB",),
        )

    def test_task_limits_memory_implausible(self) -> None:
        """A task Limits.Memory above 64 TiB (twice the largest machine) is rejected as implausible."""
        doc = ecs_payload("fargate-task-metadata.json")
        doc["Limits"]["Memory"] = 10**12  # changed: 10^12 MiB, about 950 PiB
        task = metadata.parse_task(doc)
        assert (task.memory_mib, task.problems) == (
            None,
            ("task: Limits.Memory=1000000000000: implausible, expected at most 67108864 MiB",),
        )

    def test_nan_from_json_text(self) -> None:
        """`NaN` in the JSON text (which json.loads accepts) is a named problem, not a ValueError."""
        doc = json.loads('{"TaskARN": "t", "Limits": {"CPU": 1, "Memory": NaN}}')
        task = metadata.parse_task(doc, "http://127.0.0.1/v4/x/task")
        assert task.problems == ("http://127.0.0.1/v4/x/task: Limits.Memory=nan: expected a whole number of MiB",)

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"TaskARN": None}, "task: TaskARN=None: expected a task ARN"),
            ({"TaskARN": ""}, "task: TaskARN='': expected a task ARN"),
            ({"TaskARN": 42}, "task: TaskARN=42: expected a task ARN"),
            ({"Cluster": ["default"]}, "task: Cluster=['default']: expected a string"),
            ({"LaunchType": {"EC2": True}}, "task: LaunchType={'EC2': True}: expected a string"),
            ({"Limits": [3072]}, "task: Limits=[3072]: expected an object"),
        ],
    )
    def test_wrong_types(self, change: dict[str, Any], message: str) -> None:
        """A field of the wrong type is named with the value found, and costs only that field."""
        doc = ecs_payload("ec2-task-metadata.json")
        doc.update(change)  # changed: the field named in `change`
        task = metadata.parse_task(doc)
        assert (task.problems, task.containers, task.family) == ((message,), (EC2_PAUSE, EC2_CURL), "curltest")

    @pytest.mark.parametrize(
        ("containers", "message"),
        [
            ({"Name": "curl"}, "task: Containers={'Name': 'curl'}: expected a list"),
            (["curl"], "task Containers[0]: expected a JSON object, got str"),
            ([{"Name": ""}], "task Containers[0]: Name='': expected a container name"),
        ],
    )
    def test_unreadable_containers(self, containers: Any, message: str) -> None:
        """Containers that cannot be read are named and skipped; the task limit survives them."""
        doc = ecs_payload("fargate-task-metadata.json")
        doc["Containers"] = containers  # changed: the Containers list
        task = metadata.parse_task(doc)
        assert (task.memory_mib, task.containers, task.problems) == (512, (), (message,))

    def test_container_garbage_names_index_and_name(self) -> None:
        """A bad container Limits.Memory names the container's index and name; the container and the
        others are kept (its own limit unknown)."""
        doc = ecs_payload("ec2-task-metadata.json")
        doc["Containers"][1]["Limits"]["Memory"] = "128"  # changed: curl's Limits.Memory to a string
        task = metadata.parse_task(doc)
        assert (task.containers, task.problems) == (
            (EC2_PAUSE, dataclasses.replace(EC2_CURL, memory_mib=None)),
            ("task Containers[1]: Containers[Name=curl].Limits.Memory='128': expected a whole number of MiB",),
        )

    def test_long_value_is_cut_in_the_message(self) -> None:
        """A message quotes at most 80 characters of a bad value, however long it is."""
        doc = ecs_payload("fargate-task-metadata.json")
        doc["Family"] = ["x" * 10_000]  # changed: a 10 000-character list where a string belongs
        (problem,) = metadata.parse_task(doc).problems
        assert problem == "task: Family=['" + "x" * 75 + "...: expected a string"  # 2 + 75 + 3 = 80


class TestParseContainer:
    def test_fargate_container(self) -> None:
        """The Fargate container example has a 128 MiB hard limit and 10 CPU units."""
        assert metadata.parse_container(ecs_payload("fargate-container-metadata.json")) == (
            ContainerMetadata(
                "curl",
                "NORMAL",
                128,
                CURL_IMAGE_ECR,
                "RUNNING",
                "cd189a933e5849daa93386466019ab50-2495160603",
                cpu_units=10,
            )
        )

    def test_ec2_container(self) -> None:
        """The EC2 container example has Limits.Memory 128."""
        assert metadata.parse_container(ecs_payload("ec2-container-metadata.json")) == dataclasses.replace(
            EC2_CURL, docker_id="ea32192c8553fbff06c9340478a2ff089b2bb5646fb718b4ee206641c9086d66"
        )

    @pytest.mark.parametrize(
        ("cpu", "expected"),
        [
            pytest.param(256, 256, id="units"),
            pytest.param(512.0, 512, id="whole-float"),
            pytest.param(0, None, id="zero-is-none-set"),
        ],
    )
    def test_cpu_units(self, cpu: float, expected: int | None) -> None:
        """A container's Limits.CPU is CPU units (1024 per vCPU); 0 means none set."""
        container = metadata.parse_container({"Name": "node", "Limits": {"CPU": cpu}})
        assert container is not None
        assert container.cpu_units == expected

    @pytest.mark.parametrize("cpu", [0.5, -1, "256", True, math.inf, 10**400])
    def test_malformed_cpu_units(self, cpu: Any) -> None:
        """CPU units that are not a plausible whole number >= 0 are named in problems; the container is kept."""
        problems: list[str] = []
        container = metadata.parse_container({"Name": "node", "Limits": {"CPU": cpu}}, "http://tmds/v4/x", problems)
        assert container is not None
        assert container.cpu_units is None
        shown = repr(cpu) if len(repr(cpu)) <= 80 else repr(cpu)[:77] + "..."
        assert problems == [
            f"http://tmds/v4/x: Containers[Name=node].Limits.CPU={shown}: expected a whole number of CPU units"
        ]

    def test_only_name(self) -> None:
        """Every field but Name is optional."""
        assert metadata.parse_container({"Name": "node"}) == ContainerMetadata("node", None, None, None, None)

    @pytest.mark.parametrize(
        ("limits", "expected"),
        [
            ({"CPU": 10, "Memory": 128}, 128),
            ({"CPU": 10, "Memory": 0}, None),
            ({"CPU": 10}, None),
            (None, None),
        ],
    )
    def test_limits_memory(self, limits: Any, expected: int | None) -> None:
        """Container Limits.Memory is the hard limit in MiB; 0 (EC2) and absent (Fargate) mean none."""
        doc = ecs_payload("ec2-container-metadata.json")
        doc["Limits"] = limits  # changed: the container Limits object
        container = metadata.parse_container(doc)
        assert container is not None
        assert container.memory_mib == expected

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"Type": ["NORMAL"]}, "container: Type=['NORMAL']: expected a string"),
            ({"Image": {}}, "container: Image={}: expected a string"),
            ({"KnownStatus": True}, "container: KnownStatus=True: expected a string"),
            ({"Limits": "128"}, "container: Limits='128': expected an object"),
            (
                {"Limits": {"CPU": 10, "Memory": "lots"}},
                "container: Containers[Name=curl].Limits.Memory='lots': expected a whole number of MiB",
            ),
            (
                {"Limits": {"CPU": 10, "Memory": 127.5}},
                "container: Containers[Name=curl].Limits.Memory=127.5: expected a whole number of MiB",
            ),
        ],
    )
    def test_wrong_types(self, change: dict[str, Any], message: str) -> None:
        """A field of the wrong type is named with the value found; the container keeps its name."""
        doc = ecs_payload("ec2-container-metadata.json")
        doc.update(change)  # changed: the field named in `change`
        problems: list[str] = []
        container = metadata.parse_container(doc, problems=problems)
        assert (container is not None and container.name, problems) == ("curl", [message])

    @pytest.mark.parametrize(
        ("doc", "message"),
        [
            ({"Name": None}, "http://127.0.0.1/v4/x: Name=None: expected a container name"),
            ([], "http://127.0.0.1/v4/x: expected a JSON object, got list"),
        ],
    )
    def test_unusable(self, doc: Any, message: str) -> None:
        """A container without a usable Name is None, and the reason is named."""
        problems: list[str] = []
        assert (metadata.parse_container(doc, "http://127.0.0.1/v4/x", problems), problems) == (None, [message])


class TestMakeSession:
    def test_retries_404_429_500(self, tmds: TmdsStub) -> None:
        """The production session retries 404, 429 and 500, then returns the 200 (0.6 s of backoff)."""
        tmds.script(
            "/task",
            Reply.agent_error(404),
            Reply.agent_error(429),
            Reply.agent_error(500),
            Reply.json(ecs_payload("ec2-task-metadata.json")),
        )
        with metadata.make_session() as session:
            doc = metadata.fetch_json(session, tmds.task_url)
        assert (doc["TaskARN"], tmds.attempts("/task")) == (EC2_TASK_ARN, 4)

    def test_retries_a_stall(self, tmds: TmdsStub, monkeypatch: pytest.MonkeyPatch) -> None:
        """A request that stalls past the read timeout is sent again, and the second answer is used."""
        monkeypatch.setattr(metadata, "READ_TIMEOUT_S", 0.2)
        tmds.script("/task", Reply.stall(10), Reply.json(ecs_payload("ec2-task-metadata.json")))
        with metadata.make_session() as session:
            doc = metadata.fetch_json(session, tmds.task_url)
        assert (doc["TaskARN"], tmds.attempts("/task")) == (EC2_TASK_ARN, 2)


class TestFetchJson:
    def test_success(self, tmds: TmdsStub) -> None:
        """A 200 JSON answer is decoded after one request."""
        tmds.script("", Reply.json(ecs_payload("ec2-container-metadata.json")))
        with fast_session() as session:
            doc = metadata.fetch_json(session, tmds.uri)
        assert (doc["Name"], doc["Limits"], tmds.routes()) == ("curl", {"CPU": 10, "Memory": 128}, [""])

    @pytest.mark.parametrize("status", [404, 429, 500, 503])
    def test_status_retries_exhausted(self, tmds: TmdsStub, status: int) -> None:
        """A status that never clears is asked 7 times (1 + 6 retries), then named in the error."""
        tmds.script("/task", Reply.agent_error(status))
        with fast_session() as session, pytest.raises(SourceError) as info:
            metadata.fetch_json(session, tmds.task_url)
        assert (str(info.value), tmds.attempts("/task")) == (
            f"GET http://127.0.0.1:{tmds.port}/v4/{CONTAINER_ID}/task: HTTP {status} after retries",
            7,
        )

    def test_status_not_retried(self, tmds: TmdsStub) -> None:
        """A 403 is not in the retry list: one request, then the error."""
        tmds.script("/task", Reply.agent_error(403))
        with fast_session() as session, pytest.raises(SourceError) as info:
            metadata.fetch_json(session, tmds.task_url)
        assert (str(info.value), tmds.attempts("/task")) == (
            f"GET http://127.0.0.1:{tmds.port}/v4/{CONTAINER_ID}/task: HTTP 403 after retries",
            1,
        )

    def test_read_retries_exhausted(self, tmds: TmdsStub, monkeypatch: pytest.MonkeyPatch) -> None:
        """A server that never answers is asked 4 times (1 + 3 read retries), then the timeout is named."""
        monkeypatch.setattr(metadata, "READ_TIMEOUT_S", 0.1)
        tmds.script("/task", Reply.stall(10))
        with fast_session() as session, pytest.raises(SourceError) as info:
            metadata.fetch_json(session, tmds.task_url)
        port, path = tmds.port, f"/v4/{CONTAINER_ID}/task"
        assert (str(info.value), tmds.attempts("/task")) == (
            f"GET http://127.0.0.1:{port}{path}: MaxRetryError: HTTPConnectionPool(host='127.0.0.1', "
            f"port={port}): Max retries exceeded with url: {path} (Caused by ReadTimeoutError("
            f"\"HTTPConnectionPool(host='127.0.0.1', port={port}): Read timed out. (read timeout=0.1)\"))",
            4,
        )

    def test_truncated_body(self, tmds: TmdsStub) -> None:
        """A body cut short of its Content-Length is an error after one request."""
        body = (
            b'{"Cluster": "default", '
            b'"TaskARN": "arn:aws:ecs:us-west-2:111122223333:task/default/158d1c8083dd49d6b527399fd6414f5c", '
        )  # 23 + 12 + 80 + 3 = 118 bytes
        tmds.script("/task", Reply.truncated(body, missing=200))
        with fast_session() as session, pytest.raises(SourceError) as info:
            metadata.fetch_json(session, tmds.task_url)
        assert (str(info.value), tmds.attempts("/task")) == (
            f"GET http://127.0.0.1:{tmds.port}/v4/{CONTAINER_ID}/task: ProtocolError: "
            "('Connection broken: IncompleteRead(118 bytes read, 200 more expected)', "
            "IncompleteRead(118 bytes read, 200 more expected))",
            1,
        )

    def test_non_json_body(self, tmds: TmdsStub) -> None:
        """An HTML body is an error quoting the JSON decoder."""
        tmds.script("/task", Reply(body=b"<html><body>502 Bad Gateway</body></html>", content_type="text/html"))
        with fast_session() as session, pytest.raises(SourceError) as info:
            metadata.fetch_json(session, tmds.task_url)
        assert str(info.value) == (
            f"GET http://127.0.0.1:{tmds.port}/v4/{CONTAINER_ID}/task: "
            "body is not JSON (Expecting value: line 1 column 1 (char 0))"
        )

    def test_oversized_body(self, tmds: TmdsStub) -> None:
        """A 2 MiB body is refused once past 1 MiB, after one request."""
        tmds.script("/task", Reply(body=b'{"TaskARN": "' + b"a" * (2 << 20) + b'"}'))
        with fast_session() as session, pytest.raises(SourceError) as info:
            metadata.fetch_json(session, tmds.task_url)
        assert (str(info.value), tmds.attempts("/task")) == (
            f"GET http://127.0.0.1:{tmds.port}/v4/{CONTAINER_ID}/task: body larger than 1048576 bytes",
            1,
        )

    def test_connection_refused(self, refused_port: int) -> None:
        """A closed port is retried (7 connects) and then reported with the refusal."""
        url = f"http://127.0.0.1:{refused_port}/v4/{CONTAINER_ID}/task"
        with fast_session() as session, pytest.raises(SourceError) as info:
            metadata.fetch_json(session, url)
        assert str(info.value) == (
            f"GET {url}: MaxRetryError: HTTPConnectionPool(host='127.0.0.1', port={refused_port}): "
            f"Max retries exceeded with url: /v4/{CONTAINER_ID}/task (Caused by NewConnectionError("
            f"\"HTTPConnection(host='127.0.0.1', port={refused_port}): Failed to establish a new connection: "
            '[Errno 111] Connection refused"))'
        )


class TestFetchTaskMetadata:
    def test_success(self, tmds: TmdsStub) -> None:
        """The task comes from `${uri}/task` and self_name from `${uri}`, one request each."""
        tmds.script("/task", Reply.json(ecs_payload("ec2-task-metadata.json")))
        tmds.script("", Reply.json(ecs_payload("ec2-container-metadata.json")))
        task = metadata.fetch_task_metadata(tmds.uri)
        assert (task, tmds.routes()) == (
            ec2_task(url=f"http://127.0.0.1:{tmds.port}/v4/{CONTAINER_ID}/task", self_name="curl"),
            ["/task", ""],
        )

    def test_self_name_from_container_endpoint(self, tmds: TmdsStub) -> None:
        """self_name is the Name that `${uri}` reports, even when /task does not list that container."""
        tmds.script("/task", Reply.json(ecs_payload("fargate-task-metadata.json")))
        tmds.script("", Reply.json(ecs_payload("fargate-container-metadata.json")))
        task = metadata.fetch_task_metadata(tmds.uri)
        assert (task.self_name, task.memory_mib, task.containers) == (
            "curl",
            512,
            (FARGATE_CURL_IMAGE, FARGATE_APP),
        )

    def test_malformed_task_names_url(self, tmds: TmdsStub) -> None:
        """A malformed field of /task is named with its URL; the rest of the answer is kept."""
        doc = ecs_payload("fargate-task-metadata.json")
        doc["Limits"]["Memory"] = "512"  # changed: task Limits.Memory to a string
        tmds.script("/task", Reply.json(doc))
        tmds.script("", Reply.json(ecs_payload("fargate-container-metadata.json")))
        task = metadata.fetch_task_metadata(tmds.uri)
        assert (task.self_name, len(task.containers), task.problems) == (
            "curl",
            2,
            (
                f"http://127.0.0.1:{tmds.port}/v4/{CONTAINER_ID}/task: Limits.Memory='512': "
                "expected a whole number of MiB",
            ),
        )

    def test_agent_error_string_with_200(self, tmds: TmdsStub) -> None:
        """A JSON string answered with 200 is not a task."""
        tmds.script("/task", Reply.json("V4 task metadata handler: unable to get task"))
        with pytest.raises(SourceError) as info:
            metadata.fetch_task_metadata(tmds.uri)
        assert str(info.value) == (
            f"http://127.0.0.1:{tmds.port}/v4/{CONTAINER_ID}/task: expected a JSON object, got str"
        )

    def test_container_endpoint_fails(self, tmds: TmdsStub) -> None:
        """When `${uri}` keeps answering 404 the error names `${uri}`, after the task was read once."""
        tmds.script("/task", Reply.json(ecs_payload("ec2-task-metadata.json")))
        with fast_session() as session, pytest.raises(SourceError) as info:
            metadata.fetch_task_metadata(tmds.uri, session)
        assert (str(info.value), tmds.attempts("/task"), tmds.attempts("")) == (
            f"GET http://127.0.0.1:{tmds.port}/v4/{CONTAINER_ID}: HTTP 404 after retries",
            1,
            7,
        )
