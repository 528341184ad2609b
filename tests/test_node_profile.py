"""Tests for sidecar.sizing.node_profile: Node versions from settings and image references, and their profiles.

Image references are real forms (Docker Hub official image tags, ECR Public's mirror, CircleCI's
cimg, distroless, a private ECR app image, a registry with a port). Profile figures are the
measured ones documented in the module (bench/results/calibration.json); the conservative profile
takes the largest of each: binary 40 (22 and 26), base 12, ratio 0.07 (24 and 26), semi-space 64 (24),
and the largest own semi-space (old/semi ratios 32 of Node 24 and 64 of Node 26 in low memory).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sidecar.sizing.node_profile import (
    CONSERVATIVE,
    NodeProfile,
    node_band_start_mib,
    node_own_semi_space_mib,
    parse_version,
    profile_for,
    version_from_image,
)

CALIBRATION = Path(__file__).resolve().parent.parent / "bench" / "results" / "calibration.json"

NOT_MEASURED = "not measured: largest measured figures"
NO_SEMI_FLAG = "not measured: largest measured figures; --max-semi-space-size not allowed in NODE_OPTIONS before 19.2"


class TestParseVersion:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param("22", (22, None), id="major"),
            pytest.param("22.21", (22, 21), id="major-minor"),
            pytest.param("22.21.0", (22, 21), id="full"),
            pytest.param("v22.21.0", (22, 21), id="v-prefix"),
            pytest.param(" 20.11.1 ", (20, 11), id="spaces"),
            pytest.param("19.2", (19, 2), id="nineteen-two"),
        ],
    )
    def test_versions(self, text: str, expected: tuple[int, int | None]) -> None:
        """A version gives its major and, when written, its minor; the patch is not needed."""
        assert parse_version(text) == expected

    @pytest.mark.parametrize("text", ["lts", "", "current"])
    def test_not_a_version(self, text: str) -> None:
        """Text that does not start with a number is rejected, quoting it."""
        with pytest.raises(ValueError, match=r"^not a Node\.js version: ") as info:
            parse_version(text)

        assert str(info.value) == f"not a Node.js version: {text!r}"


class TestVersionFromImage:
    @pytest.mark.parametrize(
        ("image", "expected"),
        [
            pytest.param("node:22-slim", (22, None), id="official-major-variant"),
            pytest.param("node:22.11.0-alpine3.20", (22, 11), id="official-full-alpine"),
            pytest.param("node:20", (20, None), id="official-major"),
            pytest.param("public.ecr.aws/docker/library/node:24.6-alpine", (24, 6), id="ecr-public-mirror"),
            pytest.param("docker.io/library/node:18.20.4-bookworm", (18, 20), id="docker-io-library"),
            pytest.param("cimg/node:20.11", (20, 11), id="cimg"),
            pytest.param("gcr.io/distroless/nodejs22-debian12", (22, None), id="distroless"),
            pytest.param("gcr.io/distroless/nodejs20-debian12:nonroot", (20, None), id="distroless-tagged"),
            pytest.param("node:20.11@sha256:" + "0" * 64, (20, 11), id="tag-and-digest"),
            pytest.param("registry:5000/node:18", (18, None), id="registry-with-port"),
        ],
    )
    def test_names_a_version(self, image: str, expected: tuple[int, int | None]) -> None:
        """A node image's tag (or a distroless nodejsNN name) gives the major and minor it names."""
        assert version_from_image(image) == expected

    @pytest.mark.parametrize(
        "image",
        [
            pytest.param("node:lts", id="lts"),
            pytest.param("node:lts-alpine", id="lts-alpine"),
            pytest.param("node:current-slim", id="current"),
            pytest.param("node:iron", id="codename"),
            pytest.param("node@sha256:" + "0" * 64, id="digest-only"),
            pytest.param("node", id="no-tag"),
            pytest.param("registry:5000/node", id="port-is-not-a-tag"),
            pytest.param("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-app:1.2.3", id="app-image"),
            pytest.param("my-node-app:22", id="other-name"),
            pytest.param("", id="empty"),
            pytest.param(None, id="none"),
        ],
    )
    def test_names_no_version(self, image: str | None) -> None:
        """Moving tags, digests, untagged references and app images name no Node version."""
        assert version_from_image(image) is None


