"""The one image-reference parser: Docker's grammar, Docker Hub made explicit, templates refused."""

from __future__ import annotations

import pytest

from sidecar.imageref import ImageRef, parse_image


class TestParseImage:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("node", ImageRef("docker.io", "library/node", None, None)),
            ("node:22-slim", ImageRef("docker.io", "library/node", "22-slim", None)),
            ("docker.io/node:20", ImageRef("docker.io", "library/node", "20", None)),
            ("index.docker.io/library/node", ImageRef("docker.io", "library/node", None, None)),
            ("amazon/aws-for-fluent-bit:stable", ImageRef("docker.io", "amazon/aws-for-fluent-bit", "stable", None)),
            (
                "public.ecr.aws/docker/library/node:24.6-alpine",
                ImageRef("public.ecr.aws", "docker/library/node", "24.6-alpine", None),
            ),
            ("gcr.io/distroless/nodejs22-debian12", ImageRef("gcr.io", "distroless/nodejs22-debian12", None, None)),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:1.2.3",
                ImageRef("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "team/app", "1.2.3", None),
            ),
            ("localhost:5000/app:dev", ImageRef("localhost:5000", "app", "dev", None)),
            ("localhost/app", ImageRef("localhost", "app", None, None)),
            (
                "127.0.0.1:5000/app@sha256:" + "ab" * 32,
                ImageRef("127.0.0.1:5000", "app", None, "sha256:" + "ab" * 32),
            ),
            (
                "node:22@sha256:" + "0f" * 32,
                ImageRef("docker.io", "library/node", "22", "sha256:" + "0f" * 32),
            ),
        ],
    )
    def test_references(self, text: str, expected: ImageRef) -> None:
        """Each reference parses into its registry, repository, tag and digest."""
        assert parse_image(text) == expected

    @pytest.mark.parametrize(
        "text", ["", "   ", "${image}", "{{ .Values.image }}", "<IMAGE>", "app:${TAG}", "node@sha256:short", None]
    )
    def test_not_references(self, text: str | None) -> None:
        """Empty values, unrendered templates and malformed digests are not references."""
        assert parse_image(text) is None

    def test_loopback(self) -> None:
        """Registries on this machine are loopback (Docker talks plain HTTP to them); others are not."""
        assert [parse_image(t).loopback for t in ("127.0.0.1:5000/a", "localhost:5000/a", "[::1]:5000/a")] == [  # type: ignore[union-attr]
            True,
            True,
            True,
        ]
        assert parse_image("registry.example.com:5000/a").loopback is False  # type: ignore[union-attr]

    def test_round_trip(self) -> None:
        """The text form is the normalised reference."""
        assert str(parse_image("node:22")) == "docker.io/library/node:22"
        assert parse_image("node:22").reference == "22"  # type: ignore[union-attr]
        assert parse_image("node").reference == "latest"  # type: ignore[union-attr]
