"""`python -m sidecar` run as ECS runs it: a real process with an environment built from scratch.

`run_cli` returns its exit code, its JSON events on stdout, its one-line error on stderr; the env file
it wrote is in the test's directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


class Result:
    def __init__(self, proc: subprocess.CompletedProcess[str], elapsed_s: float = 0.0) -> None:
        self.elapsed_s = elapsed_s  # wall time of the whole process, Python's start-up included
        self.code = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        # JSON lines (run); `explain --json` prints one indented document instead.
        self.events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"')]

    def event(self, name: str) -> dict[str, Any]:
        found = [e for e in self.events if e["event"] == name]
        assert len(found) == 1, (name, self.stdout, self.stderr)
        event: dict[str, Any] = found[0]
        return event

    def names(self) -> list[str]:
        return [e["event"] for e in self.events]


def run_cli(tmp_path: Path, *args: str, **env: str) -> Result:
    """`python -m sidecar ARGS` with only `env` (plus PATH and a local-only AWS setup)."""
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    base = {
        "PATH": "/usr/bin:/bin",
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_EC2_METADATA_DISABLED": "true",
        "NODE_HEAP_ENV_FILE": str(tmp_path / "node-heap.env"),
    }
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        env={**base, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Result(proc, time.monotonic() - started)
