"""adopt's rewritten entry point runs exactly the old argv: proven in dash, bash and busybox sh.

The container's old argv is a Python program that prints the argv it got and NODE_OPTIONS; adopt
wraps it (`. FILE && exec ARGV`); the test runs the new entry point with each real shell, a real env
file written by the sidecar's renderer, and compares the argv with what the same program prints when
run directly (exec form, as Docker runs it). `--mode env-file` is run with the real Node 20.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.fleet.images import ImageFacts, ImageLookup
from sidecar.fleet.rewrite import AdoptOptions, adopt_definition, unwrap_shell_command
from sidecar.outputs.envfile import render_env_file
from tests.strict import unavailable

SHELLS = {"dash": ["dash"], "bash-posix": ["bash", "--posix"], "busybox-ash": ["busybox", "sh"]}
FLAGS = ("--max-old-space-size=807", "--max-semi-space-size=4")
PRINTER = [
    sys.executable,
    "-c",
    "import json, os, sys; print(json.dumps([sys.argv[1:], os.environ.get('NODE_OPTIONS')]))",
]
NODE_PRINTER = "console.log(JSON.stringify([process.argv.slice(1), process.env.NODE_OPTIONS]))"
ARGVS = {
    "plain": ["server.js", "--port", "3000"],
    "spaces-and-quotes": ["a b", "it's", 'say "hi"', "'", '"', "''"],
    "shell-syntax": ["$HOME", "${PATH}", "`id`", "$(id)", "a;b", "a && b", "a|b", "*", "?", "[a]", "~", "#x", "!x"],
    "escapes": ["back\\slash", "\\", "tab\there", "new\nline", "\r", "-", "--", "-c", "=", "%s"],
    "empty-and-unicode": ["", " ", "é", "日本", "🙂", "\u00a0"],
}
argv_words = st.lists(
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12), max_size=5
)


def shell(name: str) -> list[str]:
    argv = SHELLS[name]
    if shutil.which(argv[0]) is None:
        unavailable(f"{argv[0]} is not installed")
    return argv


def env_file(directory: Path) -> Path:
    path = directory / "node-heap.env"
    path.write_text(render_env_file(FLAGS, ["test"]))
    return path


def adopted(argv: list[str], directory: Path, **options: Any) -> dict[str, Any]:
    """The app container after adopt, its files in `directory` instead of /shared."""
    log = {"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-region": "us-east-1"}}
    app = {"name": "app", "image": "node:22", "entryPoint": argv[:1], "command": argv[1:], "logConfiguration": log}
    definition = {"family": "t", "containerDefinitions": [app]}
    options = {"image": "sidecar:1", "shared_path": str(directory), **options}
    result = adopt_definition("task-definition", definition, AdoptOptions(**options))
    return next(c for c in result.document["containerDefinitions"] if c["name"] == "app")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("NODE_")}


def run(argv: list[str]) -> Any:
    out = subprocess.run(argv, env=clean_env(), capture_output=True, text=True, check=True, timeout=30)
    return json.loads(out.stdout)


def through_shell(sh: str, app: dict[str, Any]) -> Any:
    """The rewritten entry point, with `sh` replaced by the shell under test."""
    assert app["entryPoint"] == ["sh", "-c"]
    return run([*shell(sh), "-c", *app["command"]])


class TestShellWrapper:
    @pytest.mark.parametrize("sh", list(SHELLS))
    @pytest.mark.parametrize("case", list(ARGVS))
    def test_same_argv_as_before(self, tmp_path: Path, sh: str, case: str) -> None:
        """The program gets the argv it got before adopt, and NODE_OPTIONS carries the file's flags."""
        env_file(tmp_path)
        argv = [*PRINTER, *ARGVS[case]]
        before, _ = run(argv)
        after, node_options = through_shell(sh, adopted(argv, tmp_path))
        assert after == before == ARGVS[case]
        assert node_options == " ".join(FLAGS)

    @pytest.mark.parametrize("sh", list(SHELLS))
    @settings(max_examples=25, deadline=None)
    @given(words=argv_words)
    def test_any_argv(self, tmp_path_factory: pytest.TempPathFactory, sh: str, words: list[str]) -> None:
        """Any argv without NUL (the only byte an argv cannot hold) survives the wrapper unchanged."""
        directory = tmp_path_factory.mktemp("shared")
        env_file(directory)
        after, _ = through_shell(sh, adopted([*PRINTER, *words], directory))
        assert after == words

    @given(words=argv_words)
    def test_the_wrapper_is_recognised_again(self, words: list[str]) -> None:
        """What adopt writes, it reads back (this is what makes adopting twice change nothing)."""
        app = adopted([*PRINTER, *words], Path("/shared"))
        assert unwrap_shell_command(app["command"][0]) == ("/shared/node-heap.env", [*PRINTER, *words])


class TestEnvFileMode:
    def test_node_gets_the_flags_and_the_same_argv(self, tmp_path: Path) -> None:
        """`node --env-file=FILE -e ...`: Node 20.20 reads the file; the script's argv is unchanged."""
        node = shutil.which("node")
        if node is None:
            unavailable("node is not installed")
        env_file(tmp_path)
        args = ["a b", "$HOME", "--", "x=y"]
        app = adopted([node, "-e", NODE_PRINTER, "--", *args], tmp_path, mode="env-file")
        assert app["entryPoint"] == [node, f"--env-file={tmp_path}/node-heap.env"]
        got, node_options = run([*app["entryPoint"], *app["command"]])
        assert got == args
        assert node_options == " ".join(FLAGS)


