"""Real servers on 127.0.0.1 for boundary tests: a TMDS v4 stub, a moto server and an ECS JSON stub.

Every server binds 127.0.0.1 port 0, is a context manager, and is stopped (shutdown, handler threads
joined) when the `with` block ends. Nothing here talks to anything but 127.0.0.1.

- `TmdsStub` speaks ECS task metadata v4 (`GET /v4/<id>` and `GET /v4/<id>/task`) with a per-path script
  of `Reply`s, to act out what the agent does at start-up: 404 while the container is registered, 5xx on
  partial state, 429 when rate-limited, a stall, a cut-off body (research/ecs.md section 1).
- `MotoServer` runs moto in a thread; its `create_cluster`, `register_task_definition`,
  `register_container_instance` and `run_task` set it up through boto3 with explicit fake credentials.
- `EcsJsonStub` speaks the ECS awsJson1_1 protocol and answers with a given JSON document, for shapes moto
  cannot produce (the documented DescribeTasks answer, AccessDeniedException).
"""

from __future__ import annotations

import collections
import json
import logging
import os
import socket
import struct
import threading
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

ECS_FIXTURES = Path(__file__).parent / "fixtures" / "ecs"
ECS_TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
AMZ_JSON = "application/x-amz-json-1.1"
# A Fargate-style per-container id (32 hex digits, a dash, 10 digits; research/ecs.md section 1).
CONTAINER_ID = "0123456789abcdef0123456789abcdef-1234567890"
FAKE_ACCOUNT = "123456789012"  # moto's default account id
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
_MOTO_AMIS = "MOTO_EC2_LOAD_DEFAULT_AMIS"


