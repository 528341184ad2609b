"""The README's generated blocks: the configuration table (from settings.py) and the measured
results (from bench/results/leak.json). `python -m tests.readme` rewrites them; tests/test_readme.py
fails when they are stale."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from bench.leak import markdown
from sidecar.settings import render_settings_table

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
LEAK_RESULTS = REPO / "bench" / "results" / "leak.json"


def results_block() -> str:
    results = json.loads(LEAK_RESULTS.read_text())
    versions = ", ".join(sorted({r["node"] for r in results}, key=lambda v: int(v.lstrip("v").split(".")[0])))
    return (
        "A pure heap leak (`tests/js/leak.js`) in a fresh cgroup v1 memory cgroup of each size, no swap,\n"
        "page cache dropped first (so the Node binary is charged to the container, as in a new task).\n"
        f"Machine: 2 vCPU, 24 GiB, Linux 6.18 x86_64. Node {versions}. `.venv/bin/python -m bench.leak`;\n"
        "raw figures in `bench/results/leak.json`. Each cell: how the run ended (`abort` = V8's clean\n"
        "heap-limit abort; **HANG** = no progress for 15 s, thrashing at the limit; **KILLED** = the\n"
        "kernel's OOM kill) and the peak anonymous memory (memcg `total_rss`) as a share of the\n"
        "container. `recipe-75` is `--max-old-space-size` = 75 % of the container, clamped to\n"
        "512..8192 MiB; `sidecar` is this project with its defaults (no hints).\n\n" + markdown(results)
    )


def replace_block(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"README has no {name} block")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def render_readme(text: str) -> str:
    text = replace_block(text, "settings-table", render_settings_table())
    return replace_block(text, "results", results_block())


if __name__ == "__main__":
    README.write_text(render_readme(README.read_text()))
    sys.exit(0)
