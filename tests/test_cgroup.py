"""Tests for sidecar.sources.cgroup: the own memory cgroup and the ceiling above it, from fixture trees and for real.

Each tree in tests/fixtures/cgroup/<scenario>/ holds proc/self/{mountinfo,cgroup}, proc/meminfo and
sys/fs/cgroup/...; the expected values below were read off those files by hand. `{root}` in an expected
string stands for the scenario's directory. The `cgroup` tests create real cgroup v1 memory cgroups
under this process's own (tests/memcg.py) and take the expected limit from that setup.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from sidecar.errors import SourceError
from sidecar.sources.cgroup import (
    CgroupMemory,
    parse_memory_stat,
    parse_v1_limit,
    parse_v2_limit,
    read_cgroup_memory,
)
from sidecar.sources.meminfo import read_mem_total
from tests.memcg import MemoryCgroup, memcg_unavailable_reason
from tests.strict import unavailable

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "cgroup"

DOCKER_ID = "3f4e2b9c1a7d8e6f5b0c4d2a9e8f7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a"
EC2_TASK = "158d1c8083dd49d6b527399fd6414f5c"  # task and container ids of the AWS TMDS v4 EC2 example
EC2_CONTAINER = "ee08638adaaf009d78c248913f629e38299471d45fe7dc944d1039077e3424ca"
FARGATE_TASK = "cd189a933e5849daa93386466019ab50"  # ... and of the Fargate example
COLON_PATH = (
    "/system.slice/containerd.service/kubepods-besteffort-podb41662f7_b03a_4c65_8ef9_6e4e55c3cf27.slice"
    ":cri-containerd:1753b7cbbf62734d812936961224d5bc0cf8f45214e0d5cdd1a781a053e7c48f"
)
GARDEN_GOOD = "/system.slice/garden.service/garden/good/2f57368b-0eda-4e52-64d8-af5c"
GARDEN_BAD = "/system.slice/garden.service/garden/bad/2f57368b-0eda-4e52-64d8-af5c"
ECS_V2_TASK_DIR = f"ecstasks.slice/ecstasks-{EC2_TASK}.slice"
HYBRID_OWN = "process_api/f88fa77e513c70428fff0d015a68bc2f"


def expect(
    *,
    version: int,
    cgroup_path: str,
    directory: str,
    own: int | None,
    own_where: str,
    ceiling: int | None,
    ceiling_where: str,
    notes: tuple[str, ...] = (),
    problems: tuple[str, ...] = (),
) -> CgroupMemory:
    """A CgroupMemory whose paths are written relative to `{root}`; `resolve` fills in the scenario dir."""
    return CgroupMemory(
        version=version,
        cgroup_path=cgroup_path,
        directory=Path(directory),
        own_limit_bytes=own,
        own_where=own_where,
        ceiling_bytes=ceiling,
        ceiling_where=ceiling_where,
        notes=notes,
        problems=problems,
    )


def resolve(expected: CgroupMemory, root: Path) -> CgroupMemory:
    """`expected` with `{root}` replaced by the scenario directory in every path and message."""

    def fill(text: str) -> str:
        return text.replace("{root}", str(root))

    return dataclasses.replace(
        expected,
        directory=Path(fill(str(expected.directory))),
        own_where=fill(expected.own_where),
        ceiling_where=fill(expected.ceiling_where),
        notes=tuple(fill(note) for note in expected.notes),
        problems=tuple(fill(problem) for problem in expected.problems),
    )


def read_tree(name: str, mem_total_bytes: int | None) -> CgroupMemory | None:
    """read_cgroup_memory on the fixture tree `name`."""
    root = FIXTURES / name
    return read_cgroup_memory(
        proc_root=root / "proc", cgroup_root=root / "sys" / "fs" / "cgroup", mem_total_bytes=mem_total_bytes
    )


def read_scenario(name: str) -> CgroupMemory | None:
    """read_cgroup_memory on a fixture tree, with MemTotal from the tree's own proc/meminfo."""
    return read_tree(name, read_mem_total(FIXTURES / name / "proc"))


V1_MEMORY = "{root}/sys/fs/cgroup/memory"

