"""Property-based fault cases (hypothesis): any payload, cgroup tree or setting keeps the exit contract.

The job runs in this process (`sidecar.cli.main`, with its own environment mapping and stdout), against
real stub servers on 127.0.0.1 and real files, so each case costs milliseconds. Cases are drawn with a
fixed seed (`derandomize`), so CI runs the same ones every time; the counts are in the README.

The contract (tests/test_faults.py `assert_contract`): a documented exit code, never 1 (a bug); JSON
lines below 16 KiB with one terminal event; one line on stderr when it fails; a file only on success.
On top of it: a heap flag is never sized from the machine's MemTotal alone, never exceeds the memory it
was planned from, and is never one Node cannot start with; and a limit file the fuzzer left intact is
never exceeded.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.cli import main
from sidecar.settings import VARS
from sidecar.sizing.node_profile import profile_for
from tests.runs import Result
from tests.servers import EcsJsonStub, Reply, TmdsStub, ecs_payload
from tests.test_faults import assert_contract, heap_flag

CGROUP_FIXTURES = Path(__file__).parent / "fixtures" / "cgroup"
TRUSTED = {"container_limit", "task_limit", "task_ceiling", "explicit"}
SMALLEST_START_MIB = min(profile_for((major, None)).min_start_old_mib for major in (20, 22, 24, 26))
# How many cases each property draws (stated in the README's reliability section).
PAYLOAD_CASES = 300
API_CASES = 40
CGROUP_CASES = 200
SETTINGS_CASES = 300

FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DELETE = object()

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["", "max", "512", "0", "-1", "9" * 25, "a\nb", "\x00", "1e308", 2**63, 10**12, 512.5])
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
mutations = st.lists(st.tuples(st.integers(min_value=0), json_values | st.just(DELETE)), max_size=6)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key and index path in a JSON document, the root included."""
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from _paths(value, (*prefix, index))


def mutate(doc: Any, changes: list[tuple[int, Any]]) -> Any:
    """`doc` with each change applied to one of its paths (picked by the drawn integer): replaced or deleted."""
    for pick, value in changes:
        paths = list(_paths(doc))
        path = paths[pick % len(paths)]
        if not path:
            doc = {} if value is DELETE else value
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if value is DELETE:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    return doc


