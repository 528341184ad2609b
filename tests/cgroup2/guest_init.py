"""PID 1 of the User-Mode Linux guest started by `tests.cgroup2.uml`: a machine with a real cgroup v2.

The guest's root is the host's `/` through hostfs, read-only, so the host's Python, Node and the
repository run unchanged. This program mounts what a booted Linux has (proc, sysfs, devtmpfs,
devpts, tmpfs on /tmp, /run and /dev/shm), the job directory and the `rw` directories read-write
(hostfs, same path as on the host), cgroup2 at /sys/fs/cgroup with the memory and pids controllers
enabled for the root's children (as systemd does), brings up `lo` so servers on 127.0.0.1 work, runs
the job's command in the root cgroup and writes `result.json`, then powers the guest off.

Stdlib only: it runs with the host's /usr/bin/python3 before anything else exists. The job
directory is named by `NHS_JOB=<dir>` on the kernel command line (the kernel hands unknown
`name=value` parameters to init as environment variables); `job.json` there holds `argv`, `env`,
`cwd`, `rw_dirs` and `timeout_s`. The command's stdout and stderr are pipes (as under Docker),
relayed to /dev/tty1 and /dev/tty2, which UML connects to host file descriptors.
References: mount(2), reboot(2), netdevice(7) (SIOCSIFFLAGS), Documentation/admin-guide/cgroup-v2.rst.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import json
import os
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import IO, Any

LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
MS_RDONLY = 1
LINUX_REBOOT_CMD_POWER_OFF = 0x4321FEDC
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
IFREQ = "16sH22x"  # struct ifreq: ifr_name[IFNAMSIZ], ifr_flags, padding to 40 bytes
CGROUP = Path("/sys/fs/cgroup")
CONTROLLERS = "+memory +pids"


def mount(source: str, target: str, fs_type: str, data: str | None = None, flags: int = 0) -> None:
    Path(target).mkdir(parents=True, exist_ok=True)
    if fs_type == "devtmpfs" and os.path.ismount(target):
        return  # CONFIG_DEVTMPFS_MOUNT: the kernel mounted it already
    encoded = data.encode() if data is not None else None
    if LIBC.mount(source.encode(), target.encode(), fs_type.encode(), flags, encoded) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount -t {fs_type} {source} {target}: {os.strerror(errno)}")


def loopback_up() -> None:
    """`ip link set lo up`; the kernel then gives lo 127.0.0.1/8 itself."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        flags = struct.unpack(IFREQ, fcntl.ioctl(sock, SIOCGIFFLAGS, struct.pack(IFREQ, b"lo", 0)))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))


def raw_tty(path: str) -> IO[bytes]:
    """A console opened for relaying bytes as they are: no echo, no \\n -> \\r\\n."""
    tty = open(path, "wb", buffering=0)  # noqa: SIM115 (kept open until power-off)
    attrs = termios.tcgetattr(tty)
    attrs[1] &= ~termios.OPOST  # oflag
    attrs[3] &= ~(termios.ECHO | termios.ICANON)  # lflag
    termios.tcsetattr(tty, termios.TCSANOW, attrs)
    return tty


def relay(source: IO[bytes], sink: IO[bytes]) -> threading.Thread:
    def pump() -> None:
        while chunk := source.read1(65536):  # type: ignore[attr-defined]
            sink.write(chunk)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def uptime_s() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def mem_total_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/meminfo has no MemTotal")


def boot(job_dir: Path) -> dict[str, Any]:
    """Mount the machine's file systems and the job's directories; the job's description."""
    mount("proc", "/proc", "proc")
    mount("sysfs", "/sys", "sysfs")
    mount("devtmpfs", "/dev", "devtmpfs")
    mount("devpts", "/dev/pts", "devpts")
    for target, mode in (("/dev/shm", "1777"), ("/tmp", "1777"), ("/run", "755")):
        mount("tmpfs", target, "tmpfs", f"mode={mode}")
    mount("hostfs", str(job_dir), "hostfs", str(job_dir))  # after /tmp: it may live there
    job: dict[str, Any] = json.loads((job_dir / "job.json").read_text())
    for directory in job.get("ro_dirs", []):  # the checkout, when /tmp's tmpfs hid it
        mount("hostfs", directory, "hostfs", directory, MS_RDONLY)
    for directory in job.get("rw_dirs", []):
        mount("hostfs", directory, "hostfs", directory)
    mount("cgroup2", str(CGROUP), "cgroup2", "nsdelegate")
    (CGROUP / "cgroup.subtree_control").write_text(CONTROLLERS)
    loopback_up()
    return job


def run(job: dict[str, Any]) -> dict[str, Any]:
    stdout, stderr = raw_tty("/dev/tty1"), raw_tty("/dev/tty2")
    started = uptime_s()
    proc = subprocess.Popen(
        job["argv"],
        env=job["env"],
        cwd=job.get("cwd") or "/",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    relays = [relay(proc.stdout, stdout), relay(proc.stderr, stderr)]
    timed_out = False
    try:
        returncode: int | None = proc.wait(timeout=job["timeout_s"])
    except subprocess.TimeoutExpired:
        timed_out, returncode = True, None  # everything dies with the guest
    ended = uptime_s()
    for thread in relays:
        thread.join(timeout=5)
    return {
        "returncode": returncode,
        "timed_out": timed_out,
        "kernel": os.uname().release,
        "mem_total_bytes": mem_total_bytes(),
        "boot_s": round(started, 2),
        "command_s": round(ended - started, 2),
    }


def power_off() -> None:
    LIBC.sync()
    LIBC.reboot(LINUX_REBOOT_CMD_POWER_OFF)
    time.sleep(60)  # reboot(2) does not return on success; PID 1 must never exit (kernel panic)


def main() -> None:
    job_dir = Path(os.environ["NHS_JOB"])
    result: dict[str, Any]
    try:
        result = run(boot(job_dir))
    except BaseException as exc:  # whatever it is, the host must learn it
        result = {"guest_error": f"{type(exc).__name__}: {exc}"}
        print(f"guest_init: {result['guest_error']}", file=sys.stderr, flush=True)
    try:
        with open(job_dir / "result.json", "w") as out:
            json.dump(result, out)
            out.flush()
            os.fsync(out.fileno())
    finally:
        power_off()


if __name__ == "__main__":
    main()
