"""Real memory cgroups for tests and the benchmark: create one, run a process inside, clean up.

cgroup v1 (this project's machines): Documentation/admin-guide/cgroup-v1/memory.rst --
`memory.limit_in_bytes`, `memory.memsw.limit_in_bytes`, `memory.max_usage_in_bytes`,
`memory.oom_control` (`oom_kill`), `memory.stat` (`total_rss`). Cgroups are created under this
process's own memory cgroup, so nothing outside it is touched.
cgroup v2 (where the unified hierarchy has the memory controller): Documentation/admin-guide/
cgroup-v2.rst -- `memory.max`, `memory.high`, `memory.swap.max`, `memory.peak` (5.19+),
`memory.events` (`max`, `high`, `oom`, `oom_kill`; hierarchical: a cgroup's counts include its
descendants'), `memory.stat` (`anon`). Cgroups are created under the hierarchy's root, the one place
the "no internal processes" rule allows a new subtree beside running processes; the memory
controller is enabled in a parent's `cgroup.subtree_control` only when a child is made, because a
cgroup with controllers enabled for children cannot hold processes itself. This project's machines
are cgroup v1; the v2 path runs on a real kernel (7.x) in a User-Mode Linux guest (tests/cgroup2/).
Every cgroup is removed on exit, after killing whatever is left in it.

When the kernel hits a limit, v2 counts `max` (or `high`) and `oom` in the cgroup whose limit was
hit (the ECS task's slice) and `oom_kill` in the victim's (and, hierarchically, above it), so a run
records the change of every counter in its cgroup and each ancestor made here (`RunResult.events`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
MEMCG_MOUNT = CGROUP_ROOT / "memory"
MIB = 1 << 20


def _v2() -> bool:
    """True when memory is controlled by the unified (v2) hierarchy mounted at /sys/fs/cgroup."""
    controllers = CGROUP_ROOT / "cgroup.controllers"
    return controllers.exists() and "memory" in controllers.read_text().split()


def memcg_version() -> int:
    """2 when this machine's memory controller is on the unified hierarchy, else 1."""
    return 2 if _v2() else 1


def own_memcg_dir() -> Path:
    """Where this process may create memory cgroups (v1: its own memory cgroup; v2: the root)."""
    if _v2():
        return CGROUP_ROOT
    return own_v1_cgroup("memory", MEMCG_MOUNT)


def own_v1_cgroup(controller: str, mount: Path) -> Path:
    """This process's cgroup v1 directory for `controller`, under that hierarchy's `mount`."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return mount / path.lstrip("/")
    raise RuntimeError(f"no cgroup v1 {controller} controller for this process")


def memcg_unavailable_reason() -> str | None:
    """Why real memory cgroups cannot be used here, or None when they can."""
    try:
        base = own_memcg_dir()
    except (OSError, RuntimeError, ValueError) as exc:
        return f"no memory cgroup controller: {exc}"
    if not os.access(base, os.W_OK):
        return f"{base} is not writable (needs root)"
    return None


def _enable_memory(directory: Path) -> None:
    """Give `directory`'s children memory.* files of their own (v2 `cgroup.subtree_control`)."""
    control = directory / "cgroup.subtree_control"
    if "memory" not in control.read_text().split():
        control.write_text("+memory")


def _read_keyed(path: Path) -> dict[str, int]:
    """A flat-keyed cgroup file (`memory.events`, `memory.stat`): `<key> <integer>` per line."""
    found = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdecimal():
            found[key] = int(value)
    return found


