"""What the init job adds to every task's start, measured in the built image (README "Start time").

Inside one container of the image (so Docker's own start is not counted), REPEATS times each:
- `python -c pass`: the interpreter alone, the floor;
- the job with `NODE_HEAP_MEMORY_MIB` (nothing to read: imports, settings, plan, file, log);
- the job against task metadata v4 served from the shipped task definition on the host's loopback
  (`python -m sidecar emulate`), as on ECS;
and once `python -X importtime` of the job, to show where the import time goes. Timed with the
container's own `date +%s%N` around each command.

Run (a Docker daemon and the image, e.g. after `make rehearse`):
`.venv/bin/python -m bench.startup [--image node-heap-sidecar:rehearsal] [--out bench/results/startup.json]`
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "results" / "startup.json"
REPEATS = 30
PYTHON = "/opt/venv/bin/python"
# The environment of a real run, minus ECS: a writable file in /tmp, no ECS API.
JOB_ENV = {"NODE_HEAP_ENV_FILE": "/tmp/node-heap.env", "NODE_HEAP_ECS_API": "off"}


def _in_container(image: str, script: str, env: dict[str, str]) -> str:
    flags = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    argv = ["docker", "run", "--rm", "--network", "host", *flags, "--entrypoint", "/bin/sh", image, "-c", script]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=600).stdout


def _timed(image: str, command: str, env: dict[str, str]) -> list[float]:
    """Milliseconds per run of `command`, REPEATS times, after one warm-up run."""
    script = (
        f"{command} >/dev/null 2>&1; i=0; while [ $i -lt {REPEATS} ]; do s=$(date +%s%N); "
        f"{command} >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000 )); i=$((i+1)); done"
    )
    return [int(line) / 1000 for line in _in_container(image, script, env).split()]


WATCHED = ("sidecar.cli", "structlog", "urllib3", "dataclasses", "argparse")


def _imports(image: str, env: dict[str, str]) -> list[dict[str, Any]]:
    """Cumulative import time of the job (`sidecar.cli`) and of the largest packages it loads
    (one `-X importtime` run)."""
    script = f"{PYTHON} -X importtime -m sidecar 2>&1 >/dev/null | grep 'import time:'"
    found: dict[str, float] = {}
    for line in _in_container(image, script, env).splitlines()[1:]:
        fields = [part.strip() for part in line.split("|")]
        name, cumulative_ms = fields[2], int(fields[1]) / 1000
        if name in WATCHED:
            found[name] = max(found.get(name, 0.0), cumulative_ms)
    return [{"module": name, "cumulative_ms": found[name]} for name in WATCHED if name in found]


def _summary(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(samples), 1),
        "p90_ms": round(sorted(samples)[len(samples) * 9 // 10], 1),
    }


def measure(image: str) -> dict[str, Any]:
    emulator = subprocess.Popen(
        [sys.executable, "-m", "sidecar", "emulate", "--task-definition", str(REPO / "task-definition.json")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        uri = emulator.stdout.readline().strip().split("=", 1)[1]
        floor = _timed(image, f"{PYTHON} -c pass", {})
        explicit = _timed(image, f"{PYTHON} -m sidecar", {**JOB_ENV, "NODE_HEAP_MEMORY_MIB": "1024"})
        tmds_env = {**JOB_ENV, "ECS_CONTAINER_METADATA_URI_V4": uri, "NODE_HEAP_TARGET": "app"}
        with_tmds = _timed(image, f"{PYTHON} -m sidecar", tmds_env)
        imports = _imports(image, tmds_env)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    python = _in_container(image, f"{PYTHON} --version", {}).strip()
    return {
        "image": image,
        "python": python,
        "repeats": REPEATS,
        "python_pass": _summary(floor),
        "job_memory_given": _summary(explicit),
        "job_task_metadata": _summary(with_tmds),
        "imports": imports,
    }


def render_table(data: dict[str, Any]) -> str:
    floor = data["python_pass"]["median_ms"]
    lines = ["| run, in the image | median | p90 | the job's own time |", "| --- | --- | --- | --- |"]
    for key, label in (
        ("python_pass", "`python -c pass` (the floor)"),
        ("job_memory_given", "the job, `NODE_HEAP_MEMORY_MIB` given"),
        ("job_task_metadata", "the job, against task metadata v4 on loopback"),
    ):
        row = data[key]
        own = (
            ""
            if key == "python_pass"
            else f"{row['median_ms'] - floor:.0f} ms ({row['median_ms'] / floor:.1f}x the floor)"
        )
        lines.append(f"| {label} | {row['median_ms']:.0f} ms | {row['p90_ms']:.0f} ms | {own} |")
    imports = ", ".join(f"`{row['module']}` {row['cumulative_ms']:.0f} ms" for row in data["imports"])
    return "\n".join(lines) + f"\n\nImport time of a run (`-X importtime`, cumulative): {imports}."


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="node-heap-sidecar:rehearsal")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = measure(args.image)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    print(render_table(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
