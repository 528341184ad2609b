"""Tests for sidecar.sources.mountinfo: proc(5) mountinfo lines and cgroups(7) /proc/self/cgroup lines.

Lines are copied from this development machine, from upstream issues (named per test) and from the
fixture trees in tests/fixtures/cgroup/; expected values were read off the lines by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.errors import SourceError
from sidecar.sources.mountinfo import CgroupLine, Mount, parse_mountinfo, parse_proc_cgroup

FIXTURES = Path(__file__).parent / "fixtures" / "cgroup"

# This machine's /proc/self/cgroup (cgroup v1 controllers plus the v2 line).
THIS_MACHINE_CGROUP = """9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/f88fa77e513c70428fff0d015a68bc2f
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
"""

# automaxprocs#31: containerd with the systemd cgroup driver joins "slice:prefix:name" with colons.
COLON_PATH = (
    "/system.slice/containerd.service/kubepods-besteffort-podb41662f7_b03a_4c65_8ef9_6e4e55c3cf27.slice"
    ":cri-containerd:1753b7cbbf62734d812936961224d5bc0cf8f45214e0d5cdd1a781a053e7c48f"
)


class TestParseMountinfo:
    def test_v1_memory_line_of_this_machine(self) -> None:
        """A plain v1 memory mount without optional fields becomes one Mount with every field."""
        text = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"

        assert parse_mountinfo(text) == (
            Mount(
                mount_id=35,
                parent_id=31,
                root="/",
                mount_point="/sys/fs/cgroup/memory",
                fs_type="cgroup",
                source="cgroup",
                super_options=("rw", "memory"),
            ),
        )

    def test_several_optional_fields(self) -> None:
        """Two optional fields before the separator are skipped (automemlimit#26, Fedora 41)."""
        text = (
            "465 34 253:0 / / rw,relatime shared:409 master:1 - xfs /dev/mapper/fedora-root "
            "rw,seclabel,attr2,inode64,logbufs=8,logbsize=32k,noquota\n"
        )

        assert parse_mountinfo(text) == (
            Mount(
                mount_id=465,
                parent_id=34,
                root="/",
                mount_point="/",
                fs_type="xfs",
                source="/dev/mapper/fedora-root",
                super_options=("rw", "seclabel", "attr2", "inode64", "logbufs=8", "logbsize=32k", "noquota"),
            ),
        )

    def test_container_cgroup_mount_with_a_root(self) -> None:
        """A container's v1 mount keeps its root, the cgroup directory the mount shows."""
        text = (
            "1262 1259 0:30 /docker/3f4e2b9c /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:12 "
            "- cgroup cgroup rw,memory\n"
        )

        assert parse_mountinfo(text)[0].root == "/docker/3f4e2b9c"

    def test_spaces_in_super_options(self) -> None:
        """WSL 9p super options with raw spaces stay one field, split only at commas (automemlimit#28)."""
        text = (
            "1391 1160 0:151 / /Docker/host rw,noatime - 9p "
            "C:\\134Program\\040Files\\134Docker\\134Docker\\134resources "
            "rw,dirsync,aname=drvfs;path=C:\\Program Files\\Docker\\Docker\\resources;symlinkroot=/mnt/,"
            "mmap,access=client,msize=65536,trans=fd,rfd=3,wfd=3\n"
        )

        assert parse_mountinfo(text) == (
            Mount(
                mount_id=1391,
                parent_id=1160,
                root="/",
                mount_point="/Docker/host",
                fs_type="9p",
                source="C:\\Program Files\\Docker\\Docker\\resources",
                super_options=(
                    "rw",
                    "dirsync",
                    "aname=drvfs;path=C:\\Program Files\\Docker\\Docker\\resources;symlinkroot=/mnt/",
                    "mmap",
                    "access=client",
                    "msize=65536",
                    "trans=fd",
                    "rfd=3",
                    "wfd=3",
                ),
            ),
        )

    def test_octal_escapes_in_paths(self) -> None:
        """`\\040`, `\\011` and `\\134` in root, mount point and source decode to space, tab and backslash."""
        text = "100 31 0:50 /a\\040b /mnt/my\\040dir\\011x rw,relatime - tmpfs my\\134src rw\n"

        mount = parse_mountinfo(text)[0]

        assert (mount.root, mount.mount_point, mount.source) == ("/a b", "/mnt/my dir\tx", "my\\src")

    def test_escaped_comma_inside_a_super_option(self) -> None:
        """An escaped comma (`\\054`) is part of its option, not a separator."""
        text = "101 31 0:51 / /mnt/o rw - overlay overlay rw,lowerdir=/l\\054one\n"

        assert parse_mountinfo(text)[0].super_options == ("rw", "lowerdir=/l,one")

    def test_empty_mount_source(self) -> None:
        """An empty mount source (two spaces after the type) is kept as an empty string."""
        text = "30 25 0:27 / /run rw,relatime - tmpfs  rw,mode=755\n"

        mount = parse_mountinfo(text)[0]

        assert (mount.fs_type, mount.source, mount.super_options) == ("tmpfs", "", ("rw", "mode=755"))

    def test_whole_file_of_this_machine(self) -> None:
        """This machine's mountinfo (hybrid fixture) gives 17 mounts, the last the cgroup2 `unified` one."""
        text = (FIXTURES / "hybrid-v1-memory-v2-unified" / "proc" / "self" / "mountinfo").read_text()

        mounts = parse_mountinfo(text)

        assert len(mounts) == 17
        assert mounts[-1] == Mount(41, 31, "/", "/sys/fs/cgroup/unified", "cgroup2", "cgroup2", ("rw",))

    def test_blank_lines_are_skipped(self) -> None:
        """Blank lines carry no mount and are not errors."""
        text = "\n22 27 0:21 / /proc rw,relatime - proc proc rw\n\n"

        assert parse_mountinfo(text) == (Mount(22, 27, "/", "/proc", "proc", "proc", ("rw",)),)

    def test_empty_file(self) -> None:
        """An empty mountinfo is malformed: every process sees at least its root mount."""
        with pytest.raises(SourceError) as info:
            parse_mountinfo("", where="/proc/self/mountinfo")

        assert str(info.value) == "/proc/self/mountinfo: '': expected at least one mount line (proc(5))"

    def test_missing_separator(self) -> None:
        """A line without ` - ` names the file, the line number and the line."""
        with pytest.raises(SourceError) as info:
            parse_mountinfo("22 27 0:21 / /proc rw,relatime - proc proc rw\n23 27 0:22 / /sys rw sysfs sysfs rw\n")

        assert str(info.value) == (
            "/proc/self/mountinfo line 2: '23 27 0:22 / /sys rw sysfs sysfs rw': "
            "expected ' - ' between the optional fields and the filesystem type"
        )

    def test_too_few_fields_before_separator(self) -> None:
        """Five fields before the separator are one short of proc(5)'s six."""
        with pytest.raises(SourceError) as info:
            parse_mountinfo("22 27 0:21 / /proc - proc proc rw", where="mi")

        assert str(info.value) == (
            "mi line 1: '22 27 0:21 / /proc - proc proc rw': expected at least 6 fields before ' - ', found 5"
        )

    def test_too_few_fields_after_separator(self) -> None:
        """A line cut before its super options is malformed."""
        with pytest.raises(SourceError) as info:
            parse_mountinfo("35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup", where="mi")

        assert str(info.value) == (
            "mi line 1: '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup': "
            "expected filesystem type, source and super options after ' - ', found 2 fields"
        )

    def test_non_numeric_mount_id(self) -> None:
        """Mount and parent IDs must be decimal numbers."""
        with pytest.raises(SourceError) as info:
            parse_mountinfo("x 27 0:21 / /proc rw - proc proc rw", where="mi")

        assert (
            str(info.value) == "mi line 1: 'x 27 0:21 / /proc rw - proc proc rw': expected numeric mount and parent IDs"
        )


class TestParseProcCgroup:
    def test_this_machine(self) -> None:
        """Every line of this machine's file, with `name=systemd` kept and an empty list for the v2 line."""
        assert parse_proc_cgroup(THIS_MACHINE_CGROUP) == (
            CgroupLine(9, ("name=systemd",), "/"),
            CgroupLine(8, ("pids",), "/"),
            CgroupLine(7, ("blkio",), "/"),
            CgroupLine(6, ("freezer",), "/"),
            CgroupLine(5, ("devices",), "/"),
            CgroupLine(4, ("memory",), "/process_api/f88fa77e513c70428fff0d015a68bc2f"),
            CgroupLine(3, ("cpuset",), "/"),
            CgroupLine(2, ("cpuacct",), "/"),
            CgroupLine(1, ("cpu",), "/"),
            CgroupLine(0, (), "/"),
        )

    def test_several_controllers_on_one_hierarchy(self) -> None:
        """A comma-separated controller list becomes a tuple."""
        assert parse_proc_cgroup("3:cpu,cpuacct:/docker/3f4e2b9c\n") == (
            CgroupLine(3, ("cpu", "cpuacct"), "/docker/3f4e2b9c"),
        )

    def test_colons_in_the_path(self) -> None:
        """Only the first two colons separate fields, so a path with colons survives (automaxprocs#31)."""
        text = f"12:cpu,cpuacct:{COLON_PATH}\n"

        assert parse_proc_cgroup(text) == (CgroupLine(12, ("cpu", "cpuacct"), COLON_PATH),)

    def test_path_outside_the_namespace(self) -> None:
        """A path that leaves the cgroup namespace (`/..`) is returned as written."""
        assert parse_proc_cgroup("0::/../cg2\n") == (CgroupLine(0, (), "/../cg2"),)

    def test_empty_file(self) -> None:
        """An empty file is malformed: a kernel with cgroups always lists the v2 line."""
        with pytest.raises(SourceError) as info:
            parse_proc_cgroup("")

        assert str(info.value) == (
            "/proc/self/cgroup: '': expected at least one 'hierarchy-ID:controller-list:cgroup-path' line"
        )

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            pytest.param(
                "4:memory",
                "cg line 2: '4:memory': expected 'hierarchy-ID:controller-list:cgroup-path' (cgroups(7))",
                id="two-fields",
            ),
            pytest.param(
                "x:memory:/",
                "cg line 2: 'x:memory:/': expected 'hierarchy-ID:controller-list:cgroup-path' (cgroups(7))",
                id="non-numeric-id",
            ),
            pytest.param(
                "4:memory:docker/abc",
                "cg line 2: '4:memory:docker/abc': expected 'hierarchy-ID:controller-list:cgroup-path' (cgroups(7))",
                id="relative-path",
            ),
        ],
    )
    def test_malformed_line(self, line: str, message: str) -> None:
        """A line that is not `hierarchy-ID:controller-list:/path` names the file, line number and line."""
        with pytest.raises(SourceError) as info:
            parse_proc_cgroup(f"0::/\n{line}\n", where="cg")

        assert str(info.value) == message
