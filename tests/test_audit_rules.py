"""The audit's pure rules, with literal inputs: recognising Node, the wiring check, stopped-task evidence."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from sidecar.fleet.assess import node_default_old_space_mib
from sidecar.fleet.evidence import Exit, classify_task, collect_evidence, stopped_within
from sidecar.fleet.wiring import check_wiring
from sidecar.outputs.envfile import Reads, env_file_too_old
from sidecar.sizing.decide import env_file_for

REPO = Path(__file__).resolve().parent.parent
SHIPPED: dict[str, Any] = json.loads((REPO / "task-definition.json").read_text())
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def shipped_containers() -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = copy.deepcopy(SHIPPED["containerDefinitions"])
    return containers


class TestWiring:
    def test_the_shipped_definition_is_wired_correctly(self) -> None:
        """Nothing missing and no advice for task-definition.json."""
        wiring = check_wiring(shipped_containers(), "app")
        assert (wiring.correct, wiring.mode, wiring.env_file, wiring.advice) == (
            True,
            Reads.SH,
            "/shared/node-heap.env",
            (),
        )

    def test_not_wired(self) -> None:
        """Without an init container of this sidecar there is nothing to check."""
        (app,) = [c for c in shipped_containers() if c["name"] == "app"]
        wiring = check_wiring([app], "app")
        assert (wiring.wired, wiring.problems) == (False, ())

    @pytest.mark.parametrize(
        ("breakage", "problem"),
        [
            (
                lambda init, app: app.update(dependsOn=[{"containerName": "node-heap-init", "condition": "START"}]),
                "'app' does not wait for 'node-heap-init' with dependsOn condition SUCCESS (it uses START): "
                "Node may start before the file exists",
            ),
            (
                lambda init, app: app.update(mountPoints=[]),
                "'app' does not mount volume 'node-heap' at /shared: it cannot read /shared/node-heap.env",
            ),
            (
                lambda init, app: init.update(mountPoints=[]),
                "'node-heap-init' mounts no volume at /shared: the file it writes stays in its own filesystem",
            ),
            (
                lambda init, app: app.update(command=[". /tmp/heap.env && exec node server.js"]),
                "'app' reads /tmp/heap.env, but 'node-heap-init' writes /shared/node-heap.env",
            ),
            (
                lambda init, app: init.update(environment=[{"name": "NODE_HEAP_TARGET", "value": "web"}]),
                "'node-heap-init' would exit 3: NODE_HEAP_TARGET='web': no container of that name in the task "
                "definition (its containers beside this init container: app)",
            ),
            (
                lambda init, app: init.update(essential=True),
                "'node-heap-init' is essential: ECS refuses a SUCCESS dependency on it (set essential false)",
            ),
            (
                lambda init, app: app.update(
                    entryPoint=["node"],
                    command=["--env-file=/shared/node-heap.env", "server.js"],
                    environment=[{"name": "NODE_OPTIONS", "value": "--enable-source-maps"}],
                ),
                "'app' runs `node --env-file` and sets NODE_OPTIONS in its environment: Node then ignores the file's "
                "NODE_OPTIONS, so the heap flags are lost",
            ),
        ],
        ids=[
            "start-not-success",
            "no-node-mount",
            "no-init-mount",
            "other-file",
            "other-target",
            "essential",
            "env-file-node-options",
        ],
    )
    def test_what_is_missing(self, breakage: Any, problem: str) -> None:
        """Each way the flags fail to reach Node is named, in one line."""
        containers = shipped_containers()
        init, app = containers
        breakage(init, app)
        assert check_wiring(containers, "app").problems == (problem,)

    def test_advice(self) -> None:
        """A read-write mount, no exec, no initProcessEnabled, non-blocking logs: advice, not problems."""
        containers = shipped_containers()
        init, app = containers
        app["mountPoints"][0]["readOnly"] = False
        app["command"] = [". /shared/node-heap.env && node server.js"]
        del app["linuxParameters"]
        del init["logConfiguration"]["options"]["mode"]
        wiring = check_wiring(containers, "app")
        assert wiring.correct
        assert wiring.advice == (
            "'app' mounts /shared read-write; read-only is enough",
            "'app''s shell does not `exec` Node: ECS's SIGTERM reaches sh, not Node",
            "'app' has no linuxParameters.initProcessEnabled: as PID 1, Node's heap-limit abort exits 139 "
            "instead of 134",
            "'node-heap-init' does not log with awslogs in blocking mode: its decision line may be lost",
        )

    @pytest.mark.parametrize(
        ("version", "too_old"),
        [
            ((18, None), True),
            ((20, 11), True),
            ((20, 20), False),
            ((20, None), False),
            ((21, 6), True),
            ((22, 1), False),
        ],
    )
    def test_env_file_needs_node_20_20(self, version: tuple[int, int | None], too_old: bool) -> None:
        """`node --env-file` reads the file from 20.20 and 21.7 on; an unknown minor is not held against it."""
        assert env_file_too_old(version) is too_old

    def test_env_file_per_container(self) -> None:
        """One target keeps NODE_HEAP_ENV_FILE; several get the container's name before its extension."""
        assert env_file_for(PurePosixPath("/shared/node-heap.env"), ("web",), "web") == PurePosixPath(
            "/shared/node-heap.env"
        )
        assert env_file_for(PurePosixPath("/shared/x.env"), ("web", "worker"), "worker") == PurePosixPath(
            "/shared/x.worker.env"
        )

    def test_target_is_another_container(self) -> None:
        """An init container sizing another container writes no file for this one."""
        containers = shipped_containers()
        init, app = containers
        worker = {**copy.deepcopy(app), "name": "worker"}
        init["environment"] = [{"name": "NODE_HEAP_TARGET", "value": "worker"}]
        assert check_wiring([init, app, worker], "app").problems == (
            "node-heap-init sizes worker, not 'app': it writes no file for it",
        )