# Docker's rules, one case each: (task definition entryPoint, command), (image ENTRYPOINT, CMD), and what
# Docker runs (research/images.md; written by hand, not computed).
IMAGE_RULES = {
    "program-left-to-the-image": (
        (None, None),
        (["docker-entrypoint.sh"], ["npm", "start"]),
        ["docker-entrypoint.sh", "npm", "start"],
    ),
    "command-keeps-the-entrypoint": (
        (None, ["node", "server.js"]),
        (["docker-entrypoint.sh"], ["node"]),
        ["docker-entrypoint.sh", "node", "server.js"],
    ),
    "entrypoint-and-command": ((["node"], ["a.js"]), (["docker-entrypoint.sh"], ["node"]), ["node", "a.js"]),
    "entrypoint-drops-cmd": ((["node", "x.js"], None), (["docker-entrypoint.sh"], ["npm", "start"]), ["node", "x.js"]),
    "command-is-arguments-of-the-entrypoint": (
        (None, ["--port", "3000"]),
        (["node", "bundle.js"], None),
        ["node", "bundle.js", "--port", "3000"],
    ),
    "shell-form-cmd": (
        (None, None),
        (None, ["/bin/sh", "-c", "npm start 'a b'"]),
        ["/bin/sh", "-c", "npm start 'a b'"],
    ),
}
RECORDER = '#!/bin/sh\nprintf "%s\\n" "$(basename "$0")" "$@" "NODE_OPTIONS=${NODE_OPTIONS-}"\n'
APP_IMAGE = "registry.example/app:1"


def fake_programs(directory: Path) -> Path:
    """`docker-entrypoint.sh` (which execs its arguments, as node's does for a command), `node` and `npm`
    that print their name, argv and NODE_OPTIONS."""
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker-entrypoint.sh").write_text('#!/bin/sh\nexec "$@"\n')
    for name in ("node", "npm"):
        (bin_dir / name).write_text(RECORDER)
    for program in bin_dir.iterdir():
        program.chmod(0o755)
    return bin_dir


def image_lookup(entrypoint: list[str] | None, cmd: list[str] | None, *env: str) -> dict[str, ImageLookup]:
    facts = ImageFacts(
        reference=APP_IMAGE,
        digest=None,
        entrypoint=tuple(entrypoint) if entrypoint is not None else None,
        cmd=tuple(cmd) if cmd is not None else None,
        env=tuple((e.split("=", 1)[0], e.split("=", 1)[1]) for e in env),
        user=None,
        working_dir=None,
        labels=(),
        platform="linux/amd64",
        source="registry http://127.0.0.1:5000",
    )
    return {APP_IMAGE: ImageLookup(APP_IMAGE, facts, None)}


def adopted_with_image(
    td: tuple[list[str] | None, list[str] | None], lookups: dict[str, ImageLookup], directory: Path
) -> dict[str, Any]:
    entry, command = td
    app: dict[str, Any] = {"name": "app", "image": APP_IMAGE}
    if entry is not None:
        app["entryPoint"] = entry
    if command is not None:
        app["command"] = command
    definition = {"family": "t", "containerDefinitions": [app]}
    options = AdoptOptions(image="sidecar:1", shared_path=str(directory), containers=("app",))
    result = adopt_definition("task-definition", definition, options, lookups)
    return next(c for c in result.document["containerDefinitions"] if c["name"] == "app")


def executed(argv: list[str], bin_dir: Path) -> str:
    env = {**clean_env(), "PATH": f"{bin_dir}:/usr/bin:/bin"}
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=True, timeout=30).stdout


class TestImageRules:
    @pytest.mark.parametrize("sh", list(SHELLS))
    @pytest.mark.parametrize("rule", list(IMAGE_RULES))
    def test_what_runs_is_what_ran(self, tmp_path: Path, sh: str, rule: str) -> None:
        """For each of Docker's rules, the wrapped command executes the same programs with the same argv as
        the container did before (exec form, as Docker runs it), and they get the file's flags."""
        td, (entrypoint, cmd), docker_runs = IMAGE_RULES[rule]
        bin_dir = fake_programs(tmp_path)
        env_file(tmp_path)
        app = adopted_with_image(td, image_lookup(entrypoint, cmd), tmp_path)
        assert app["entryPoint"] == ["sh", "-c"]
        before = executed(docker_runs, bin_dir)
        after = executed([*shell(sh), "-c", *app["command"]], bin_dir)
        assert after == before.replace("NODE_OPTIONS=\n", f"NODE_OPTIONS={' '.join(FLAGS)}\n")

    def test_node_older_than_8_gets_the_flags_on_its_command_line(self, tmp_path: Path) -> None:
        """Node 4 reads no NODE_OPTIONS: the file's flags are put after `node` itself ($NODE_HEAP_OPTIONS)."""
        bin_dir = fake_programs(tmp_path)
        env_file(tmp_path)
        app = adopted_with_image((None, None), image_lookup(None, ["node", "app.js"], "NODE_VERSION=4.8.1"), tmp_path)
        assert app["command"] == [f". {tmp_path}/node-heap.env && exec node $NODE_HEAP_OPTIONS app.js"]
        after = executed(["sh", "-c", *app["command"]], bin_dir)
        assert after.splitlines()[:4] == ["node", *FLAGS, "app.js"][:4]
