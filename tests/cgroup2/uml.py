"""Run a command on a real cgroup v2 machine: a User-Mode Linux guest.

UML is a Linux kernel built as an ordinary x86-64 program, `linux.uml`: no KVM, no disk image. This one
is Debian forky's `user-mode-linux` (Linux 7.x), installed under .cache/uml by tests/cgroup2/kernel.py,
which says why not bookworm's 6.1 (it panics at once on a host whose CPU has AMX). The guest's root is
the host's `/` read-only (hostfs), so the host's Python, Node and this repository run in it unchanged;
`tests/cgroup2/guest_init.py` is its PID 1. Inside, cgroup2 is mounted at /sys/fs/cgroup with the
memory controller: the kernel's own memcg code enforces `memory.max`/`memory.high` and counts
`memory.events`. The host's cgroups are not touched.

What differs from a real host (measured, see the README's cgroup v2 section): one CPU, no swap, no
network but `lo`, a fresh tmpfs on /tmp, and system calls and page faults several times slower
(they go through ptrace), so wall times inside are not comparable with the host's.
Guest memory is a file in /dev/shm (see `memory_dir`); only the pages the guest touches use host memory.
Kernel parameters: Documentation/virt/uml/user_mode_linux_howto_v2.rst (`mem=`, `con*=fd:N`,
`hostfs`, `uml_dir`, `umid`), Documentation/admin-guide/kernel-parameters.rst (`init=`, `--`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tests.cgroup2.kernel import kernel_binary

UML = Path(os.environ.get("NHS_UML", kernel_binary()))  # NHS_UML: another build to try
GUEST_INIT = Path(__file__).resolve().parent / "guest_init.py"
GUEST_PYTHON = "/usr/bin/python3"  # PID 1 needs only the standard library
REPO = GUEST_INIT.parents[2]
FRESH_IN_GUEST = (Path("/tmp"), Path("/run"), Path("/dev/shm"))  # the guest mounts its own tmpfs there
BOOT_GRACE_S = 90.0  # boot and power-off, on top of the command's own timeout (a busy host is slow)


class GuestError(RuntimeError):
    """The guest did not run the command (no UML, a failed boot, a mount that did not work)."""


@dataclass(frozen=True, slots=True)
class GuestRun:
    """How the command ended inside the guest, and how long the guest took."""

    returncode: int | None  # negative: killed by that signal; None: still running at the timeout
    timed_out: bool
    stdout: str  # empty when relayed elsewhere (`stdout_fd`)
    stderr: str
    kernel: str  # the guest's `uname -r`
    mem_total_bytes: int  # the guest's MemTotal
    boot_s: float  # guest uptime when the command started
    command_s: float  # the command's run time, by the guest's clock
    total_s: float  # the host's wall time from starting UML to its exit


def uml_unavailable_reason() -> str | None:
    """Why no UML guest can be started here, or None when one can."""
    if not os.access(UML, os.X_OK):
        return f"{UML} is missing (python -m tests.cgroup2.kernel installs it; make test-deps does)"
    return None


def memory_dir(memory_mib: int) -> str:
    """Where UML keeps the guest's RAM (a file it maps): /dev/shm when it can hold all of it, else
    the temporary directory (a disk, slower), since a container's /dev/shm is often only 64 MiB."""
    try:
        shm = os.statvfs("/dev/shm")
    except OSError:
        return tempfile.gettempdir()
    return "/dev/shm" if shm.f_bavail * shm.f_frsize >= memory_mib * 2**20 else tempfile.gettempdir()


def run_in_guest(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | str = "/",
    rw_dirs: Sequence[Path | str] = (),
    memory_mib: int = 1024,
    timeout_s: float = 600.0,
    stdout_fd: int | None = None,
    stderr_fd: int | None = None,
) -> GuestRun:
    """Boot a guest with `memory_mib` of RAM, run `argv` as root in its root cgroup, power it off.

    `rw_dirs` are shared read-write at the same path (everything else is the host's `/`, read-only;
    /tmp is the guest's own, but for this checkout when it lives there). Output is captured, unless
    `stdout_fd`/`stderr_fd` name a host descriptor to relay it to as it comes. Raises GuestError
    when the guest did not run the command.
    """
    reason = uml_unavailable_reason()
    if reason is not None:
        raise GuestError(reason)
    job_dir = Path(tempfile.mkdtemp(prefix="nhs-uml-"))
    try:
        job = {
            "argv": list(argv),
            "env": dict(env),
            "cwd": str(cwd),
            "rw_dirs": [str(Path(d).resolve()) for d in rw_dirs],
            # A checkout under /tmp (a clone for a quick try) would be hidden by the guest's own /tmp.
            "ro_dirs": [str(REPO)] if any(REPO.is_relative_to(fresh) for fresh in FRESH_IN_GUEST) else [],
            "timeout_s": timeout_s,
        }
        (job_dir / "job.json").write_text(json.dumps(job))
        (job_dir / "uml").mkdir()
        with (
            open(job_dir / "stdout", "wb") as out,
            open(job_dir / "stderr", "wb") as err,
            open(job_dir / "console.log", "wb") as console,
        ):
            # Copies: UML's own stdout/stderr (fds 1 and 2 of its process) are the console log.
            out_fd = out.fileno() if stdout_fd is None else os.dup(stdout_fd)
            err_fd = err.fileno() if stderr_fd is None else os.dup(stderr_fd)
            try:
                started = time.monotonic()
                command = _kernel_command(job_dir, memory_mib, console.fileno(), out_fd, err_fd)
                _boot(command, console, timeout_s, memory_dir(memory_mib))
                total_s = time.monotonic() - started
            finally:
                for fd in {out_fd, err_fd} - {out.fileno(), err.fileno()}:
                    os.close(fd)
        return _result(job_dir, argv, total_s, captured_out=stdout_fd is None, captured_err=stderr_fd is None)
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)


