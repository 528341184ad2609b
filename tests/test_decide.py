"""The decision over what the sources read (`Observed`): literal inputs, the init job's and audit's
shared entry point."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from sidecar.errors import TargetError
from sidecar.notices import Notice
from sidecar.settings import load_settings
from sidecar.sizing.decide import Observed, Status, decide, decide_all, env_file_for
from sidecar.sources.ecs_api import ContainerSpec, TaskDefinition
from sidecar.sources.metadata import ContainerMetadata, TaskMetadata

INIT = ContainerSpec("node-heap-init", 64, None, "node-heap-sidecar:0.2.0", essential=False)


def definition(*containers: ContainerSpec, memory_mib: int | None = 1024) -> TaskDefinition:
    return TaskDefinition("arn:aws:ecs:us-east-1:123456789012:task-definition/t:1", memory_mib, (INIT, *containers))


def app(**fields: object) -> ContainerSpec:
    return ContainerSpec("app", None, None, "node:22-slim", depends_on=(("node-heap-init", "SUCCESS"),), **fields)  # type: ignore[arg-type]


class TestMemoryFiles:
    def test_tmpfs_and_shm_from_the_task_definition(self) -> None:
        """A 256 MiB tmpfs and 64 MiB of /dev/shm are kept back, each named with the field it came from."""
        node = app(tmpfs=(("/tmp", 256),), shared_memory_mib=64)
        decision = decide(Observed(definition=definition(node), self_name="node-heap-init"), load_settings({}))
        assert decision.plan is not None
        kept = [(c.name, c.mib, c.origin) for c in decision.plan.components if c.name.startswith(("tmpfs", "shared"))]
        assert kept == [
            ("tmpfs /tmp", 256, "containerDefinitions[name=app].linuxParameters.tmpfs"),
            ("shared memory /dev/shm", 64, "containerDefinitions[name=app].linuxParameters.sharedMemorySize"),
        ]

    def test_tmpfs_from_the_setting_without_the_task_definition(self) -> None:
        """Without the task definition (no ECS API), NODE_HEAP_TMPFS_MIB, which adopt writes, is kept back."""
        settings = load_settings({"NODE_HEAP_TMPFS_MIB": "/tmp=128", "NODE_HEAP_MEMORY_MIB": "1024"})
        decision = decide(Observed(), settings)
        assert decision.plan is not None
        assert [(c.name, c.mib, c.origin) for c in decision.plan.components if c.name.startswith("tmpfs")] == [
            ("tmpfs /tmp", 128, "NODE_HEAP_TMPFS_MIB")
        ]

    def test_tmpfs_lowers_the_heap_by_its_size(self) -> None:
        """256 MiB of tmpfs in a 1024 MiB task, the semi-space fixed: the old space is smaller by 256 / 1.05 (V8's
        5 % overhead on Node 22), 243 or 244 MiB by rounding."""
        settings = load_settings({"NODE_HEAP_NODE_VERSION": "22", "NODE_HEAP_SEMI_SPACE": "16"})
        plain = decide(Observed(definition=definition(app()), self_name="node-heap-init"), settings)
        with_tmpfs = decide(
            Observed(definition=definition(app(tmpfs=(("/tmp", 256),))), self_name="node-heap-init"), settings
        )
        assert plain.plan is not None
        assert with_tmpfs.plan is not None
        assert plain.plan.heap_mib is not None
        assert with_tmpfs.plan.heap_mib is not None
        assert plain.plan.heap_mib - with_tmpfs.plan.heap_mib in (243, 244)


class TestIdentify:
    def test_fargate_listing_refuses_an_unknown_target(self) -> None:
        """Fargate's metadata lists every container: NODE_HEAP_TARGET=web in a task of `app` exits 3."""
        metadata = TaskMetadata(
            task_arn="arn:aws:ecs:us-east-1:123456789012:task/c/t",
            cluster="c",
            family="t",
            revision="1",
            launch_type="FARGATE",
            service_name=None,
            memory_mib=1024,
            containers=(
                ContainerMetadata("node-heap-init", "NORMAL", None, "node-heap-sidecar:0.2.0", "RUNNING"),
                ContainerMetadata("app", "NORMAL", None, "node:22-slim", "PULLED"),
            ),
            self_name="node-heap-init",
            url="http://127.0.0.1/v4/x/task",
        )
        with pytest.raises(TargetError) as raised:
            decide(Observed(metadata=metadata, self_name="node-heap-init"), load_settings({"NODE_HEAP_TARGET": "web"}))
        assert str(raised.value) == (
            "NODE_HEAP_TARGET='web': no container of that name in the task's metadata (Fargate) "
            "(its containers beside this init container: app)"
        )

    def test_init_container_found_by_its_image(self) -> None:
        """Without `${uri}`, the container running node-heap-sidecar is this init container, and says so."""
        decision = decide(Observed(definition=definition(app())), load_settings({}))
        assert decision.target == "app"
        assert decision.notices[0] == Notice(
            "init_container_inferred",
            "this container's name was not read from task metadata; taken to be 'node-heap-init': the container "
            "that runs node-heap-sidecar (its image or NODE_HEAP_* settings)",
        )


class TestObserved:
    def test_source_problems_lead_the_notices(self) -> None:
        """What went wrong while reading comes first in the decision's notices."""
        problem = Notice("source_incomplete", "cgroup partial: memory.max unreadable")
        decision = decide(
            Observed(definition=definition(app()), self_name="node-heap-init", problems=(problem,)), load_settings({})
        )
        assert decision.notices[0] == problem

    def test_explicit_memory_still_reads_the_definition(self) -> None:
        """NODE_HEAP_MEMORY_MIB skips detection, but a definition read (audit) still names Node's image version."""
        settings = load_settings({"NODE_HEAP_MEMORY_MIB": "512"})
        decision = decide(Observed(definition=definition(app())), settings)
        assert (decision.status, decision.memory_mib, decision.node_version) == (Status.PLANNED, 512, "22")

    def test_several_targets_each_get_their_file(self) -> None:
        """web and worker: one decision each, files named after them beside NODE_HEAP_ENV_FILE."""
        web = ContainerSpec("web", None, None, "node:22-slim")
        worker = ContainerSpec("worker", 256, None, "node:22-slim")
        settings = load_settings({"NODE_HEAP_TARGET": "web,worker", "NODE_HEAP_ENV_FILE": "/shared/heap.env"})
        decisions = decide_all(Observed(definition=definition(web, worker), self_name="node-heap-init"), settings)
        assert [(d.target, str(d.env_file)) for d in decisions] == [
            ("web", "/shared/heap.web.env"),
            ("worker", "/shared/heap.worker.env"),
        ]
        assert env_file_for(PurePosixPath("/shared/heap.env"), ("web",), "web") == PurePosixPath("/shared/heap.env")
