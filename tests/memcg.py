"""Real cgroup v1 memory cgroups for tests and the benchmark: create, run a process inside, clean up.

Kernel reference: Documentation/admin-guide/cgroup-v1/memory.rst (`memory.limit_in_bytes`,
`memory.max_usage_in_bytes`, `memory.oom_control` with its `oom_kill` counter, `memory.stat`).
Each cgroup is created under this process's own memory cgroup, so nothing outside it is touched,
and removed (after killing whatever is left in it) on exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MEMCG_MOUNT = Path("/sys/fs/cgroup/memory")
MIB = 1 << 20


def own_memcg_dir() -> Path:
    """This process's memory cgroup directory (cgroup v1, mounted at /sys/fs/cgroup/memory)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return MEMCG_MOUNT / path.lstrip("/")
    raise RuntimeError("no cgroup v1 memory controller for this process")


def memcg_unavailable_reason() -> str | None:
    """Why real memory cgroups cannot be used here, or None when they can."""
    try:
        base = own_memcg_dir()
    except (OSError, RuntimeError, ValueError) as exc:
        return f"no cgroup v1 memory controller: {exc}"
    if not os.access(base, os.W_OK):
        return f"{base} is not writable (needs root)"
    return None


@dataclass(frozen=True)
class RunResult:
    returncode: int | None  # negative: killed by that signal (None: still hung when stopped)
    stdout: str
    stderr: str
    hung: bool  # did not finish before the deadline
    oom_kills: int  # memcg oom_kill counter: the kernel killed something in the cgroup
    peak_bytes: int  # memory.max_usage_in_bytes (includes page cache)
    peak_rss_bytes: int  # highest total_rss sampled from memory.stat (anonymous memory)
    elapsed_s: float

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
    """A child memory cgroup with a hard limit (None = unlimited); a context manager."""

    def __init__(self, limit_bytes: int | None, *, parent: Path | None = None, name: str = "") -> None:
        self.path = (parent or own_memcg_dir()) / (name or f"nhs-{uuid.uuid4().hex[:10]}")
        self.limit_bytes = limit_bytes

    def __enter__(self) -> MemoryCgroup:
        self.path.mkdir()
        if self.limit_bytes is not None:
            (self.path / "memory.limit_in_bytes").write_text(str(self.limit_bytes))
            swap = self.path / "memory.memsw.limit_in_bytes"
            if swap.exists():  # no swap either, as in a container with --memory-swap = --memory
                swap.write_text(str(self.limit_bytes))
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def child(self, limit_bytes: int | None = None, name: str = "") -> MemoryCgroup:
        return MemoryCgroup(limit_bytes, parent=self.path, name=name)

    def oom_kills(self) -> int:
        for line in (self.path / "memory.oom_control").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def rss_bytes(self) -> int:
        for line in (self.path / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "total_rss":
                return int(value)
        return 0

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout_s: float = 120.0,
        stall_s: float | None = None,
        cwd: str | None = None,
    ) -> RunResult:
        """Run `argv` inside this cgroup until it exits or `timeout_s` passes (then SIGKILL it).

        With `stall_s`, a process that prints nothing new on stdout for that long is also stopped
        and counted as hung: a heap thrashing at the limit makes no progress but never exits.
        """
        # The child joins the cgroup itself, then execs: no preexec_fn, which is unsafe with threads.
        enter = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs")]
        oom_before = self.oom_kills()
        (self.path / "memory.max_usage_in_bytes").write_text("0")
        started = time.monotonic()
        proc = subprocess.Popen(
            [*enter, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            text=True,
        )
        out_lines: list[str] = []
        err_chunks: list[str] = []
        last_output = [started]

        def pump_stdout() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                out_lines.append(line)
                last_output[0] = time.monotonic()

        def pump_stderr() -> None:
            assert proc.stderr is not None
            err_chunks.append(proc.stderr.read())

        pumps = [threading.Thread(target=pump_stdout), threading.Thread(target=pump_stderr)]
        for pump in pumps:
            pump.start()
        peak_rss = 0
        hung = False
        deadline = started + timeout_s
        while proc.poll() is None:
            peak_rss = max(peak_rss, self.rss_bytes())
            now = time.monotonic()
            if now > deadline or (stall_s is not None and now - last_output[0] > stall_s):
                hung = True
                proc.kill()
                break
            time.sleep(0.05)
        proc.wait()
        for pump in pumps:
            pump.join()
        stdout, stderr = "".join(out_lines), "".join(err_chunks)
        return RunResult(
            returncode=None if hung else proc.returncode,
            stdout=stdout,
            stderr=stderr,
            hung=hung,
            oom_kills=self.oom_kills() - oom_before,
            peak_bytes=int((self.path / "memory.max_usage_in_bytes").read_text()),
            peak_rss_bytes=peak_rss,
            elapsed_s=time.monotonic() - started,
        )

    def destroy(self) -> None:
        """Kill what is left inside (children first) and remove the directories."""
        if not self.path.exists():
            return
        for sub in sorted((p for p in self.path.iterdir() if p.is_dir()), reverse=True):
            MemoryCgroup(None, parent=self.path, name=sub.name).destroy()
        for _ in range(50):
            pids = [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.05)
        self.path.rmdir()


def drop_page_cache() -> None:
    """Make the next Node start read its binary from disk, charging it to the cgroup, as in a fresh container."""
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3")