@dataclass(frozen=True)
class RunResult:
    returncode: int | None  # negative: killed by that signal (None: still hung when stopped)
    stdout: str
    stderr: str
    hung: bool  # made no progress before the deadline
    oom_kills: int  # the kernel's OOM killer killed something in the cgroup
    peak_bytes: int  # peak usage of the cgroup (includes page cache, e.g. the Node binary)
    peak_rss_bytes: int  # highest anonymous memory sampled from memory.stat
    elapsed_s: float
    stalled_at_limit: bool = False  # the cgroup sat at its limit when the process stopped progressing
    # v2: the change of each memory.events counter during the run, per cgroup path (this cgroup
    # and every ancestor made here); v1: {} (its counters are not per event).
    events: dict[str, dict[str, int]] = field(default_factory=dict)
    limit_hits: int | None = None  # v2: `max` + `high` events at the limiting cgroup during the run

    @property
    def hang_kind(self) -> str | None:
        """For a hang: `at-limit` (the kernel evicting and re-reading pages at the cgroup limit) or
        `gc` (V8 collecting a heap it cannot grow, below the cgroup limit)."""
        if not self.hung or self.oom_kills:
            return None
        return "at-limit" if self.stalled_at_limit else "gc"

    @property
    def outcome(self) -> str:
        """`kernel_kill`, `hang`, `v8_abort`, `exit_<code>` or `signal_<n>`."""
        if self.oom_kills or self.returncode == -signal.SIGKILL:
            return "kernel_kill"
        if self.hung:
            return "hang"
        heap_oom = "heap out of memory" in self.stderr or "Reached heap limit" in self.stderr
        if heap_oom and self.returncode in (-signal.SIGABRT, 128 + signal.SIGABRT, -signal.SIGTRAP):
            return "v8_abort"
        if self.returncode is not None and self.returncode < 0:
            return f"signal_{-self.returncode}"
        return f"exit_{self.returncode}"