def _kernel_command(job_dir: Path, memory_mib: int, console_fd: int, out_fd: int, err_fd: int) -> list[str]:
    return [
        str(UML),
        f"mem={memory_mib}M",
        "rootfstype=hostfs",
        "rootflags=/",
        "ro",
        f"uml_dir={job_dir / 'uml'}",
        f"umid=nhs-{uuid.uuid4().hex[:12]}",
        # con0 is /dev/console (the kernel's and PID 1's own messages); tty1/tty2 carry the command's output.
        "con=null",
        f"con0=null,fd:{console_fd}",
        f"con1=null,fd:{out_fd}",
        f"con2=null,fd:{err_fd}",
        "ssl=null",
        "quiet",
        "loglevel=3",
        f"NHS_JOB={job_dir}",  # an unknown name=value: the kernel puts it in init's environment
        f"init={GUEST_PYTHON}",
        "--",  # what follows is init's argv
        "-I",
        str(GUEST_INIT),
    ]


def _boot(command: list[str], console: BinaryIO, timeout_s: float, ram_dir: str) -> None:
    """Run UML until the guest powers off, or kill it (and its helpers) after the timeout."""
    fds = sorted({int(arg.rsplit(":", 1)[1]) for arg in command if arg.startswith("con") and ",fd:" in arg})
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=console,
        stderr=subprocess.STDOUT,
        pass_fds=fds,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": ram_dir},  # guest RAM: a file in TMPDIR
        start_new_session=True,  # UML's helper processes share its process group
    )
    try:
        proc.wait(timeout=timeout_s + BOOT_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    finally:
        # The group UML leads: its I/O helpers, and UML itself if it is still running.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _result(job_dir: Path, argv: Sequence[str], total_s: float, *, captured_out: bool, captured_err: bool) -> GuestRun:
    result_path = job_dir / "result.json"
    result = json.loads(result_path.read_text()) if result_path.exists() else {}
    if "returncode" not in result:
        log = (job_dir / "console.log").read_text(errors="replace")[-3000:]
        why = result.get("guest_error", "UML stopped without a result")
        raise GuestError(f"the UML guest did not run {list(argv)!r}: {why}\n{log}")
    return GuestRun(
        returncode=result["returncode"],
        timed_out=result["timed_out"],
        stdout=(job_dir / "stdout").read_text(errors="replace") if captured_out else "",
        stderr=(job_dir / "stderr").read_text(errors="replace") if captured_err else "",
        kernel=result["kernel"],
        mem_total_bytes=result["mem_total_bytes"],
        boot_s=result["boot_s"],
        command_s=result["command_s"],
        total_s=round(total_s, 2),
    )


def exit_status(run: GuestRun) -> int:
    """The command's status as a shell reports it: 128 + N for signal N, 124 for a timeout."""
    if run.timed_out or run.returncode is None:
        return 124
    return 128 - run.returncode if run.returncode < 0 else run.returncode


if __name__ == "__main__":  # `python -m tests.cgroup2.uml -- COMMAND...`: a command on a real cgroup v2
    args = sys.argv[1:]
    args = args[1:] if args[:1] == ["--"] else args
    here = os.getcwd()
    run = run_in_guest(args, env=dict(os.environ), cwd=here, rw_dirs=[here], stdout_fd=1, stderr_fd=2)
    print(
        f"[uml] kernel {run.kernel}, MemTotal {run.mem_total_bytes >> 20} MiB, returncode {run.returncode}, "
        f"boot {run.boot_s} s, command {run.command_s} s, total {run.total_s} s",
        file=sys.stderr,
    )
    sys.exit(exit_status(run))