class TestProfileFor:
    def test_unknown_version(self) -> None:
        """No version gives the conservative profile."""
        assert profile_for(None) is CONSERVATIVE

    def test_conservative_figures(self) -> None:
        """The conservative profile takes the largest measured figure of each kind."""
        assert profile_for(None) == NodeProfile(
            "Node (version unknown)",
            None,
            True,
            40,
            12,
            0.07,
            64,
            "largest measured figures of Node 20-26; assumes >= 19.2 (every supported line)",
            min_start_old_mib=10,
            # the smallest ratios: the largest semi-space any line picks by itself (24, and 26 in low memory)
            own_semi_ratio=32,
            own_semi_low_ratio=64,
        )

    @pytest.mark.parametrize(
        ("version", "expected"),
        [
            pytest.param(
                (20, None),
                NodeProfile("Node 20", 20, True, 36, 12, 0.05, 16, "measured on 20.20.2", min_start_old_mib=6),
                id="20",
            ),
            pytest.param(
                (22, 11),
                NodeProfile("Node 22", 22, True, 40, 12, 0.05, 16, "measured on 22.23.3", min_start_old_mib=10),
                id="22.11",
            ),
            pytest.param(
                (24, 6),
                NodeProfile(
                    "Node 24",
                    24,
                    True,
                    38,
                    12,
                    0.07,
                    64,
                    "measured on 24.21.0",
                    min_start_old_mib=10,
                    own_semi_ratio=32,
                ),
                id="24.6",
            ),
            pytest.param(
                (26, None),
                NodeProfile(
                    "Node 26",
                    26,
                    True,
                    40,
                    12,
                    0.07,
                    32,
                    "measured on 26.10.0",
                    min_start_old_mib=8,
                    own_semi_ratio=64,
                    own_semi_low_ratio=64,
                ),
                id="26",
            ),
        ],
    )
    def test_measured_major(self, version: tuple[int, int | None], expected: NodeProfile) -> None:
        """A measured major returns its measured profile whatever the minor."""
        assert profile_for(version) == expected

    @pytest.mark.parametrize(
        ("version", "expected"),
        [
            pytest.param((19, None), NodeProfile("Node 19", 19, False, 40, 12, 0.07, 16, NO_SEMI_FLAG), id="19"),
            pytest.param((19, 1), NodeProfile("Node 19", 19, False, 40, 12, 0.07, 16, NO_SEMI_FLAG), id="19.1"),
            pytest.param((19, 2), NodeProfile("Node 19", 19, True, 40, 12, 0.07, 16, NOT_MEASURED), id="19.2"),
            pytest.param((18, 20), NodeProfile("Node 18", 18, False, 40, 12, 0.07, 16, NO_SEMI_FLAG), id="18"),
        ],
    )
    def test_older_than_measured(self, version: tuple[int, int | None], expected: NodeProfile) -> None:
        """Before 19.2 (or 19 with no minor) --max-semi-space-size cannot be set, and V8's 16 MiB applies."""
        assert profile_for(version) == expected

    @pytest.mark.parametrize(
        ("version", "expected"),
        [
            pytest.param(
                (28, None),
                NodeProfile(
                    "Node 28", 28, True, 40, 12, 0.07, 64, NOT_MEASURED, own_semi_ratio=32, own_semi_low_ratio=64
                ),
                id="28",
            ),
            pytest.param(
                (23, 1),
                NodeProfile(
                    "Node 23", 23, True, 40, 12, 0.07, 64, NOT_MEASURED, own_semi_ratio=32, own_semi_low_ratio=64
                ),
                id="23",
            ),
        ],
    )
    def test_unmeasured_newer_major(self, version: tuple[int, int | None], expected: NodeProfile) -> None:
        """A newer or in-between major that was not measured gets the conservative figures."""
        assert profile_for(version) == expected


class TestNodeOwnSemiSpace:
    @pytest.mark.parametrize(
        ("major", "memory_mib", "expected"),
        [
            pytest.param(22, 512, 1, id="22-512-low-memory"),
            pytest.param(22, 513, 4, id="22-513-old-256.5/128-rounds-up"),
            pytest.param(22, 1024, 4, id="22-1024"),
            pytest.param(22, 2049, 16, id="22-2049-cap"),
            pytest.param(24, 513, 16, id="24-513"),
            pytest.param(24, 1025, 32, id="24-1025"),
            pytest.param(24, 8192, 64, id="24-cap"),
            pytest.param(26, 256, 2, id="26-256"),
            pytest.param(26, 512, 4, id="26-512"),
            pytest.param(26, 4096, 32, id="26-cap"),
        ],
    )
    def test_literal_points(self, major: int, memory_mib: int, expected: int) -> None:
        """(M/2)/ratio rounded up to a power of two: the values measured in bench/results/calibration.json."""
        assert node_own_semi_space_mib(profile_for((major, None)), memory_mib) == expected

    @pytest.mark.parametrize("major", [20, 22, 24, 26])
    def test_matches_every_measured_point(self, major: int) -> None:
        """The model gives the semi-space real Node picked in every memory cgroup bench.calibrate measured."""
        entry = next(e for e in json.loads(CALIBRATION.read_text()) if e["major"] == major)
        points = entry["young_generation"]["points"]
        assert len(points) >= 30
        for point in points:
            measured = point["semi_space_mib"]
            assert node_own_semi_space_mib(profile_for((major, None)), point["memory_mib"]) == measured, point

    @pytest.mark.parametrize(
        ("major", "semi", "expected"),
        [
            pytest.param(22, 4, 513, id="22-4"),
            pytest.param(22, 8, 1025, id="22-8"),
            pytest.param(22, 32, None, id="22-above-cap"),
            pytest.param(24, 16, 513, id="24-16"),
            pytest.param(26, 2, 129, id="26-2-low-memory"),
            pytest.param(26, 8, 513, id="26-8"),
        ],
    )
    def test_band_start(self, major: int, semi: int, expected: int | None) -> None:
        """The smallest memory where Node picks at least that semi-space (one MiB below, it picks less)."""
        profile = profile_for((major, None))
        start = node_band_start_mib(profile, semi)
        assert start == expected
        if start is not None:
            assert node_own_semi_space_mib(profile, start) >= semi > node_own_semi_space_mib(profile, start - 1)
