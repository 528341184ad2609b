"""The local task metadata endpoint: documents shaped like the AWS examples, served on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import urllib3

from sidecar.emulate import (
    Emulator,
    build_task,
    container_environment,
    init_container_name,
    load_task_definition,
)
from sidecar.errors import SettingsError
from sidecar.sources.metadata import fetch_task_metadata

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "task-definition.json"


def definition(**changes: Any) -> dict[str, Any]:
    doc = load_task_definition(SHIPPED)
    doc.update(changes)
    return doc


class TestInitContainerName:
    def test_the_container_waited_on(self) -> None:
        """The shipped task definition's app waits for node-heap-init with SUCCESS."""
        assert init_container_name(definition()) == "node-heap-init"

    def test_no_init_container(self) -> None:
        """A task with only essential containers and no dependsOn has no init container."""
        doc = {"containerDefinitions": [{"name": "app", "essential": True}]}
        with pytest.raises(SettingsError) as caught:
            init_container_name(doc)
        assert str(caught.value) == (
            "--self: the task definition has no init container (none runs node-heap-sidecar or is waited on to exit)"
        )


class TestBuildTask:
    def test_fargate_lists_every_container(self) -> None:
        """Fargate: task Limits present, both containers listed, no Memory on a container without `memory`."""
        emulated = build_task(definition(), task_id="t" * 32)
        task = emulated.task
        assert task["Limits"] == {"CPU": 0.5, "Memory": 1024}
        assert task["TaskARN"] == "arn:aws:ecs:us-east-1:123456789012:task/default/" + "t" * 32
        assert [(c["Name"], c["Limits"]) for c in task["Containers"]] == [
            ("node-heap-init", {"CPU": 2}),
            ("app", {"CPU": 2}),
        ]
        assert emulated.container["Name"] == "node-heap-init"
        assert emulated.container["DockerId"] == "t" * 32 + "-0000000000"

    def test_ec2_hides_the_container_that_waits(self) -> None:
        """EC2: the app is created after the init container exits, so only the init container is listed."""
        task = build_task(definition(), launch_type="EC2").task
        assert [(c["Name"], c["Limits"]) for c in task["Containers"]] == [("node-heap-init", {"CPU": 2, "Memory": 0})]

    def test_ec2_without_task_memory_has_no_task_limits(self) -> None:
        """EC2 without a task size: no task `Limits` at all, as in the AWS EC2 example."""
        doc = definition()
        del doc["memory"]
        assert "Limits" not in build_task(doc, launch_type="EC2").task

    def test_task_memory_override(self) -> None:
        """--task-memory replaces the definition's task memory."""
        assert build_task(definition(), task_memory_mib=256).task["Limits"]["Memory"] == 256

    def test_unknown_self(self) -> None:
        """--self must name a container of the task."""
        with pytest.raises(SettingsError) as caught:
            build_task(definition(), self_name="nope")
        assert str(caught.value) == "--self='nope': no such container (containers: node-heap-init, app)"


class TestContainerEnvironment:
    def test_init_container_settings(self) -> None:
        """The shipped init container's settings are passed to the job `emulate` runs."""
        assert container_environment(definition(), "node-heap-init") == {
            "NODE_HEAP_TARGET": "app",
            "NODE_HEAP_ENV_FILE": "/shared/node-heap.env",
        }


class TestLoadTaskDefinition:
    def test_describe_output_is_accepted(self, tmp_path: Path) -> None:
        """A DescribeTaskDefinition answer (`{"taskDefinition": {...}}`) works as well as the register input."""
        path = tmp_path / "td.json"
        path.write_text(json.dumps({"taskDefinition": definition()}))
        assert load_task_definition(path)["family"] == "node-app"

    def test_not_json(self, tmp_path: Path) -> None:
        """A file that is not JSON is a settings error naming it."""
        path = tmp_path / "td.json"
        path.write_text("{")
        with pytest.raises(SettingsError) as caught:
            load_task_definition(path)
        assert str(caught.value).startswith(f"--task-definition='{path}': expected JSON (")


class TestEmulator:
    def test_serves_what_the_client_reads(self) -> None:
        """Over real HTTP, the sidecar's own TMDS client reads the emulated task back."""
        with Emulator(build_task(definition())) as endpoint:
            task = fetch_task_metadata(endpoint.uri)
            missing = urllib3.request("GET", endpoint.uri + "/stats", timeout=2, retries=False)
        assert (task.memory_mib, task.self_name, task.family) == (1024, "node-heap-init", "node-app")
        assert missing.status == 404
