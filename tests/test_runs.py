"""What a container runs by Docker's rules, and where Node starts in it: literal cases from Docker's and
ECS's documentation (research/images.md) and the official images' Dockerfiles."""

from __future__ import annotations

import pytest

from sidecar.fleet.runs import (
    ImageSays,
    NodeStart,
    NotKnown,
    Runs,
    effective_argv,
    find_node,
    known_defaults,
    without_shell,
)
from sidecar.imageref import parse_image

OFFICIAL = ImageSays(("docker-entrypoint.sh",), ("node",), "config from registry")
APP_IN_ENTRYPOINT = ImageSays(("node", "bundle.js"), None, "config from registry")
NO_ENTRYPOINT = ImageSays(None, ("npm", "start"), "config from registry")


class TestEffectiveArgv:
    def test_entry_point_replaces_entrypoint_and_drops_cmd(self) -> None:
        """`entryPoint` alone: the image's ENTRYPOINT and CMD are both gone (`docker run --entrypoint`)."""
        assert effective_argv(["node"], [], OFFICIAL) == Runs(
            ("node",), (), "the task definition's entryPoint, without the image's CMD"
        )

    def test_entry_point_and_command(self) -> None:
        """`entryPoint` and `command`: exactly those, whatever the image says."""
        assert effective_argv(["node"], ["server.js"], OFFICIAL) == Runs(
            ("node",), ("server.js",), "the task definition's entryPoint and command"
        )

    def test_command_keeps_the_image_entrypoint(self) -> None:
        """`command` alone replaces CMD: node's docker-entrypoint.sh stays in front."""
        assert effective_argv([], ["npm", "start"], OFFICIAL) == Runs(
            ("docker-entrypoint.sh",),
            ("npm", "start"),
            "the image's ENTRYPOINT and the task definition's command; image: config from registry",
        )

    def test_command_becomes_arguments_of_a_program_entrypoint(self) -> None:
        """An image with `ENTRYPOINT ["node", "bundle.js"]`: a `command` is passed to the bundle."""
        runs = effective_argv([], ["--port", "3000"], APP_IN_ENTRYPOINT)
        assert isinstance(runs, Runs)
        assert runs.argv == ("node", "bundle.js", "--port", "3000")

    def test_neither_is_the_image(self) -> None:
        """No entryPoint, no command: the image's ENTRYPOINT + CMD (here no ENTRYPOINT)."""
        assert effective_argv([], [], NO_ENTRYPOINT) == Runs(
            (), ("npm", "start"), "the image's ENTRYPOINT and CMD; image: config from registry"
        )

    @pytest.mark.parametrize(
        ("entry", "command", "why"),
        [
            ([], ["npm", "start"], "the image's ENTRYPOINT in front of the task definition's command"),
            ([], [], "left to the image (no entryPoint, no command)"),
        ],
    )
    def test_unknown_image(self, entry: list[str], command: list[str], why: str) -> None:
        """Without the image, only an `entryPoint` says what runs; nothing is guessed."""
        assert effective_argv(entry, command, None) == NotKnown(why)

    def test_image_without_any_program(self) -> None:
        """An image that sets neither ENTRYPOINT nor CMD, and no task-definition program: nothing runs."""
        runs = effective_argv([], [], ImageSays(None, None, "config from cache"))
        assert runs == NotKnown(
            "nothing: neither the task definition nor the image names a program; image: config from cache"
        )


class TestFindNode:
    @pytest.mark.parametrize(
        ("argv", "start"),
        [
            (["node", "server.js"], NodeStart("node", 1, "`node`")),
            (["/usr/local/bin/node", "a.js"], NodeStart("node", 1, "`node`")),
            (["docker-entrypoint.sh", "node", "a.js"], NodeStart("node", 2, "`node`")),
            (
                ["docker-entrypoint.sh", "server.js"],
                NodeStart("node", 1, "`node` (node's docker-entrypoint.sh runs `node server.js`)"),
            ),
            (
                ["docker-entrypoint.sh", "--inspect"],
                NodeStart("node", 1, "`node` (node's docker-entrypoint.sh runs `node --inspect`)"),
            ),
            (
                ["docker-entrypoint.sh", "npm", "start"],
                NodeStart("npm", None, "`npm` (a launcher: Node runs in its child)"),
            ),
            (["tini", "--", "node", "a.js"], NodeStart("node", 3, "`node`")),
            (["dumb-init", "node", "a.js"], NodeStart("node", 2, "`node`")),
            (["su-exec", "app", "node", "a.js"], NodeStart("node", 3, "`node`")),
            (["env", "NODE_ENV=production", "node", "a.js"], NodeStart("node", 3, "`node`")),
            (
                ["pm2-runtime", "ecosystem.config.js"],
                NodeStart("pm2-runtime", None, "`pm2-runtime` (a launcher: Node runs in its child)"),
            ),
            (["/bin/sh", "-c", "npm start"], NodeStart("npm", None, "`npm` (in a shell script)")),
            (["sh", "-c", "./migrate && exec node a.js"], NodeStart("node", None, "`node` (in a shell script)")),
            (
                ["docker-entrypoint.sh", "/bin/sh", "-c", "npm start"],
                NodeStart("npm", None, "`npm` (in a shell script)"),
            ),
        ],
    )
    def test_where_node_starts(self, argv: list[str], start: NodeStart) -> None:
        """Node itself (with where a flag for it goes), a launcher, or a script, through the usual wrappers."""
        assert find_node(argv) == start

    @pytest.mark.parametrize(
        "argv",
        [["python", "nodes.py"], ["java", "-jar", "app.jar"], ["sh", "-c", "nginx -g 'daemon off;'"], []],
    )
    def test_not_node(self, argv: list[str]) -> None:
        """Programs that are not Node, and a word that merely contains `node`."""
        assert find_node(argv) is None


class TestKnownImages:
    @pytest.mark.parametrize(
        ("image", "defaults"),
        [
            ("node:22-slim", (("docker-entrypoint.sh",), ("node",))),
            ("public.ecr.aws/docker/library/node:24", (("docker-entrypoint.sh",), ("node",))),
            ("gcr.io/distroless/nodejs22-debian12", (("/nodejs/bin/node",), None)),
            ("bitnami/node:22", None),
            ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/node:22", None),
        ],
    )
    def test_known_by_name(self, image: str, defaults: object) -> None:
        """Only Docker Hub's official node image and distroless nodejs are known by their name."""
        assert known_defaults(parse_image(image)) == defaults

    @pytest.mark.parametrize(
        ("image", "entrypoint", "shell_less"),
        [
            ("gcr.io/distroless/nodejs22-debian12", None, True),
            ("gcr.io/distroless/nodejs22-debian12:debug", None, False),
            ("registry.example/app:1", ("/nodejs/bin/node",), True),
            ("node:22-slim", ("docker-entrypoint.sh",), False),
        ],
    )
    def test_without_a_shell(self, image: str, entrypoint: tuple[str, ...] | None, shell_less: bool) -> None:
        """distroless (by name, or by its ENTRYPOINT) has no shell; its :debug tags have busybox."""
        assert without_shell(parse_image(image), entrypoint) is shell_less