def task(*containers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"clusterArn": "c", "group": "service:web", "stoppedAt": NOW, "containers": list(containers), **fields}


class TestEvidence:
    def test_oom_by_container_reason(self) -> None:
        """The agent's reason names the container that was killed."""
        found = classify_task(
            task(
                {"name": "app", "exitCode": 137, "reason": "OutOfMemoryError: Container killed due to memory usage"},
                {"name": "envoy", "exitCode": 143},
            ),
            lambda name: None,
        )
        assert found == [("app", Exit.OOM_KILLED, "OutOfMemoryError: Container killed due to memory usage")]

    def test_oom_in_the_task_reason_only(self) -> None:
        """The task's stoppedReason says OOM: the container that exited 137 is counted."""
        found = classify_task(
            task(
                {"name": "app", "exitCode": 137},
                {"name": "envoy", "exitCode": 0},
                stoppedReason="OutOfMemoryError: Container killed due to memory usage",
            ),
            lambda name: None,
        )
        assert found == [
            ("app", Exit.OOM_KILLED, "task stoppedReason: OutOfMemoryError: Container killed due to memory usage")
        ]

    @pytest.mark.parametrize(
        ("stop_code", "took_s", "timeout_s", "kind"),
        [
            ("ServiceSchedulerInitiated", 30, None, Exit.KILLED_AT_STOP_TIMEOUT),
            ("UserInitiated", 121, 120, Exit.KILLED_AT_STOP_TIMEOUT),
            ("UserInitiated", 10, 120, Exit.KILLED),
            ("EssentialContainerExited", 60, None, Exit.KILLED),
        ],
    )
    def test_137_and_stop_timeout(self, stop_code: str, took_s: int, timeout_s: int | None, kind: Exit) -> None:
        """137 after a requested stop that lasted stopTimeout (default 30 s) is ECS's SIGKILL; otherwise not."""
        stopped = task(
            {"name": "app", "exitCode": 137},
            stopCode=stop_code,
            stoppingAt=NOW - timedelta(seconds=took_s),
            executionStoppedAt=NOW,
        )
        ((name, found, _),) = classify_task(stopped, lambda name: timeout_s)
        assert (name, found) == ("app", kind)

    def test_window_and_counts(self) -> None:
        """Per (cluster, group) and container; tasks stopped before the window are left out."""
        evidence = collect_evidence(
            [
                task({"name": "app", "exitCode": 134, "reason": "Essential container in task exited"}),
                task({"name": "app", "exitCode": 139}),
                task({"name": "app", "exitCode": 0}),
                task({"name": "app", "exitCode": 134}, stoppedAt=NOW - timedelta(days=2)),
            ],
            since=NOW - timedelta(hours=24),
            stop_timeout=lambda key, name: None,
        )
        app = evidence["c", "service:web"]["app"]
        assert (app.stopped_tasks, app.counts) == (3, {Exit.ABORTED: 1, Exit.SEGFAULT: 1})
        assert app.example[Exit.ABORTED] == (
            "exit 134 (SIGABRT: V8's heap-limit abort or another abort): Essential container in task exited"
        )

    def test_window_with_an_end(self) -> None:
        """[since, until) by stoppedAt: the start counts, the end does not, a task still stopping waits."""
        since, until = NOW - timedelta(hours=1), NOW
        at_start = task({"name": "app", "exitCode": 139}, stoppedAt=since)
        at_end = task({"name": "app", "exitCode": 139}, stoppedAt=until)
        stopping = {**task({"name": "app", "exitCode": 139}, stoppingAt=NOW - timedelta(minutes=5)), "stoppedAt": None}
        assert [stopped_within(t, since, until) for t in (at_start, at_end, stopping)] == [True, False, False]
        evidence = collect_evidence(
            [at_start, at_end, stopping], since=since, until=until, stop_timeout=lambda key, name: None
        )
        app = evidence["c", "service:web"]["app"]
        assert (app.stopped_tasks, app.counts) == (1, {Exit.SEGFAULT: 1})