class MemoryCgroup:
    """A memory cgroup with a hard limit and no swap (None = unlimited); a context manager.

    `high_bytes` (v2) sets `memory.high` as well: above it the kernel reclaims and throttles
    instead of killing.
    """

    def __init__(
        self,
        limit_bytes: int | None,
        *,
        parent: Path | None = None,
        name: str = "",
        high_bytes: int | None = None,
        above: MemoryCgroup | None = None,
    ) -> None:
        self.v2 = _v2()
        self.path = (parent or own_memcg_dir()) / (name or f"nhs-{uuid.uuid4().hex[:10]}")
        self.limit_bytes = limit_bytes
        self.high_bytes = high_bytes
        self.above = above  # the MemoryCgroup this one was made under, if any

    def __enter__(self) -> MemoryCgroup:
        if self.v2:
            _enable_memory(self.path.parent)
        self.path.mkdir()
        if self.v2:
            if self.limit_bytes is not None:
                self._write("memory.max", str(self.limit_bytes))
                if (self.path / "memory.swap.max").exists():  # absent without swap accounting
                    self._write("memory.swap.max", "0")
            if self.high_bytes is not None:
                self._write("memory.high", str(self.high_bytes))
        elif self.limit_bytes is not None:
            self._write("memory.limit_in_bytes", str(self.limit_bytes))
            if (self.path / "memory.memsw.limit_in_bytes").exists():  # no swap: as --memory-swap = --memory
                self._write("memory.memsw.limit_in_bytes", str(self.limit_bytes))
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def child(self, limit_bytes: int | None = None, name: str = "", high_bytes: int | None = None) -> MemoryCgroup:
        return MemoryCgroup(limit_bytes, parent=self.path, name=name, high_bytes=high_bytes, above=self)

    def lineage(self) -> list[MemoryCgroup]:
        """This cgroup, then each one it was made under, nearest first."""
        found: list[MemoryCgroup] = []
        current: MemoryCgroup | None = self
        while current is not None:
            found.append(current)
            current = current.above
        return found

    def limiting(self) -> MemoryCgroup:
        """The nearest cgroup of the lineage with a limit (the ECS task's slice for a container without one)."""
        return next((c for c in self.lineage() if c.limit_bytes is not None or c.high_bytes is not None), self)

    def _write(self, name: str, value: str) -> None:
        (self.path / name).write_text(value)

    def _stat(self, key: str) -> int:
        return _read_keyed(self.path / "memory.stat").get(key, 0)

    def events(self) -> dict[str, int]:
        """v2 `memory.events` (hierarchical); v1: `oom_kill` from `memory.oom_control` only."""
        if self.v2:
            return _read_keyed(self.path / "memory.events")
        return {"oom_kill": _read_keyed(self.path / "memory.oom_control").get("oom_kill", 0)}

    def oom_kills(self) -> int:
        return self.events().get("oom_kill", 0)

    def _limit_hits(self) -> int | None:
        """v2: how often usage was about to pass `memory.max` or `memory.high`. v1: None (on the 6.18
        kernel here `memory.failcnt` stays 0 at the limit, so v1 has no such counter to go by)."""
        if not self.v2:
            return None
        events = self.events()
        return events.get("max", 0) + events.get("high", 0)

    def _near_limit(self, usage: int) -> bool:
        """Usage within 2 % (at least 2 MiB) of this cgroup's lowest limit."""
        limits = [x for x in (self.limit_bytes, self.high_bytes) if x is not None]
        if not limits:
            return False
        limit = min(limits)
        return usage >= limit - max(2 * MIB, limit // 50)

    def rss_bytes(self) -> int:
        return self._stat("anon" if self.v2 else "total_rss")

    def _usage(self) -> int:
        return int((self.path / ("memory.current" if self.v2 else "memory.usage_in_bytes")).read_text())

    def _reset_peak(self) -> bool:
        """Start a fresh peak; False when the kernel keeps none (v2 before 5.19: sampled instead)."""
        if self.v2:
            return (self.path / "memory.peak").exists()
        self._write("memory.max_usage_in_bytes", "0")
        return True

    def _kernel_peak(self) -> int:
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        return int((self.path / name).read_text())

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout_s: float = 120.0,
        stall_s: float | None = None,
        gc_stall_s: float | None = None,
        stall_hits: int = 1000,
        sample_s: float = 0.05,
        cwd: str | None = None,
    ) -> RunResult:
        """Run `argv` inside this cgroup until it exits or `timeout_s` passes (then SIGKILL it).

        Progress is a new line on stdout or the cgroup's anonymous memory passing its earlier peak by
        1 MiB (the workload allocating). A process that makes none is stopped and counted as hung:
        - at the limit (of the nearest cgroup with one, e.g. the task's slice): after `stall_s`, and
          on v2 only once the kernel has also hit that limit `stall_hits` times since the last
          progress (memory.events `max`/`high`): the kernel evicting and re-reading the process's own
          pages, which does not recover. Counting the kernel's work as well as seconds keeps a slow
          machine (a UML guest, a busy host) from passing for a hung one;
        - below the limit: after `gc_stall_s` (default 6 x `stall_s`), V8 collecting a full heap,
          which takes tens of seconds on a large heap before it aborts.
        """
        limiting = self.limiting()
        lineage = self.lineage()
        events_before = {c.path: c.events() for c in lineage} if self.v2 else {}
        oom_before = self.oom_kills()
        hits_before = limiting._limit_hits()
        kernel_peak = self._reset_peak()
        started = time.monotonic()
        proc = self._popen(argv, env=env, cwd=cwd, stderr=subprocess.PIPE)
        out_lines: list[str] = []
        err_chunks: list[str] = []

        def pump_stdout() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                out_lines.append(line)

        def pump_stderr() -> None:
            assert proc.stderr is not None
            err_chunks.append(proc.stderr.read())

        pumps = [threading.Thread(target=pump_stdout), threading.Thread(target=pump_stderr)]
        for pump in pumps:
            pump.start()
        peak_rss = sampled_peak = 0
        hung = False
        deadline = started + timeout_s
        gc_stall = gc_stall_s if gc_stall_s is not None else (6 * stall_s if stall_s is not None else None)
        at_limit = False
        # The last progress: when, with how many output lines, anonymous memory and limit hits.
        mark_time, mark_lines, mark_rss, mark_hits = started, 0, 0, hits_before
        while proc.poll() is None:
            usage = limiting._usage()
            rss = self.rss_bytes()
            hits = limiting._limit_hits()
            peak_rss = max(peak_rss, rss)
            sampled_peak = max(sampled_peak, self._usage())
            now = time.monotonic()
            if len(out_lines) > mark_lines or rss >= mark_rss + MIB:
                mark_time, mark_lines, mark_rss, mark_hits = now, len(out_lines), max(rss, mark_rss), hits
            quiet = now - mark_time
            at_limit = limiting._near_limit(usage)
            kernel_busy = hits is None or mark_hits is None or hits - mark_hits >= stall_hits
            stalled = (stall_s is not None and at_limit and quiet > stall_s and kernel_busy) or (
                gc_stall is not None and quiet > gc_stall
            )
            if now > deadline or stalled:
                hung = True
                kill_all(self.path)  # the whole cgroup: cluster workers too
                break
            time.sleep(sample_s)
        proc.wait()
        for pump in pumps:
            pump.join()
        hits_after = limiting._limit_hits()
        return RunResult(
            returncode=None if hung else proc.returncode,
            stdout="".join(out_lines),
            stderr="".join(err_chunks),
            hung=hung,
            oom_kills=self.oom_kills() - oom_before,
            peak_bytes=self._kernel_peak() if kernel_peak else sampled_peak,
            peak_rss_bytes=peak_rss,
            elapsed_s=time.monotonic() - started,
            stalled_at_limit=hung and at_limit,
            events={str(c.path): _delta(events_before[c.path], c.events()) for c in lineage} if self.v2 else {},
            limit_hits=None if hits_after is None or hits_before is None else hits_after - hits_before,
        )

    def _popen(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None, cwd: str | None, stderr: int
    ) -> subprocess.Popen[str]:
        """Start `argv` inside this cgroup, its stdout piped."""
        # The child joins the cgroup itself, then execs: no preexec_fn, which is unsafe with threads.
        enter = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs")]
        return subprocess.Popen(
            [*enter, *argv],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            text=True,
        )

    @contextlib.contextmanager
    def spawn(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, ready_s: float = 30.0
    ) -> Iterator[subprocess.Popen[str]]:
        """Run `argv` in this cgroup in the background while the block runs, from its first stdout line on.

        For a process that must hold memory beside the one under test (a sidecar's footprint); it is
        killed by PID and reaped when the block ends.
        """
        proc = self._popen(argv, env=env, cwd=None, stderr=subprocess.DEVNULL)
        ready = threading.Event()

        def first_line() -> None:
            assert proc.stdout is not None
            proc.stdout.readline()
            ready.set()

        try:
            threading.Thread(target=first_line, daemon=True).start()
            if not ready.wait(ready_s) or proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} did not get ready in {ready_s} s (exit code {proc.poll()})")
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()

    def destroy(self) -> None:
        """Kill what is left inside (children first) and remove the directories."""
        if not self.path.exists():
            return
        for sub in sorted((p for p in self.path.iterdir() if p.is_dir()), reverse=True):
            MemoryCgroup(None, parent=self.path, name=sub.name).destroy()
        kill_and_remove(self.path)


def kill_all(cgroup: Path) -> None:
    """SIGKILL every process in `cgroup`."""
    for pid in (int(p) for p in (cgroup / "cgroup.procs").read_text().split()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def kill_and_remove(cgroup: Path) -> None:
    """SIGKILL every process in `cgroup` and remove it, retrying while the kernel still counts them."""
    for _ in range(50):
        kill_all(cgroup)
        try:
            cgroup.rmdir()
            return
        except OSError:
            time.sleep(0.05)
    cgroup.rmdir()


def _delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {key: value - before.get(key, 0) for key, value in after.items()}


def drop_page_cache() -> None:
    """Make the next Node start read its binary from disk, charging it to the cgroup, as in a fresh container."""
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3")