SCENARIOS = [
    pytest.param(
        "v1-docker-own-limit",
        expect(
            version=1,
            cgroup_path=f"/docker/{DOCKER_ID}",
            directory=V1_MEMORY,
            own=134217728,
            own_where=f"{V1_MEMORY}/memory.limit_in_bytes",
            ceiling=None,
            ceiling_where=(
                f"no ancestor dir visible: own cgroup is the mount point {V1_MEMORY}; "
                f"{V1_MEMORY}/memory.stat hierarchical_memory_limit equals the own limit, "
                "so any limit above the mount root is hidden"
            ),
            notes=(
                f"{V1_MEMORY}/memory.stat: hierarchical_memory_limit 134217728 equals the own limit, "
                f"so any limit above the mount root '/docker/{DOCKER_ID}' is hidden "
                "(only known to be at or above it)",
            ),
        ),
        id="v1-docker-own-limit",
    ),
    pytest.param(
        "v1-ecs-task-limit-only",
        expect(
            version=1,
            cgroup_path=f"/ecs/{FARGATE_TASK}/{FARGATE_TASK}-2495160603",
            directory=V1_MEMORY,
            own=None,
            own_where=f"{V1_MEMORY}/memory.limit_in_bytes",
            ceiling=536870912,
            ceiling_where=f"{V1_MEMORY}/memory.stat",
        ),
        id="v1-ecs-task-limit-only",
    ),
    pytest.param(
        "v1-visible-parents",
        expect(
            version=1,
            cgroup_path=f"/ecs/{EC2_TASK}/{EC2_CONTAINER}",
            directory=f"{V1_MEMORY}/ecs/{EC2_TASK}/{EC2_CONTAINER}",
            own=None,
            own_where=f"{V1_MEMORY}/ecs/{EC2_TASK}/{EC2_CONTAINER}/memory.limit_in_bytes",
            # /ecs (768 MiB) is below the task's 1 GiB; memory.stat says the same 768 MiB, the file wins.
            ceiling=805306368,
            ceiling_where=f"{V1_MEMORY}/ecs/memory.limit_in_bytes",
        ),
        id="v1-visible-parents",
    ),
    pytest.param(
        "v1-unlimited-64k-pages",
        expect(
            version=1,
            cgroup_path=f"/docker/{DOCKER_ID}",
            directory=V1_MEMORY,
            own=None,
            own_where=f"{V1_MEMORY}/memory.limit_in_bytes",
            ceiling=None,
            ceiling_where=(
                f"no ancestor dir visible: own cgroup is the mount point {V1_MEMORY}; "
                f"{V1_MEMORY}/memory.stat hierarchical_memory_limit sets no limit"
            ),
        ),
        id="v1-unlimited-64k-pages",
    ),
    pytest.param(
        "v1-memory-stat-missing",
        expect(
            version=1,
            cgroup_path=f"/docker/{DOCKER_ID}",
            directory=V1_MEMORY,
            own=None,
            own_where=f"{V1_MEMORY}/memory.limit_in_bytes",
            ceiling=None,
            ceiling_where=(
                f"no ancestor dir visible: own cgroup is the mount point {V1_MEMORY}; {V1_MEMORY}/memory.stat missing"
            ),
            notes=(f"{V1_MEMORY}/memory.stat: missing, so the hierarchical limit is unknown (not read as no limit)",),
        ),
        id="v1-memory-stat-missing",
    ),
    pytest.param(
        "value-at-or-above-memtotal",
        expect(
            version=1,
            cgroup_path=f"/docker/{DOCKER_ID}",
            directory=V1_MEMORY,
            own=None,
            own_where=f"{V1_MEMORY}/memory.limit_in_bytes",
            ceiling=None,
            ceiling_where=(
                f"no ancestor dir visible: own cgroup is the mount point {V1_MEMORY}; "
                f"{V1_MEMORY}/memory.stat hierarchical_memory_limit sets no limit"
            ),
            # 64 GiB on a host with 16247820 kB = 16637767680 bytes.
            notes=(
                f"{V1_MEMORY}/memory.limit_in_bytes: 68719476736 is at or above MemTotal 16637767680, read as no limit",
                f"{V1_MEMORY}/memory.stat hierarchical_memory_limit: 68719476736 is at or above MemTotal "
                "16637767680, read as no limit",
            ),
        ),
        id="value-at-or-above-memtotal",
    ),
    pytest.param(
        "path-outside-mount-root",
        expect(
            version=1,
            cgroup_path=GARDEN_BAD,
            directory=V1_MEMORY,
            own=536870912,
            own_where=f"{V1_MEMORY}/memory.limit_in_bytes",
            ceiling=None,
            ceiling_where=(
                f"no ancestor dir visible: own cgroup is the mount point {V1_MEMORY}; "
                f"{V1_MEMORY}/memory.stat hierarchical_memory_limit equals the own limit, "
                "so any limit above the mount root is hidden"
            ),
            notes=(
                f"cgroup path '{GARDEN_BAD}' is outside the mount root '{GARDEN_GOOD}' "
                f"of /sys/fs/cgroup/memory: read {V1_MEMORY} instead (JDK-8343191)",
                f"{V1_MEMORY}/memory.stat: hierarchical_memory_limit 536870912 equals the own limit, so any "
                f"limit above the mount root '{GARDEN_GOOD}' is hidden (only known to be at or above it)",
            ),
        ),
        id="path-outside-mount-root",
    ),
    pytest.param(
        "cgroup-path-with-colons",
        expect(
            version=1,
            cgroup_path=COLON_PATH,
            directory=f"{V1_MEMORY}{COLON_PATH}",
            own=None,
            own_where=f"{V1_MEMORY}{COLON_PATH}/memory.limit_in_bytes",
            ceiling=2147483648,
            ceiling_where=f"{V1_MEMORY}/system.slice/containerd.service/memory.limit_in_bytes",
        ),
        id="cgroup-path-with-colons",
    ),
    pytest.param(
        "hybrid-v1-memory-v2-unified",
        expect(
            version=1,
            cgroup_path=f"/{HYBRID_OWN}",
            directory=f"{V1_MEMORY}/{HYBRID_OWN}",
            own=None,
            own_where=f"{V1_MEMORY}/{HYBRID_OWN}/memory.limit_in_bytes",
            ceiling=None,
            ceiling_where=(
                f"no limit in the 2 ancestor dirs up to {V1_MEMORY}; "
                f"{V1_MEMORY}/{HYBRID_OWN}/memory.stat hierarchical_memory_limit sets no limit"
            ),
        ),
        id="hybrid-v1-memory-v2-unified",
    ),
    pytest.param(
        "v2-private-namespace-max",
        expect(
            version=2,
            cgroup_path="/",
            directory="{root}/sys/fs/cgroup",
            own=None,
            own_where="{root}/sys/fs/cgroup/memory.max",
            ceiling=None,
            ceiling_where="no ancestor dir visible: own cgroup is the mount point {root}/sys/fs/cgroup",
        ),
        id="v2-private-namespace-max",
    ),
    pytest.param(
        "v2-parent-lower",
        expect(
            version=2,
            cgroup_path=f"/{ECS_V2_TASK_DIR}/docker-{EC2_CONTAINER}.scope",
            directory=f"{{root}}/sys/fs/cgroup/{ECS_V2_TASK_DIR}/docker-{EC2_CONTAINER}.scope",
            own=1073741824,
            own_where=f"{{root}}/sys/fs/cgroup/{ECS_V2_TASK_DIR}/docker-{EC2_CONTAINER}.scope/memory.max",
            ceiling=536870912,
            ceiling_where=f"{{root}}/sys/fs/cgroup/{ECS_V2_TASK_DIR}/memory.max",
        ),
        id="v2-parent-lower",
    ),
    pytest.param(
        "v2-memory-high-lower",
        expect(
            version=2,
            cgroup_path="/app.slice/node-app.service",
            directory="{root}/sys/fs/cgroup/app.slice/node-app.service",
            own=None,
            own_where="{root}/sys/fs/cgroup/app.slice/node-app.service/memory.max",
            ceiling=3221225472,
            ceiling_where="{root}/sys/fs/cgroup/app.slice/memory.high",
        ),
        id="v2-memory-high-lower",
    ),
    pytest.param(
        "v2-path-outside-namespace",
        expect(
            version=2,
            cgroup_path="/../cg2",
            directory="{root}/sys/fs/cgroup",
            own=268435456,
            own_where="{root}/sys/fs/cgroup/memory.max",
            ceiling=None,
            ceiling_where="no ancestor dir visible: own cgroup is the mount point {root}/sys/fs/cgroup",
            notes=(
                "cgroup path '/../cg2' is outside the mount root '/' of /sys/fs/cgroup: "
                "read {root}/sys/fs/cgroup instead (JDK-8343191)",
            ),
        ),
        id="v2-path-outside-namespace",
    ),
    pytest.param(
        "mountinfo-optional-fields",
        expect(
            version=2,
            cgroup_path="/system.slice/gotosocial.service",
            directory="{root}/sys/fs/cgroup/system.slice/gotosocial.service",
            own=1073741824,
            own_where="{root}/sys/fs/cgroup/system.slice/gotosocial.service/memory.max",
            ceiling=None,
            ceiling_where="no limit in the 2 ancestor dirs up to {root}/sys/fs/cgroup",
        ),
        id="mountinfo-optional-fields",
    ),
    pytest.param(
        "mountinfo-space-in-super-options",
        expect(
            version=2,
            cgroup_path="/",
            directory="{root}/sys/fs/cgroup",
            own=None,
            own_where="{root}/sys/fs/cgroup/memory.max",
            ceiling=None,
            ceiling_where="no ancestor dir visible: own cgroup is the mount point {root}/sys/fs/cgroup",
            notes=("{root}/sys/fs/cgroup: no memory.max or memory.high, read as no limit",),
        ),
        id="mountinfo-space-in-super-options",
    ),
    pytest.param(
        "garbage-limit",
        expect(
            version=1,
            cgroup_path=f"/docker/{DOCKER_ID}",
            directory=V1_MEMORY,
            own=None,
            own_where=f"{V1_MEMORY}/memory.limit_in_bytes",
            ceiling=None,
            ceiling_where=f"no ancestor dir visible: own cgroup is the mount point {V1_MEMORY}; "
            f"{V1_MEMORY}/memory.stat hierarchical_memory_limit sets no limit",
            problems=(f"{V1_MEMORY}/memory.limit_in_bytes: 'unlimited\\n': expected a byte count",),
        ),
        id="garbage-limit",
    ),
    pytest.param(
        "garbage-memory-max",
        expect(
            version=2,
            cgroup_path="/",
            directory="{root}/sys/fs/cgroup",
            own=None,  # memory.high says max; memory.max cannot be read
            own_where="{root}/sys/fs/cgroup/memory.max",
            ceiling=None,
            ceiling_where="no ancestor dir visible: own cgroup is the mount point {root}/sys/fs/cgroup",
            problems=("{root}/sys/fs/cgroup/memory.max: '512M\\n': expected a byte count or 'max'",),
        ),
        id="garbage-memory-max",
    ),
    pytest.param(
        # The issue-8 case: one garbage level must not drop the task limit read at another.
        "v1-garbage-ancestor",
        expect(
            version=1,
            cgroup_path=f"/ecs/{EC2_TASK}/{EC2_CONTAINER}",
            directory=f"{V1_MEMORY}/ecs/{EC2_TASK}/{EC2_CONTAINER}",
            own=None,
            own_where=f"{V1_MEMORY}/ecs/{EC2_TASK}/{EC2_CONTAINER}/memory.limit_in_bytes",
            ceiling=536870912,  # the task's 512 MiB; memory.stat's hierarchical limit agrees
            ceiling_where=f"{V1_MEMORY}/ecs/{EC2_TASK}/memory.limit_in_bytes",
            problems=(
                f"{V1_MEMORY}/ecs/memory.limit_in_bytes: '768M\\n': expected a byte count",
                f"{V1_MEMORY}/ecs/{EC2_TASK}/{EC2_CONTAINER}/memory.stat line 11: 'pgfault 29848 extra': "
                "expected '<key> <integer>'",
            ),
        ),
        id="v1-garbage-ancestor",
    ),
    pytest.param(
        "v2-garbage-own-task-limit",
        expect(
            version=2,
            cgroup_path=f"/{ECS_V2_TASK_DIR}/docker-{EC2_CONTAINER}.scope",
            directory=f"{{root}}/sys/fs/cgroup/{ECS_V2_TASK_DIR}/docker-{EC2_CONTAINER}.scope",
            own=None,
            own_where=f"{{root}}/sys/fs/cgroup/{ECS_V2_TASK_DIR}/docker-{EC2_CONTAINER}.scope/memory.max",
            ceiling=536870912,
            ceiling_where=f"{{root}}/sys/fs/cgroup/{ECS_V2_TASK_DIR}/memory.max",
            problems=(
                f"{{root}}/sys/fs/cgroup/{ECS_V2_TASK_DIR}/docker-{EC2_CONTAINER}.scope/memory.max: '1G\\n': "
                "expected a byte count or 'max'",
            ),
        ),
        id="v2-garbage-own-task-limit",
    ),
]