def ecs_payload(name: str) -> Any:
    """A fresh copy of `tests/fixtures/ecs/<name>`, decoded, so a test may change fields in place."""
    return json.loads((ECS_FIXTURES / name).read_text(encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted HTTP answer.

    `stall_s` sleeps before the status line (cut short when the server stops); `declared_length`
    announces a Content-Length other than `len(body)` (larger = truncated body, then the connection closes);
    `trickle_s` sends the body one byte at a time with that pause between bytes (each byte restarts a
    client's read timeout); `reset` answers nothing and resets the connection (TCP RST).
    """

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    stall_s: float = 0.0
    declared_length: int | None = None
    trickle_s: float = 0.0
    reset: bool = False

    @classmethod
    def json(cls, doc: Any, status: int = 200, *, content_type: str = "application/json") -> Reply:
        """`doc` serialized as JSON."""
        return cls(status=status, body=json.dumps(doc).encode(), content_type=content_type)

    @classmethod
    def agent_error(cls, status: int) -> Reply:
        """The ECS agent's failure answer: a JSON string body (ecs-agent tmds/handlers/v4/handlers.go)."""
        return cls.json(f"V4 container metadata handler: scripted HTTP {status}", status)

    @classmethod
    def stall(cls, seconds: float, then: Reply | None = None) -> Reply:
        """Say nothing for `seconds`, then answer like `then` (default: an agent 500)."""
        base = then or cls.agent_error(500)
        return cls(base.status, base.body, base.content_type, seconds, base.declared_length)

    @classmethod
    def trickle(cls, doc: Any, interval_s: float) -> Reply:
        """`doc` as JSON, sent one byte every `interval_s` seconds."""
        return cls(body=json.dumps(doc).encode(), trickle_s=interval_s)

    @classmethod
    def connection_reset(cls) -> Reply:
        """No answer: the connection is reset as soon as the request arrives."""
        return cls(reset=True)

    @classmethod
    def truncated(cls, body: bytes, missing: int) -> Reply:
        """Announce `len(body) + missing` bytes, send `body`, then close the connection."""
        return cls(body=body, declared_length=len(body) + missing)

    @classmethod
    def aws_error(cls, code: str, message: str, status: int = 400) -> Reply:
        """An awsJson1_1 error document, e.g. `{"__type": "AccessDeniedException", "message": ...}`."""
        return cls.json({"__type": code, "message": message}, status, content_type=AMZ_JSON)


class _Server(ThreadingHTTPServer):
    # Handler threads are joined by server_close(), so stopping the stub stops everything it started.
    daemon_threads = False
    block_on_close = True
    owner: _ScriptedServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 10  # socket timeout: no handler thread outlives a silent client by more than this

    def do_GET(self) -> None:
        self.server.owner._handle(self)

    def do_POST(self) -> None:
        self.server.owner._handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ScriptedServer:
    """Plumbing shared by the stubs: a threaded server, scripts of replies per route, a request log."""

    fallback: ClassVar[Reply] = Reply.json("no reply scripted for this route", 404)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, collections.deque[Reply]] = {}
        self._stopping = threading.Event()
        self.requests: list[tuple[str, bytes]] = []  # (route, request body) in arrival order
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()

    def script(self, route: str, *replies: Reply) -> None:
        """Answer `route` with `replies` in order; the last one repeats for every later request."""
        if not replies:
            raise ValueError("script() needs at least one reply")
        with self._lock:
            self._scripts[route] = collections.deque(replies)

    def attempts(self, route: str) -> int:
        """How many requests arrived for `route`."""
        with self._lock:
            return sum(1 for seen, _ in self.requests if seen == route)

    def routes(self) -> list[str]:
        """The route of every request, in arrival order."""
        with self._lock:
            return [seen for seen, _ in self.requests]

    def close(self) -> None:
        """Wake stalled handlers, stop serving and join every thread."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _route(self, handler: _Handler) -> str:
        raise NotImplementedError

    def _handle(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        route = self._route(handler)
        with self._lock:
            self.requests.append((route, body))
            script = self._scripts.get(route)
            if script is None:
                reply = self.fallback
            elif len(script) > 1:
                reply = script.popleft()
            else:
                reply = script[0]
        if reply.stall_s and self._stopping.wait(reply.stall_s):
            handler.close_connection = True
            return
        if reply.reset:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.connection.close()
            handler.close_connection = True
            return
        truncated = reply.declared_length is not None and reply.declared_length > len(reply.body)
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", reply.content_type)
            handler.send_header("Content-Length", str(reply.declared_length or len(reply.body)))
            handler.send_header("Connection", "close")
            handler.end_headers()
            if reply.trickle_s:
                for index in range(len(reply.body)):
                    handler.wfile.write(reply.body[index : index + 1])
                    handler.wfile.flush()
                    if self._stopping.wait(reply.trickle_s):
                        break
            else:
                handler.wfile.write(reply.body)
            handler.wfile.flush()
        except OSError:
            pass  # the client gave up (timeout, or it stopped reading an oversized body)
        handler.close_connection = True
        if truncated:
            handler.connection.shutdown(socket.SHUT_RDWR)


class TmdsStub(_ScriptedServer):
    """ECS task metadata endpoint v4 on 127.0.0.1: `${uri}` answers the container, `${uri}/task` the task.

    Routes are the paths after `/v4/<id>`: `""` (the container) and `"/task"`. Any other path gets an
    agent-style 404.
    """

    fallback = Reply.agent_error(404)

    def __init__(self, *, container: Any = None, task: Any = None, container_id: str = CONTAINER_ID) -> None:
        super().__init__()
        self.container_id = container_id
        self.uri = f"http://127.0.0.1:{self.port}/v4/{container_id}"
        self.task_url = f"{self.uri}/task"
        if container is not None:
            self.script("", Reply.json(container))
        if task is not None:
            self.script("/task", Reply.json(task))

    def _route(self, handler: _Handler) -> str:
        prefix = f"/v4/{self.container_id}"
        path = handler.path.split("?", 1)[0]
        if handler.command == "GET" and (path == prefix or path.startswith(prefix + "/")):
            return path[len(prefix) :]
        return f"{handler.command} {path}"


class EcsJsonStub(_ScriptedServer):
    """The ECS API's awsJson1_1 protocol on 127.0.0.1: routes are operation names (`"DescribeTasks"`).

    An operation with nothing scripted answers `UnknownOperationException` (HTTP 400).
    """

    fallback = Reply.aws_error("UnknownOperationException", "no reply scripted for this operation")

    def __init__(self, answers: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        for operation, doc in (answers or {}).items():
            self.answer(operation, doc)

    def answer(self, operation: str, doc: Any) -> None:
        """Answer every `operation` call with HTTP 200 and `doc`."""
        self.script(operation, Reply.json(doc, content_type=AMZ_JSON))

    def calls(self) -> list[tuple[str, Any]]:
        """(operation, decoded request body) of every call, in arrival order."""
        with self._lock:
            return [(route, json.loads(body or b"null")) for route, body in self.requests]

    def _route(self, handler: _Handler) -> str:
        target = handler.headers.get("X-Amz-Target", "")
        if handler.command == "POST" and target.startswith(ECS_TARGET_PREFIX):
            return target[len(ECS_TARGET_PREFIX) :]
        return f"{handler.command} {handler.path} X-Amz-Target={target!r}"


class MotoServer:
    """moto (every service, ECS and EC2 included) in a thread on 127.0.0.1; `.endpoint` is its URL.

    moto keeps its state per process, so `reset()` between tests. The setup methods pass fake credentials
    to boto3 explicitly and never touch the process environment.

    moto limits the setup methods work within (moto 5.2):
    - run_task crashes (HTTP 500 from a TypeError) when a container definition has neither `memory` nor
      `memoryReservation` and the task has a task-level `memory` (registering it without task `memory` is
      refused): moto sums the containers' figures to place the task. Give every container one of them.
    - DescribeTasks (and RunTask) report only the FIRST container definition in `containers[]`, with its
      `memory` (a string) but no `memoryReservation`, and no task-level `memory`; overrides are echoed back
      as given. Put the container a test looks at first and check the others through
      DescribeTaskDefinition, which moto reports in full (task `memory` as a string, like AWS).
    - An EC2 task needs a container instance, and moto registers one only for an instance its EC2 knows
      (`register_container_instance` starts one); FARGATE needs none.
    """

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 (lazy: only tests that use moto pay 0.6 s)

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
        # moto reads this when its EC2 backend starts, in this process: skipping its default AMI catalogue
        # saves ~0.8 s per EC2 start. Restored by close().
        self._saved_amis_setting = os.environ.get(_MOTO_AMIS)
        os.environ[_MOTO_AMIS] = "false"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self._clients: dict[tuple[str, str], Any] = {}

    def reset(self) -> None:
        """Forget every cluster, task definition, instance and task (moto's `/moto-api/reset`)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()

    def client(self, service: str = "ecs", region: str = "us-east-1") -> Any:
        """A boto3 client for this server with explicit fake credentials, made once per service and region."""
        import boto3  # noqa: PLC0415 (lazy, like sidecar.sources.ecs_api)

        if (service, region) not in self._clients:
            session = boto3.session.Session(region_name=region, **FAKE_CREDENTIALS)
            self._clients[service, region] = session.client(service, endpoint_url=self.endpoint)
        return self._clients[service, region]

    def create_cluster(self, name: str, region: str = "us-east-1") -> str:
        """Create cluster `name`; returns its ARN."""
        return str(self.client(region=region).create_cluster(clusterName=name)["cluster"]["clusterArn"])

    def register_task_definition(
        self,
        family: str,
        containers: Sequence[Mapping[str, Any]],
        *,
        memory: str | None = None,
        region: str = "us-east-1",
    ) -> str:
        """Register a task definition (task `memory` is a string of MiB, as in the API); returns its ARN."""
        kwargs: dict[str, Any] = {"family": family, "containerDefinitions": [dict(c) for c in containers]}
        if memory is not None:
            kwargs["memory"] = memory
        answer = self.client(region=region).register_task_definition(**kwargs)
        return str(answer["taskDefinition"]["taskDefinitionArn"])

    def register_container_instance(self, cluster: str, region: str = "us-east-1") -> str:
        """Start a moto EC2 instance and register it in `cluster` for EC2 tasks; returns its ARN."""
        reservation = self.client("ec2", region).run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
        document = json.dumps({"instanceId": reservation["Instances"][0]["InstanceId"]})
        answer = self.client(region=region).register_container_instance(
            cluster=cluster, instanceIdentityDocument=document
        )
        return str(answer["containerInstance"]["containerInstanceArn"])

    def run_task(
        self,
        cluster: str,
        task_definition: str,
        *,
        launch_type: str = "FARGATE",
        overrides: Mapping[str, Any] | None = None,
        region: str = "us-east-1",
    ) -> dict[str, Any]:
        """Run one task and return its `tasks[0]` entry (read `taskArn` from it)."""
        kwargs: dict[str, Any] = {
            "cluster": cluster,
            "taskDefinition": task_definition,
            "launchType": launch_type,
            "count": 1,
        }
        if overrides is not None:
            kwargs["overrides"] = dict(overrides)
        answer = self.client(region=region).run_task(**kwargs)
        if len(answer["tasks"]) != 1:
            raise AssertionError(f"moto placed {len(answer['tasks'])} tasks: {answer.get('failures')}")
        task: dict[str, Any] = answer["tasks"][0]
        return task

    def close(self) -> None:
        """Stop serving, join the server thread and restore the environment."""
        self._server.stop()
        if self._saved_amis_setting is None:
            os.environ.pop(_MOTO_AMIS, None)
        else:
            os.environ[_MOTO_AMIS] = self._saved_amis_setting

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@contextmanager
def refusing_port() -> Iterator[int]:
    """A 127.0.0.1 port that refuses connections: bound (so nobody else takes it) but not listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
    finally:
        sock.close()