def run_main(environ: Mapping[str, str]) -> Result:
    """`sidecar.cli.main` in this process, captured as a Result."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main([], environ, out)
    return Result(subprocess.CompletedProcess([], code, out.getvalue(), err.getvalue()))


def assert_safe_plan(result: Result, env_file: Path) -> None:
    """A written heap flag comes from a trustworthy limit, fits its memory and lets Node start."""
    if result.code != 0:
        return
    flag = heap_flag(env_file.read_text())
    if flag is None:
        return
    decision = result.event("decision")
    # A limit of 0 is still a limit (too small: the plan raises the heap to the smallest that starts).
    assert any(c["kind"] in TRUSTED and c["value_bytes"] is not None for c in decision["candidates"]) or (
        decision["memory_origin"] == "setting"
    ), decision
    raised = "no_heap_fits" in [w["code"] for w in decision["warnings"]]
    assert flag >= SMALLEST_START_MIB, flag
    assert raised or flag <= decision["memory_mib"], (flag, decision["memory_mib"])


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory of this test's own (hypothesis runs many cases in one test, so not tmp_path per case)."""
    path = Path(tempfile.mkdtemp(prefix="nhs-fuzz-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _fresh(env_file: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        env_file.unlink()


class TestPayloads:
    def test_task_metadata_payloads(self, workdir: Path) -> None:
        """Mutated AWS task metadata examples (/task and `${uri}`) keep the contract."""
        env_file = workdir / "node-heap.env"
        tree = CGROUP_FIXTURES / "v2-private-namespace-max"  # a cgroup that limits nothing
        bases = [
            (ecs_payload("fargate-task-metadata.json"), ecs_payload("fargate-container-metadata.json")),
            (ecs_payload("ec2-task-metadata.json"), ecs_payload("ec2-container-metadata.json")),
        ]
        with TmdsStub() as stub:

            @settings(FUZZ, max_examples=PAYLOAD_CASES)
            @given(
                base=st.sampled_from(bases),
                task_changes=mutations,
                own_changes=mutations,
                target=st.sampled_from([None, "fargate-app", "curl"]),
                on_error=st.sampled_from(["open", "closed"]),
            )
            def check(
                base: tuple[Any, Any],
                task_changes: list[tuple[int, Any]],
                own_changes: list[tuple[int, Any]],
                target: str | None,
                on_error: str,
            ) -> None:
                task, own = json.loads(json.dumps(base))
                stub.script("/task", Reply.json(mutate(task, task_changes)))
                stub.script("", Reply.json(mutate(own, own_changes)))
                _fresh(env_file)
                environ = {
                    "ECS_CONTAINER_METADATA_URI_V4": stub.uri,
                    "NODE_HEAP_ECS_API": "off",
                    "NODE_HEAP_ENV_FILE": str(env_file),
                    "NODE_HEAP_PROC_ROOT": str(tree / "proc"),
                    "NODE_HEAP_CGROUP_ROOT": str(tree / "sys" / "fs" / "cgroup"),
                    "NODE_HEAP_ON_ERROR": on_error,
                    **({"NODE_HEAP_TARGET": target} if target else {}),
                }
                result = run_main(environ)
                assert_contract(result, env_file)
                assert_safe_plan(result, env_file)

            check()

    def test_ecs_api_payloads(self, workdir: Path, aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> None:
        """Mutated DescribeTasks and DescribeTaskDefinition answers keep the contract."""
        env_file = workdir / "node-heap.env"
        tree = CGROUP_FIXTURES / "v2-private-namespace-max"
        task = ecs_payload("ec2-task-metadata.json")
        task["Containers"][1]["Name"] = "heap-init"  # changed: the listed NORMAL container is the init container
        own = ecs_payload("ec2-container-metadata.json")
        own["Name"] = "heap-init"
        described = ecs_payload("botocore-describe-tasks-example.json")["output"]
        described["tasks"][0]["taskArn"] = task["TaskARN"]  # changed: this task
        definition = ecs_payload("botocore-describe-task-definition-example.json")["output"]
        with TmdsStub(container=own, task=task) as stub, EcsJsonStub() as api:
            monkeypatch.setenv("AWS_ENDPOINT_URL_ECS", api.endpoint)

            @settings(FUZZ, max_examples=API_CASES)
            @given(tasks_changes=mutations, definition_changes=mutations)
            def check(tasks_changes: list[tuple[int, Any]], definition_changes: list[tuple[int, Any]]) -> None:
                api.answer("DescribeTasks", mutate(json.loads(json.dumps(described)), tasks_changes))
                api.answer("DescribeTaskDefinition", mutate(json.loads(json.dumps(definition)), definition_changes))
                _fresh(env_file)
                environ = {
                    "ECS_CONTAINER_METADATA_URI_V4": stub.uri,
                    "NODE_HEAP_ENV_FILE": str(env_file),
                    "NODE_HEAP_PROC_ROOT": str(tree / "proc"),
                    "NODE_HEAP_CGROUP_ROOT": str(tree / "sys" / "fs" / "cgroup"),
                    "NODE_HEAP_TARGET": "wordpress",
                }
                result = run_main(environ)
                assert_contract(result, env_file)
                assert_safe_plan(result, env_file)

            check()


# Files of a cgroup tree the fuzzer may change, and contents it tries.
file_contents = st.one_of(
    st.binary(max_size=48),
    st.text(max_size=48),
    st.integers(min_value=0, max_value=2**64).map(lambda n: f"{n}\n"),
    st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n),
    st.sampled_from(["max\n", "", "\n", "9223372036854771712\n", "0\n", "-1\n", "512M\n", "max max\n"]),
)


class TestCgroupTrees:
    # The tree, the file holding its task-level limit, and that limit in MiB.
    TREES: ClassVar[list[tuple[str, str | None, int]]] = [
        ("v1-garbage-ancestor", "sys/fs/cgroup/memory/ecs/158d1c8083dd49d6b527399fd6414f5c/memory.limit_in_bytes", 512),
        (
            "v2-parent-lower",
            "sys/fs/cgroup/ecstasks.slice/ecstasks-158d1c8083dd49d6b527399fd6414f5c.slice/memory.max",
            512,
        ),
        ("v1-ecs-task-limit-only", None, 512),
    ]
    LOCATING: ClassVar[tuple[str, ...]] = (
        "proc/self/mountinfo",
        "proc/self/cgroup",
        "sys/fs/cgroup/cgroup.controllers",
    )

    def test_trees(self, workdir: Path) -> None:
        """Changed, emptied, deleted or replaced files in real-shaped cgroup trees keep the contract; a task limit
        file left intact (with the files that locate it) is never exceeded."""
        env_file = workdir / "node-heap.env"

        @settings(FUZZ, max_examples=CGROUP_CASES)
        @given(
            tree=st.sampled_from(self.TREES),
            changes=st.lists(
                st.tuples(st.integers(min_value=0), file_contents | st.sampled_from(["<delete>", "<dir>"])),
                max_size=4,
            ),
        )
        def check(tree: tuple[str, str | None, int], changes: list[tuple[int, Any]]) -> None:
            name, limit_file, limit_mib = tree
            root = workdir / "tree"
            shutil.rmtree(root, ignore_errors=True)
            shutil.copytree(CGROUP_FIXTURES / name, root)
            files = sorted(p for p in root.rglob("*") if p.is_file())
            touched = set()
            for pick, content in changes:
                target = files[pick % len(files)]
                touched.add(str(target.relative_to(root)))
                if target.is_dir() or not target.exists():  # replaced or deleted by an earlier change
                    continue
                target.unlink()
                if content == "<dir>":
                    target.mkdir()
                elif content != "<delete>":
                    target.write_bytes(
                        content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
                    )
            _fresh(env_file)
            result = run_main(
                {
                    "NODE_HEAP_ENV_FILE": str(env_file),
                    "NODE_HEAP_PROC_ROOT": str(root / "proc"),
                    "NODE_HEAP_CGROUP_ROOT": str(root / "sys" / "fs" / "cgroup"),
                }
            )
            assert_contract(result, env_file)
            assert_safe_plan(result, env_file)
            intact = limit_file is not None and not touched & {limit_file, *self.LOCATING}
            if intact and result.code == 0 and result.event("decision")["memory_mib"] is not None:
                assert result.event("decision")["memory_mib"] <= limit_mib

        check()


hostile_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "0", "-1", "1e308", "nan", "inf", "9" * 5000, "x" * 300, "a\nb", "\t", "OPEN", "Closed"]),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