MALFORMED = [
    pytest.param(
        "empty-mountinfo",
        "{root}/proc/self/mountinfo: '': expected at least one mount line (proc(5))",
        id="empty-mountinfo",
    ),
    pytest.param(
        # The memory mount's own line is the broken one: no memory controller can be found, and the
        # message says why (the line quoted up to 120 characters).
        "too-few-fields",
        f"no memory controller found; {{root}}/proc/self/mountinfo line 9: '1262 1259 0:30 /docker/{DOCKER_ID} "
        "/sys/fs/cgroup/memory ro,nos...: "
        "expected filesystem type, source and super options after ' - ', found 2 fields",
        id="too-few-fields",
    ),
    pytest.param(
        "no-memory-line-in-proc-cgroup",
        "{root}/proc/self/cgroup: no memory line, but mountinfo has a cgroup mount at /sys/fs/cgroup/memory",
        id="no-memory-line-in-proc-cgroup",
    ),
    pytest.param(
        "cgroup-dir-missing",
        f"{V1_MEMORY}/ecs/{EC2_TASK}/{EC2_CONTAINER}: not a directory; expected the cgroup of "
        f"'/ecs/{EC2_TASK}/{EC2_CONTAINER}' under mount root '/' at /sys/fs/cgroup/memory",
        id="cgroup-dir-missing",
    ),
]