class TestNodeDefault:
    @pytest.mark.parametrize(
        ("visible", "old"),
        [(128, 256), (512, 256), (1024, 512), (4096, 2048), (8192, 2048), (16384, 4096)],
    )
    def test_node_default_old_space(self, visible: int, old: int) -> None:
        """Half the memory, 256 MiB at least, 2 GiB at most (4 GiB from 15 GiB): research/node-heap.md 1.3."""
        assert node_default_old_space_mib(visible) == old


class TestSettingsAsTheJobReadsThem:
    def test_misspelt_setting_is_a_warning_in_open_mode(self) -> None:
        """The init container's NODE_HEAP_PROCESS=4: the job would warn and go on; audit says the same."""
        containers = shipped_containers()
        init = containers[0]
        init["environment"].append({"name": "NODE_HEAP_PROCESS", "value": "4"})
        wiring = check_wiring(containers, "app")
        assert wiring.init is not None
        assert wiring.init.settings is not None
        assert [w.text for w in wiring.init.settings.warnings] == [
            "NODE_HEAP_PROCESS is not a setting of node-heap-sidecar (did you mean NODE_HEAP_PROCESSES?): ignored"
        ]

    def test_misspelt_setting_stops_the_job_in_closed_mode(self) -> None:
        """In closed mode the job would exit 2 on it: audit reads the settings as refused."""
        containers = shipped_containers()
        init = containers[0]
        init["environment"] += [
            {"name": "NODE_HEAP_PROCESS", "value": "4"},
            {"name": "NODE_HEAP_ON_ERROR", "value": "closed"},
        ]
        wiring = check_wiring(containers, "app")
        assert wiring.init is not None
        assert wiring.init.settings_problem == (
            "NODE_HEAP_PROCESS is not a setting of node-heap-sidecar (did you mean NODE_HEAP_PROCESSES?); "
            "NODE_HEAP_ON_ERROR=closed refuses unknown settings"
        )
