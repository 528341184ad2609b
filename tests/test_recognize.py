"""Recognising Node from what a container really runs: the task definition, and its image's config."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.fleet.images import ImageFacts, ImageLookup
from sidecar.fleet.recognize import cluster_hints, recognize
from sidecar.fleet.runs import NotKnown, Runs

APP = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:7"


def facts(entrypoint: list[str] | None, cmd: list[str] | None, *env: str) -> ImageLookup:
    """The config of APP as a registry would report it."""
    pairs = tuple((item.split("=", 1)[0], item.split("=", 1)[1]) for item in env)
    config = ImageFacts(
        reference=APP,
        digest="sha256:" + "ab" * 32,
        entrypoint=tuple(entrypoint) if entrypoint is not None else None,
        cmd=tuple(cmd) if cmd is not None else None,
        env=pairs,
        user=None,
        working_dir="/app",
        labels=(),
        platform="linux/amd64",
        source="registry http://127.0.0.1:5000",
    )
    return ImageLookup(APP, config, None)


class TestFromTheTaskDefinition:
    @pytest.mark.parametrize(
        ("container", "evidence"),
        [
            (
                {"image": "node:22-slim"},
                (
                    "runs `node`: docker-entrypoint.sh node (the image's ENTRYPOINT and CMD; image: known by name, "
                    "the official node image)",
                    "image node:22-slim is a Node image",
                ),
            ),
            (
                {"image": "gcr.io/distroless/nodejs22-debian12", "command": ["server.js"]},
                (
                    "runs `node`: /nodejs/bin/node server.js (the image's ENTRYPOINT and the task definition's "
                    "command; image: known by name, distroless nodejs)",
                    "image gcr.io/distroless/nodejs22-debian12 is a Node image",
                ),
            ),
            ({"image": "acme/web:node20"}, ("image acme/web:node20 is a Node image",)),
            (
                {"image": APP, "entryPoint": ["tini", "--", "node", "a.js"]},
                ("runs `node`: tini -- node a.js (the task definition's entryPoint, without the image's CMD)",),
            ),
            (
                {"image": APP, "command": ["npm", "start"]},
                (
                    "its command runs `npm` (a launcher: Node runs in its child) (what runs is the image's "
                    "ENTRYPOINT in front of the task definition's command)",
                ),
            ),
            (
                {"image": APP, "environment": [{"name": "NODE_OPTIONS", "value": ""}]},
                ("NODE_OPTIONS in its environment",),
            ),
            ({"image": "python:3.12", "command": ["python", "nodes.py"]}, ()),
            ({"image": "acme/nodeinfo:1"}, ()),
            ({"image": "node-heap-sidecar:0.2.0", "environment": [{"name": "NODE_OPTIONS", "value": "x"}]}, ()),
            ({"name": "log_router", "image": "amazon/aws-for-fluent-bit:stable"}, ()),
        ],
    )
    def test_evidence(self, container: dict[str, Any], evidence: tuple[str, ...]) -> None:
        """Each kind of evidence is named; the sidecar's own image and known sidecars are never Node."""
        assert recognize(container).evidence == evidence


class TestFromTheImage:
    def test_program_left_to_the_image(self) -> None:
        """No entryPoint, no command: the image's `docker-entrypoint.sh` + `npm start` is what runs."""
        found = recognize({"image": APP}, facts(["docker-entrypoint.sh"], ["npm", "start"], "NODE_VERSION=22.11.0"))
        assert found.runs == Runs(
            ("docker-entrypoint.sh",),
            ("npm", "start"),
            "the image's ENTRYPOINT and CMD; image: config from registry http://127.0.0.1:5000",
        )
        assert found.evidence == (
            "runs `npm` (a launcher: Node runs in its child): docker-entrypoint.sh npm start (the image's "
            "ENTRYPOINT and CMD; image: config from registry http://127.0.0.1:5000)",
            "its image sets NODE_VERSION=22.11.0 (registry http://127.0.0.1:5000)",
        )
        assert (found.node_version, found.node_version_where) == ((22, 11), "image ENV NODE_VERSION=22.11.0")

    def test_program_in_the_image_entrypoint(self) -> None:
        """`ENTRYPOINT ["node", "bundle.js"]`: a `command` becomes the bundle's arguments."""
        found = recognize({"image": APP, "command": ["--port", "3000"]}, facts(["node", "bundle.js"], None))
        assert isinstance(found.runs, Runs)
        assert found.runs.argv == ("node", "bundle.js", "--port", "3000")
        assert found.node is not None
        assert found.node.flag_at == 1

    def test_shell_form_cmd(self) -> None:
        """`CMD npm start` in a Dockerfile is `/bin/sh -c "npm start"`: npm, in a shell script."""
        found = recognize({"image": APP}, facts(["docker-entrypoint.sh"], ["/bin/sh", "-c", "npm start"]))
        assert found.node is not None
        assert (found.node.program, found.node.direct) == ("npm", False)

    def test_image_that_is_not_node(self) -> None:
        """A Java image: what runs is known, and it is not Node."""
        found = recognize({"image": APP}, facts(["java", "-jar", "/app.jar"], None))
        assert (found.evidence, found.node) == ((), None)

    def test_image_not_read(self) -> None:
        """An image that could not be read: what runs is unknown and the note says why."""
        lookup = ImageLookup(APP, None, f"{APP}: no credentials for 123456789012.dkr.ecr.eu-west-1.amazonaws.com")
        found = recognize({"image": APP}, lookup)
        assert found.runs == NotKnown("left to the image (no entryPoint, no command)")
        assert found.image_note == lookup.note
        assert found.evidence == ()

    def test_unrendered_template(self) -> None:
        """A `${...}` name or image is said to be an unrendered template."""
        found = recognize({"name": "${container_name}", "image": "${container_image}"})
        assert found.unrendered == ("name", "image")


class TestClusterHints:
    def test_pm2_and_web_concurrency(self) -> None:
        """pm2 with its instance count, and WEB_CONCURRENCY."""
        container = {
            "command": ["pm2-runtime", "-i", "max", "server.js"],
            "environment": [{"name": "WEB_CONCURRENCY", "value": "4"}],
        }
        assert cluster_hints(container) == ["pm2 -i max", "WEB_CONCURRENCY=4"]

    def test_pm2_in_the_image(self) -> None:
        """pm2 in the image's CMD counts too: the hint comes from what really runs."""
        found = recognize({"image": APP}, facts(None, ["pm2-runtime", "-i", "4", "app.js"]))
        assert cluster_hints({"image": APP}, found.runs) == ["pm2 -i 4"]