class TestReadCgroupMemory:
    @pytest.mark.parametrize(("scenario", "expected"), SCENARIOS)
    def test_scenario(self, scenario: str, expected: CgroupMemory) -> None:
        """The tree's own limit, ceiling, the files behind them and the notes match the hand-read values."""
        assert read_scenario(scenario) == resolve(expected, FIXTURES / scenario)

    def test_no_memory_controller(self) -> None:
        """A cgroup2 mount whose cgroup.controllers lacks `memory` (and no v1 memory mount) gives None."""
        assert read_scenario("v2-only-no-memory-controller") is None

    @pytest.mark.parametrize(("scenario", "message"), MALFORMED)
    def test_malformed_tree(self, scenario: str, message: str) -> None:
        """A malformed file raises SourceError naming the file and quoting what it held."""
        with pytest.raises(SourceError) as info:
            read_scenario(scenario)

        assert str(info.value) == message.replace("{root}", str(FIXTURES / scenario))

    def test_without_memtotal_a_huge_value_is_a_limit(self) -> None:
        """Without MemTotal, 64 GiB is a real own limit and the hierarchical equal to it hides the parents."""
        result = read_tree("value-at-or-above-memtotal", None)

        assert result is not None
        assert (result.own_limit_bytes, result.ceiling_bytes) == (68719476736, None)

    def test_value_equal_to_memtotal_is_no_limit(self) -> None:
        """A limit exactly equal to MemTotal binds nothing (JDK-8292083 compares with >=)."""
        result = read_tree("value-at-or-above-memtotal", 68719476736)

        assert result is not None
        assert result.own_limit_bytes is None

    def test_value_just_below_memtotal_is_a_limit(self) -> None:
        """A limit one byte below MemTotal is kept."""
        result = read_tree("value-at-or-above-memtotal", 68719476737)

        assert result is not None
        assert result.own_limit_bytes == 68719476736


