"""A cgroup v1 CPU quota, the benchmark's stand-in for a Fargate task's vCPUs.

Documentation/scheduler/sched-bwc.rst: `cpu.cfs_quota_us` of run time per `cpu.cfs_period_us`
(-1 = no quota); a task of 0.5 vCPU is a quota of half the period. Created under this process's
own cpu cgroup (`/proc/self/cgroup`), removed on exit. A process joins it through a `sh` prefix
(`enter_argv`), so it can be combined with a memory cgroup's own prefix.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from tests.memcg import kill_and_remove, own_v1_cgroup

CPU_MOUNT = Path("/sys/fs/cgroup/cpu")


def own_cpu_cgroup() -> Path:
    return own_v1_cgroup("cpu", CPU_MOUNT)


def cpu_quota_unavailable_reason() -> str | None:
    """Why a CPU quota cannot be set here, or None when it can."""
    try:
        base = own_cpu_cgroup()
    except (OSError, RuntimeError, ValueError) as exc:
        return f"no cgroup v1 cpu controller: {exc}"
    if not (base / "cpu.cfs_quota_us").exists():
        return f"{base}/cpu.cfs_quota_us does not exist (no CFS bandwidth control)"
    if not os.access(base, os.W_OK):
        return f"{base} is not writable (needs root)"
    return None


class CpuQuota:
    """A cpu cgroup whose processes together get `vcpus` CPUs of run time; a context manager."""

    def __init__(self, vcpus: float) -> None:
        self.path = own_cpu_cgroup() / f"nhs-cpu-{uuid.uuid4().hex[:10]}"
        self.vcpus = vcpus

    def __enter__(self) -> CpuQuota:
        self.path.mkdir()
        period = int((self.path / "cpu.cfs_period_us").read_text())
        (self.path / "cpu.cfs_quota_us").write_text(str(round(self.vcpus * period)))
        return self

    def __exit__(self, *exc: object) -> None:
        kill_and_remove(self.path)

    def enter_argv(self) -> list[str]:
        """A prefix that moves the command into this cgroup, then execs it."""
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs")]

    def throttled(self) -> tuple[int, float]:
        """(periods throttled, seconds throttled) so far, from cpu.stat."""
        stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
        return int(stat.get("nr_throttled", 0)), int(stat.get("throttled_time", 0)) / 1e9
