"""A real cgroup v2 for tests and the benchmark, on a machine whose memory controller is cgroup v1.

- `uml`: boots a User-Mode Linux guest that runs one command as root on a cgroup v2 hierarchy
  with the memory controller, then powers off; `python -m tests.cgroup2.uml -- COMMAND` runs one
  from the shell.
- `kernel`: the guest's kernel, Debian forky's `user-mode-linux` (Linux 7.x) in .cache/uml, and why
  not bookworm's 6.1 (it panics on a host CPU with AMX); `python -m tests.cgroup2.kernel` installs it.
- `guest_init`: the guest's PID 1 (mounts, cgroup2, `lo`, the command, the result).
- `ecs`: an ECS task's cgroups as the agent lays them out on cgroup v2, and its TMDS documents.
- `cases`: the end-to-end cases tests/test_cgroup2.py runs inside a guest.
"""