class TestParseV1Limit:
    @pytest.mark.parametrize(
        ("text", "value"),
        [
            pytest.param("134217728\n", 134217728, id="128-mib"),
            pytest.param("9223372036854771712\n", 9223372036854771712, id="unlimited-4k-pages"),
            pytest.param("9223372036854710272\n", 9223372036854710272, id="unlimited-64k-pages"),
        ],
    )
    def test_byte_count(self, text: str, value: int) -> None:
        """A decimal byte count is returned as is; unlimited is only a number here."""
        assert parse_v1_limit(text, where="f") == value

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            pytest.param("-1\n", "f: '-1\\n': expected a byte count", id="negative"),
            pytest.param("", "f: '': expected a byte count", id="empty"),
            pytest.param("max\n", "f: 'max\\n': expected a byte count", id="v2-word"),
        ],
    )
    def test_not_a_byte_count(self, text: str, message: str) -> None:
        """Anything but a decimal number is malformed and quoted."""
        with pytest.raises(SourceError) as info:
            parse_v1_limit(text, where="f")

        assert str(info.value) == message


class TestParseV2Limit:
    def test_max(self) -> None:
        """`max` means no limit."""
        assert parse_v2_limit("max\n", where="f") is None

    def test_byte_count(self) -> None:
        """A decimal byte count is returned as is."""
        assert parse_v2_limit("536870912\n", where="f") == 536870912

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            pytest.param("512M\n", "f: '512M\\n': expected a byte count or 'max'", id="suffix"),
            pytest.param("", "f: '': expected a byte count or 'max'", id="empty"),
            pytest.param("max 100000\n", "f: 'max 100000\\n': expected a byte count or 'max'", id="cpu-max-shape"),
        ],
    )
    def test_malformed(self, text: str, message: str) -> None:
        """Anything but a byte count or `max` is malformed and quoted."""
        with pytest.raises(SourceError) as info:
            parse_v2_limit(text, where="f")

        assert str(info.value) == message


