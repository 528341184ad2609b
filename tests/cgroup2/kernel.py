"""The User-Mode Linux kernel the guests boot: Debian forky's `user-mode-linux`, kept in `.cache/uml`.

Why not bookworm's own package (`user-mode-linux` 6.1um4, /usr/bin/linux.uml): before Linux 6.13 UML
saves and restores a guest process's FP/AVX registers with ptrace(PTRACE_GETREGSET/SETREGSET,
NT_X86_XSTATE) on a buffer of a fixed 2696 bytes (upstream 6f602afda727, "um: Fix FP register size
for XSTATE/XSAVE": gdb's largest XSAVE area then, AVX-512 and PKRU). The host accepts SETREGSET only
with exactly its own whole XSAVE size (arch/x86/kernel/fpu/regset.c, xstateregs_set: `count !=
fpu_user_cfg.max_size` is EFAULT). On a CPU with AMX that is 11008 bytes (8 KiB of tile data), on one
with neither AVX-512 nor PKRU 832: there the first restore, right after init's execve, fails and the
guest panics ("Attempted to kill init! exitcode=0x0000000b", put_fp_registers -> fatal_sigsegv).
Measured with strace on a 6.18 host with AMX: SETREGSET with iov_len=2696 -> EFAULT.
Linux 6.13 (3f17fed21491, "um: switch to regset API and depend on XSTATE"; 5298b7cffa84 adds the
FXSAVE fallback) asks the host for its size instead (GETREGSET on a 2 MiB buffer; 11008 there) and
saves the whole area on every switch, so guest AVX state survives on any host. Debian 13 (trixie) has
6.12 (the same fixed size, same panic); testing (forky) has 7.x, built for glibc >= 2.38 while
bookworm has 2.36. So the kernel comes from forky's `user-mode-linux`, with forky's `libc6` beside it:
`apt-get download` with a private apt state (this machine's sources, status and preferences are not
touched), `dpkg-deb` to unpack, and patchelf pointing the binary at that loader and libc (running it
as `ld.so linux.uml` instead moves its heap and UML then refuses to boot: "Too few physical memory").
Only the UML process uses that libc; the guest runs the host's own binaries through hostfs.

Forky is testing until it is released, so the version moves (7.2um1, Linux 7.2.7, when this was
written; the tests need 6.13 or newer and say so); should forky ever lack the package, `SUITE = "sid"`.
`python -m tests.cgroup2.kernel` (`make test-deps`) installs it once; later runs only check it starts.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("NHS_UML_CACHE", REPO / ".cache" / "uml"))
SUITE = "forky"  # Debian testing by its name: the oldest suite whose user-mode-linux is 6.13 or newer
LIBC_DIR = "usr/lib/x86_64-linux-gnu"


def kernel_binary(cache: Path = CACHE) -> Path:
    """Where the installed kernel is (it may not be there yet)."""
    return cache / "root" / "usr" / "bin" / "linux.uml"


def kernel_release(binary: Path) -> str | None:
    """`linux.uml --version` (the guest's `uname -r`), or None when the binary is missing or does not start."""
    try:
        done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def install_kernel(cache: Path = CACHE) -> Path:
    """The kernel binary, installed from Debian `SUITE` into `cache` unless one there already starts."""
    binary = kernel_binary(cache)
    if kernel_release(binary) is not None:
        return binary
    root = cache / "root"
    shutil.rmtree(root, ignore_errors=True)  # a half-made one from an interrupted run
    root.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="nhs-uml-apt-") as scratch:
        for deb in _download(Path(scratch), ("user-mode-linux", "libc6")):
            _unpack(deb, root)
    libc = root / LIBC_DIR
    subprocess.run(
        ["patchelf", "--set-interpreter", str(libc / "ld-linux-x86-64.so.2"), "--set-rpath", str(libc), str(binary)],
        check=True,
    )
    if kernel_release(binary) is None:
        raise RuntimeError(f"{binary} was installed from Debian {SUITE} but does not start (`{binary} --version`)")
    return binary


def parse_archive(indextargets: str, codename: str) -> str | None:
    """The archive URI serving `codename`, from `apt-get indextargets --format '$(RELEASE) $(REPO_URI)'`."""
    for line in indextargets.splitlines():
        release, _, uri = line.partition(" ")
        if release == codename and uri:
            return uri
    return None


def debian_archive() -> str:
    """The Debian archive this machine's apt installs its own release from (it serves forky as well)."""
    codename = platform.freedesktop_os_release().get("VERSION_CODENAME", "")
    targets = subprocess.run(
        ["apt-get", "indextargets", "--no-release-info", "--format", "$(RELEASE) $(REPO_URI)", "Identifier: Packages"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    archive = parse_archive(targets, codename)
    if archive is None:
        raise RuntimeError(f"no apt source serves this machine's release {codename!r} (apt-get indextargets)")
    return archive


def _download(scratch: Path, packages: tuple[str, ...]) -> list[Path]:
    """The packages' .deb files from `SUITE`, by apt with a private state under `scratch`."""
    (scratch / "lists" / "partial").mkdir(parents=True)
    (scratch / "parts").mkdir()
    (scratch / "sources.list").write_text(f"deb {debian_archive()} {SUITE} main\n")
    (scratch / "status").write_text("")  # nothing installed: the candidates are the suite's own versions
    options = {
        "Dir::Etc::SourceList": scratch / "sources.list",
        "Dir::Etc::SourceParts": scratch / "parts",
        "Dir::Etc::PreferencesParts": scratch / "parts",
        "Dir::Etc::Preferences": scratch / "preferences",
        "Dir::State::Lists": scratch / "lists",
        "Dir::State::status": scratch / "status",
        "Dir::Cache": scratch,
        "APT::Sandbox::User": "root",  # the download lands in `scratch`, which apt's _apt user cannot write
        "Acquire::Languages": "none",
    }
    apt = [arg for key, value in options.items() for arg in ("-o", f"{key}={value}")]
    subprocess.run(["apt-get", "-qq", *apt, "update"], check=True)
    subprocess.run(["apt-get", "-qq", *apt, "download", *packages], check=True, cwd=scratch)
    debs = sorted(scratch.glob("*.deb"))
    if len(debs) != len(packages):
        raise RuntimeError(f"apt-get download {' '.join(packages)} from {SUITE} left {[d.name for d in debs]}")
    return debs


def _unpack(deb: Path, root: Path) -> None:
    """The package's files under `root`; of user-mode-linux only the kernel (its 166 MB of modules go unused)."""
    members = ["./usr/bin/linux.uml"] if deb.name.startswith("user-mode-linux_") else []
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(root), *members], stdin=tar.stdout, check=True)
    if tar.stdout is not None:
        tar.stdout.close()
    if tar.wait() != 0:
        raise RuntimeError(f"dpkg-deb --fsys-tarfile {deb} failed")


if __name__ == "__main__":
    installed = install_kernel()
    print(kernel_release(installed), installed)
