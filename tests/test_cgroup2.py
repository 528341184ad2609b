"""End to end on a real cgroup v2: the sidecar, Node's heap and the OOM killer on a real Linux kernel.

The machine is a User-Mode Linux guest (tests/cgroup2/uml.py): a real Linux kernel whose memory
controller is on the unified hierarchy, as on ECS-optimized Amazon Linux 2023 and Bottlerocket.
In it, tests/cgroup2/cases.py builds each ECS task layout (tests/cgroup2/ecs.py:
`ecstasks.slice/ecstasks-<task>.slice/docker-<id>.scope`), runs the real CLI as the init container
in its scope (a TMDS stub on the guest's 127.0.0.1), then Node in the app's sibling scope, and
records what it saw. Two guests run the cases at once (one CPU each); the assertions are here.

The same TMDS documents, run through the CLI on this machine's cgroup v1 (tests/memcg.py), give
the v1 plan each v2 plan is compared with.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.cgroup2.cases import STALL_HITS
from tests.cgroup2.ecs import INIT_ID, TASK_ID, Namespace, TaskLayout, ec2_task_metadata, init_environment
from tests.cgroup2.uml import GuestError, run_in_guest, uml_unavailable_reason
from tests.memcg import MIB, MemoryCgroup, memcg_unavailable_reason
from tests.nodes import CACHE, cached_node, planned_limit_bytes
from tests.servers import TmdsStub
from tests.strict import unavailable

REPO = Path(__file__).resolve().parent.parent
NODE_MAJOR = 22
# Node's default heap follows the guest's RAM (about half of it): with 1 GiB it came within reach of
# the 512 MiB task and V8 sometimes stopped the leak first; with 2 GiB the default clearly overshoots.
GUEST_MEMORY_MIB = 2048
GUEST_TIMEOUT_S = 480.0
TASK_MIB, HIGH_MIB = 512, 384
SLICE_DIR = f"/sys/fs/cgroup/ecstasks.slice/ecstasks-{TASK_ID}.slice"
INIT_SCOPE = f"{SLICE_DIR}/docker-{INIT_ID}.scope"
NODE_SIZES_MIB = (128, 256, 512)

pytestmark = pytest.mark.cgroup2


def read_case(layout: TaskLayout, tmds_mib: int | None) -> dict[str, Any]:
    return {"kind": "read", "layout": layout.to_json(), "tmds_mib": tmds_mib, "node_major": NODE_MAJOR}


PRIVATE, HOST = Namespace.PRIVATE, Namespace.HOST
READ_CASES = {
    "slice-host": read_case(TaskLayout(TASK_MIB, HOST), TASK_MIB),
    "slice-host-no-tmds": read_case(TaskLayout(TASK_MIB, HOST), None),
    "slice-private": read_case(TaskLayout(TASK_MIB, PRIVATE), TASK_MIB),
    "slice-private-no-tmds": read_case(TaskLayout(TASK_MIB, PRIVATE), None),
    "high-host": read_case(TaskLayout(TASK_MIB, HOST, task_high_mib=HIGH_MIB), TASK_MIB),
    # 1024 MiB is above the guest's MemTotal (its 1024 MiB of RAM less what the kernel keeps).
    "memtotal-host": read_case(TaskLayout(GUEST_MEMORY_MIB, HOST), GUEST_MEMORY_MIB),
    "propagated-private": read_case(TaskLayout(TASK_MIB, PRIVATE, propagated=True), TASK_MIB),
    "propagated-private-no-tmds": read_case(TaskLayout(TASK_MIB, PRIVATE, propagated=True), None),
}
NODE_CASES = {f"node-{size}": {**read_case(TaskLayout(size, PRIVATE), size), "kind": "node"} for size in NODE_SIZES_MIB}
BENCH_CASE = {"kind": "bench", "node_major": NODE_MAJOR, "memory_mib": 128, "strategies": ["sidecar", "node-default"]}
# Two guests of about the same length. Measured on a busy host (and about half that on an idle one):
# a `read` case 4-7 s, node-128 50 s, node-256 63 s, node-512 111 s.
_READS = list(READ_CASES)
BATCHES = (
    {"node-512": NODE_CASES["node-512"], "bench-128": BENCH_CASE, **{key: READ_CASES[key] for key in _READS[:3]}},
    {"node-128": NODE_CASES["node-128"], "node-256": NODE_CASES["node-256"]}
    | {key: READ_CASES[key] for key in _READS[3:]},
)


class Guests:
    """What the guests observed, per case id, and how each guest went."""

    def __init__(self, reports: list[dict[str, Any]], runs: list[str]) -> None:
        self.cases: dict[str, Any] = {}
        self.machines: dict[str, dict[str, Any]] = {}  # per case: its guest's kernel and MemTotal
        for report in reports:
            machine = {k: v for k, v in report.items() if k != "cases"}
            for case_id, observed in report.get("cases", {}).items():
                self.cases[case_id], self.machines[case_id] = observed, machine
        self.runs = runs

    def mem_total_bytes(self, case_id: str) -> int:
        """MemTotal in the guest that ran `case_id` (it varies by a few MiB from boot to boot)."""
        value: int = self.machines[case_id]["mem_total_bytes"]
        return value

    def case(self, case_id: str) -> dict[str, Any]:
        found = self.cases.get(case_id)
        assert isinstance(found, dict), f"no observation for {case_id}; guests: {self.runs}"
        assert "error" not in found, found["error"]
        return found

    def decision(self, case_id: str) -> dict[str, Any]:
        sidecar = self.case(case_id)["sidecar"]
        assert sidecar["returncode"] == 0, sidecar["stderr"]
        assert isinstance(sidecar["decision"], dict), sidecar
        return sidecar["decision"]


def _boot(batch: dict[str, Any], directory: Path) -> tuple[dict[str, Any], str]:
    spec, out = directory / "spec.json", directory / "observed.json"
    spec.write_text(json.dumps({"cases": [{"id": key, **case} for key, case in batch.items()]}))
    try:
        run = run_in_guest(
            [sys.executable, "-m", "tests.cgroup2.cases", str(spec), str(out)],
            env={"PATH": "/usr/bin:/bin", "NHS_NODE_CACHE": str(CACHE)},
            cwd=REPO,
            rw_dirs=[directory],
            memory_mib=GUEST_MEMORY_MIB,
            timeout_s=GUEST_TIMEOUT_S,
        )
    except GuestError as exc:
        return {}, f"guest failed: {exc}"
    summary = (
        f"returncode {run.returncode}, timed out {run.timed_out}, boot {run.boot_s} s, "
        f"command {run.command_s} s, total {run.total_s} s; stderr: {run.stderr[-1500:]}"
    )
    return (json.loads(out.read_text()) if out.exists() else {}), summary


@pytest.fixture(scope="module")
def guests(tmp_path_factory: pytest.TempPathFactory) -> Guests:
    """Every case, observed in two guests booted at once."""
    reason = uml_unavailable_reason()
    if reason is not None:
        unavailable(reason)
    if cached_node(NODE_MAJOR) is None:
        unavailable(f"Node {NODE_MAJOR} is not installed (python -m tests.nodes installs it)")
    directories = [tmp_path_factory.mktemp(f"cgroup2-guest{i}") for i in range(len(BATCHES))]
    with ThreadPoolExecutor(len(BATCHES)) as pool:
        done = list(pool.map(_boot, BATCHES, directories))
    return Guests([report for report, _ in done], [summary for _, summary in done])


def candidate(decision: dict[str, Any], kind: str, origin: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in decision["candidates"] if (c["kind"], c["origin"]) == (kind, origin)]
    assert len(found) == 1, decision["candidates"]
    return found[0]


def warnings(decision: dict[str, Any]) -> set[str]:
    return {w["code"] for w in decision["warnings"]}


class TestTheMachine:
    def test_guest_is_a_cgroup_v2_kernel(self) -> None:
        """A command runs as root on a cgroup v2 hierarchy with the memory controller; its status comes back."""
        reason = uml_unavailable_reason()
        if reason is not None:
            unavailable(reason)
        script = "cat /sys/fs/cgroup/cgroup.controllers; cat /proc/self/cgroup; id -u; echo to-stderr >&2; exit 3"
        run = run_in_guest(["sh", "-c", script], env={"PATH": "/usr/bin:/bin"}, timeout_s=60)
        controllers, own, uid = run.stdout.splitlines()
        assert "memory" in controllers.split()
        assert (own, uid) == ("0::/", "0")
        assert (run.returncode, run.timed_out, run.stderr) == (3, False, "to-stderr\n")
        # 6.13: the first UML that saves a guest's FP/AVX state on any host CPU (tests/cgroup2/kernel.py).
        assert tuple(int(part) for part in run.kernel.split(".")[:2]) >= (6, 13)


class TestWhatEachLayoutShows:
    """The real CLI as the init container, in its scope beside the Node container's in the task slice."""

    def test_host_namespace_sees_the_task_slice(self, guests: Guests) -> None:
        """With `--cgroupns=host` the init container walks up to the slice: its memory.max agrees with TMDS."""
        decision = guests.decision("slice-host")
        assert (
            guests.case("slice-host")["sidecar"]["proc_self_cgroup"]
            == f"0::{INIT_SCOPE.removeprefix('/sys/fs/cgroup')}"
        )
        ceiling = candidate(decision, "task_ceiling", "cgroup_v2")
        assert (ceiling["value_bytes"], ceiling["where"], ceiling["outcome"]) == (
            TASK_MIB * MIB,
            f"{SLICE_DIR}/memory.max",
            "agrees",
        )
        assert candidate(decision, "init_limit", "cgroup_v2")["value_bytes"] is None
        assert (decision["memory_mib"], decision["memory_origin"]) == (TASK_MIB, "task_metadata_v4")

    def test_host_namespace_sizes_from_the_slice_alone(self, guests: Guests) -> None:
        """Without task metadata, the slice's memory.max is the memory: the cgroup reading is enough."""
        decision = guests.decision("slice-host-no-tmds")
        assert (decision["memory_mib"], decision["memory_origin"], decision["memory_where"]) == (
            TASK_MIB,
            "cgroup_v2",
            f"{SLICE_DIR}/memory.max",
        )

    def test_private_namespace_hides_the_task_slice(self, guests: Guests) -> None:
        """Docker's default on v2: the container's own scope is `/`, nothing above it; TMDS gives the task size."""
        sidecar = guests.case("slice-private")["sidecar"]
        assert sidecar["proc_self_cgroup"] == "0::/"
        (mount,) = sidecar["cgroup_mountinfo"]
        assert mount.split()[3:6] == ["/", "/sys/fs/cgroup", "ro,relatime"]
        decision = guests.decision("slice-private")
        ceiling = candidate(decision, "task_ceiling", "cgroup_v2")
        assert (ceiling["value_bytes"], ceiling["outcome"]) == (None, "unlimited")
        assert ceiling["where"] == "no ancestor dir visible: own cgroup is the mount point /sys/fs/cgroup"
        assert candidate(decision, "init_limit", "cgroup_v2")["where"] == "/sys/fs/cgroup/memory.max"
        assert (decision["memory_mib"], decision["memory_origin"]) == (TASK_MIB, "task_metadata_v4")

    def test_private_namespace_without_metadata_has_no_limit(self, guests: Guests) -> None:
        """Nothing in a private namespace shows the task's 512 MiB: only MemTotal is left, which is no limit, so
        no heap flag (issue 8)."""
        decision = guests.decision("slice-private-no-tmds")
        assert (decision["status"], decision["memory_mib"], decision["node_options_added"]) == ("no_limit", None, "")
        assert "only_host_memory" in warnings(decision)

    def test_memory_high_below_max_binds(self, guests: Guests) -> None:
        """The slice's memory.high (384 MiB) under its memory.max (512 MiB) is the ceiling, named by its file."""
        decision = guests.decision("high-host")
        ceiling = candidate(decision, "task_ceiling", "cgroup_v2")
        assert (ceiling["value_bytes"], ceiling["where"]) == (HIGH_MIB * MIB, f"{SLICE_DIR}/memory.high")
        assert (decision["memory_mib"], decision["memory_origin"]) == (HIGH_MIB, "cgroup_v2")

    def test_task_limit_above_memtotal_is_not_a_limit(self, guests: Guests) -> None:
        """A 1024 MiB task on a machine with less: the slice reads as no limit, MemTotal binds, with a warning."""
        decision = guests.decision("memtotal-host")
        mem_total = guests.mem_total_bytes("memtotal-host")
        assert mem_total < GUEST_MEMORY_MIB * MIB
        assert candidate(decision, "task_ceiling", "cgroup_v2")["value_bytes"] is None
        cgroup = next(s for s in decision["sources"] if s["source"] == "cgroup")
        assert f"{SLICE_DIR}/memory.max: {GUEST_MEMORY_MIB * MIB} is at or above MemTotal" in cgroup["detail"]
        assert (decision["memory_mib"], decision["memory_origin"]) == (mem_total // MIB, "proc_meminfo")
        assert "host_memory_below_limit" in warnings(decision)

    def test_propagated_task_limit_is_the_init_containers_own(self, guests: Guests) -> None:
        """ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2: the init's own memory.max is 512 MiB, never taken for Node's."""
        decision = guests.decision("propagated-private")
        own = candidate(decision, "init_limit", "cgroup_v2")
        assert (own["value_bytes"], own["where"], own["outcome"]) == (
            TASK_MIB * MIB,
            "/sys/fs/cgroup/memory.max",
            "not_a_ceiling",
        )
        assert (decision["memory_mib"], decision["memory_origin"]) == (TASK_MIB, "task_metadata_v4")

    def test_propagated_limit_alone_is_not_nodes(self, guests: Guests) -> None:
        """Without metadata the init container's own limit is all it sees, and it is not the Node container's."""
        decision = guests.decision("propagated-private-no-tmds")
        assert (decision["status"], decision["memory_origin"]) == ("no_limit", None)
        assert "only_host_memory" in warnings(decision)


def v1_decision(layout: TaskLayout, tmds_mib: int, tmp_path: Path) -> dict[str, Any]:
    """The same init container on this machine's cgroups (v1 here): task cgroup, init cgroup, same TMDS."""
    reason = memcg_unavailable_reason()
    if reason is not None:
        unavailable(reason)
    task_bytes = None if layout.task_mib is None else layout.task_mib * MIB
    container, task_doc = ec2_task_metadata(tmds_mib)
    with (
        TmdsStub(container=container, task=task_doc) as stub,
        MemoryCgroup(task_bytes) as task,
        task.child(task_bytes if layout.propagated else None, name="init") as init,
    ):
        env = init_environment(stub.uri, str(tmp_path / "node-heap.env"), NODE_MAJOR)
        result = init.run([sys.executable, "-m", "sidecar"], env=env, cwd=str(REPO), timeout_s=60)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    decision: dict[str, Any] = next(e for e in events if e["event"] == "decision")
    return decision


PLAN_KEYS = ("memory_mib", "heap_mib", "semi_space_mib", "node_options_added", "status")


class TestSamePlanAsV1:
    @pytest.mark.parametrize("case_id", ["slice-host", "slice-private", "propagated-private", *NODE_CASES])
    def test_v2_plan_equals_v1_plan(self, guests: Guests, tmp_path: Path, case_id: str) -> None:
        """ECS gives the same limits: the plan on cgroup v2 is the plan on cgroup v1."""
        case = {**READ_CASES, **NODE_CASES}[case_id]
        v2 = guests.decision(case_id)
        v1 = v1_decision(TaskLayout.from_json(case["layout"]), case["tmds_mib"], tmp_path)
        assert {k: v2[k] for k in PLAN_KEYS} == {k: v1[k] for k in PLAN_KEYS}
        assert v2["memory_mib"] == case["tmds_mib"]


@pytest.mark.parametrize("size", NODE_SIZES_MIB)
class TestNodeUnderThePlan:
    """Node 22 in the app's scope (private namespace) of a task slice limited to 128, 256 or 512 MiB."""

    def test_node_reports_the_planned_heap_limit(self, guests: Guests, size: int) -> None:
        """`. node-heap.env && exec node`: V8's heap_size_limit is the planned old space + 3 semi-spaces."""
        case = guests.case(f"node-{size}")
        assert case["report"]["heap_size_limit"] == planned_limit_bytes(case["sidecar"]["env_text"])

    def test_leak_ends_in_v8s_abort_without_an_oom_kill(self, guests: Guests, size: int) -> None:
        """Under the plan a heap leak ends in V8's heap-limit abort; the kernel kills nothing at any level."""
        case = guests.case(f"node-{size}")
        leak, paths = case["leak"], case["paths"]
        assert leak["outcome"] == "v8_abort", (leak["outcome"], leak["stderr"][-500:])
        for level in ("app", "slice"):
            assert leak["events"][paths[level]]["oom_kill"] == 0
            assert leak["events"][paths[level]]["oom"] == 0

    def test_nodes_default_is_killed_or_thrashes(self, guests: Guests, size: int) -> None:
        """Without the plan Node sizes its heap from the machine, and the same leak hits the task's limit.

        The slice counts the limit hits (`max`, and `oom` before a kill); the app's scope, which has no
        limit of its own, counts at most the kill. A thrash is stopped once the slice's limit has
        been hit STALL_HITS times without progress.
        """
        case = guests.case(f"node-{size}")
        assert case["default_report"]["heap_size_limit"] > case["report"]["heap_size_limit"]
        leak, paths = case["default_leak"], case["paths"]
        task_events, app_events = leak["events"][paths["slice"]], leak["events"][paths["app"]]
        assert leak["outcome"] in ("kernel_kill", "hang"), (leak["outcome"], leak["stderr"][-500:])
        assert task_events["max"] > 0
        assert (app_events["max"], app_events["oom"]) == (0, 0)
        if leak["outcome"] == "kernel_kill":
            assert task_events["oom"] >= 1
            assert app_events["oom_kill"] >= 1
        else:
            assert leak["hang_kind"] == "at-limit"
            assert leak["limit_hits"] >= STALL_HITS


class TestBenchmarkOnV2:
    def test_bench_runs_read_the_task_slice_and_the_scope(self, guests: Guests) -> None:
        """bench/run.py on cgroup v2: ECS's layout, outcomes and counters from the slice and the scope."""
        case = guests.case("bench-128")
        assert (case["machine"]["cgroup"], case["machine"]["uml"]) == ("v2", True)
        sidecar, default = case["runs"]["sidecar"], case["runs"]["node-default"]
        assert sidecar["outcome"] == "v8_abort"
        assert sidecar["detail"]["task_events"]["oom"] == 0
        assert sidecar["detail"]["container_events"]["oom_kill"] == 0
        assert default["outcome"] in ("kernel_kill", "hang")
        assert default["detail"]["task_events"]["max"] > 0
        assert default["detail"]["container_events"]["max"] == 0
        assert default["detail"]["container_events"]["oom_kill"] == (1 if default["outcome"] == "kernel_kill" else 0)