class TestParseMemoryStat:
    def test_key_value_lines(self) -> None:
        """Each `<key> <integer>` line becomes a dict entry."""
        text = "cache 897024\nhierarchical_memory_limit 536870912\nhierarchical_memsw_limit 9223372036854771712\n"

        assert parse_memory_stat(text, where="s") == {
            "cache": 897024,
            "hierarchical_memory_limit": 536870912,
            "hierarchical_memsw_limit": 9223372036854771712,
        }

    def test_malformed_line(self) -> None:
        """A line that is not `<key> <integer>` names the file, line number and line."""
        with pytest.raises(SourceError) as info:
            parse_memory_stat("cache 897024\nhierarchical_memory_limit\n", where="s")

        assert str(info.value) == "s line 2: 'hierarchical_memory_limit': expected '<key> <integer>'"


# ---- the real cgroup v1 tree of this machine

LIMIT_BYTES = 268435456  # 256 MiB on the parent cgroup the test creates

CHILD_SCRIPT = """
import dataclasses, json
from pathlib import Path
from sidecar.sources.cgroup import read_cgroup_memory
from sidecar.sources.meminfo import read_mem_total
found = read_cgroup_memory(
    proc_root=Path("/proc"), cgroup_root=Path("/sys/fs/cgroup"), mem_total_bytes=read_mem_total(Path("/proc"))
)
print(json.dumps(None if found is None else dataclasses.asdict(found), default=str))
"""


def own_memory_cgroup_path() -> str:
    """This process's v1 memory cgroup path, read straight from /proc/self/cgroup."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return path
    raise AssertionError("no memory line in /proc/self/cgroup")


@pytest.fixture
def writable_memcg() -> None:
    """Skip (or fail, with NHS_STRICT=1) unless this process's v1 memory cgroup is writable."""
    reason = memcg_unavailable_reason()
    if reason is not None:
        unavailable(reason)


@pytest.mark.cgroup
@pytest.mark.usefixtures("writable_memcg")
class TestRealCgroup:
    def test_reads_own_cgroup(self) -> None:
        """On this machine the memory controller is v1, at the path /proc/self/cgroup names."""
        path = own_memory_cgroup_path()

        result = read_cgroup_memory(proc_root=Path("/proc"), cgroup_root=Path("/sys/fs/cgroup"), mem_total_bytes=None)

        assert result is not None
        assert (result.version, result.cgroup_path) == (1, path)
        assert result.directory == Path("/sys/fs/cgroup/memory") / path.lstrip("/")
        assert result.own_where == f"{result.directory}/memory.limit_in_bytes"

    def test_parent_limit_is_the_ceiling_of_an_unlimited_child(self) -> None:
        """A process in an unlimited child cgroup sees its parent's 256 MiB as the ceiling, from that file."""
        with MemoryCgroup(LIMIT_BYTES) as parent, parent.child(None) as child:
            run = child.run([sys.executable, "-c", CHILD_SCRIPT], cwd=str(REPO), timeout_s=60)
            parent_dir, child_dir = parent.path, child.path

        assert run.returncode == 0, run.stderr
        found = json.loads(run.stdout)
        assert found["version"] == 1
        assert found["cgroup_path"] == f"{own_memory_cgroup_path().rstrip('/')}/{parent_dir.name}/{child_dir.name}"
        assert found["directory"] == str(child_dir)
        assert found["own_limit_bytes"] is None
        assert found["ceiling_bytes"] == LIMIT_BYTES
        assert found["ceiling_where"] == str(parent_dir / "memory.limit_in_bytes")
        assert not child_dir.exists()
        assert not parent_dir.exists()