class TestSettings:
    def test_settings(self, workdir: Path) -> None:
        """Any values for the settings (paths kept inside this test's directory) keep the contract."""
        env_file = workdir / "node-heap.env"
        fifo = workdir / "fifo"
        if not fifo.exists():
            subprocess.run(["mkfifo", str(fifo)], check=True)
        env_files = st.sampled_from(
            [str(env_file), str(workdir), str(workdir / "missing" / "x.env"), str(workdir / ("e" * 300)), "", "."]
        )
        roots = st.sampled_from([str(workdir / "none"), "/" + "c" * 300, str(fifo), ""])
        values: dict[str, st.SearchStrategy[str]] = {var.env: hostile_text for var in VARS}
        values.update(
            # Only URIs that fail at once: TMDS faults and their timing are tests/test_faults.py's.
            ECS_CONTAINER_METADATA_URI_V4=st.sampled_from(["", "not a url", "http://[::1", "ftp://127.0.0.1/v4"]),
            NODE_HEAP_ENV_FILE=env_files,
            NODE_HEAP_CGROUP_ROOT=roots,
            NODE_HEAP_PROC_ROOT=roots,
            NODE_HEAP_DEADLINE_S=st.sampled_from(["0.5", "1", "abc", "-1", "1e9", "nan"]),
        )
        # Command lines the init container could be given by mistake (not explain/emulate, which are other tools).
        argv = st.lists(
            st.sampled_from(["run", "--memory-mib", "--deadline-s", "--no-such-flag", "x" * 300, "1e308", "--", "-"]),
            max_size=3,
        )

        @settings(FUZZ, max_examples=SETTINGS_CASES)
        @given(environ=st.fixed_dictionaries({}, optional=values), flags=argv)
        def check(environ: dict[str, str], flags: list[str]) -> None:
            _fresh(env_file)
            environ = {key: value.replace("\x00", "") for key, value in environ.items()}
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stderr(err):
                code = main(flags, environ, out)
            result = Result(subprocess.CompletedProcess([], code, out.getvalue(), err.getvalue()))
            assert_contract(result, env_file)  # every other NODE_HEAP_ENV_FILE drawn is refused
            assert_safe_plan(result, env_file)

        check()
