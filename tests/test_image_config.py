"""Manifests, indexes and configs as the OCI image spec and Docker's schema 2 write them."""

from __future__ import annotations

import json

import pytest

from sidecar.fleet.image_config import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    ImageConfig,
    IndexEntry,
    Manifest,
    ManifestError,
    ManifestKind,
    Platform,
    choose_manifest,
    config_from,
    parse_config,
    parse_manifest,
    parse_platform,
    platforms_of,
)

CONFIG_DIGEST = "sha256:" + "c" * 64
AMD64 = "sha256:" + "a" * 64
ARM64 = "sha256:" + "b" * 64
ARMV7 = "sha256:" + "7" * 64
ATTESTATION = "sha256:" + "e" * 64

# The shape of the official node image's index (docker-library), attestations included.
NODE_INDEX = {
    "schemaVersion": 2,
    "mediaType": OCI_INDEX,
    "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": AMD64, "size": 1, "platform": {"architecture": "amd64", "os": "linux"}},
        {
            "mediaType": OCI_MANIFEST,
            "digest": ARMV7,
            "size": 1,
            "platform": {"architecture": "arm", "os": "linux", "variant": "v7"},
        },
        {
            "mediaType": OCI_MANIFEST,
            "digest": ARM64,
            "size": 1,
            "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
        },
        {
            "mediaType": OCI_MANIFEST,
            "digest": ATTESTATION,
            "size": 1,
            "platform": {"architecture": "unknown", "os": "unknown"},
            "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
        },
    ],
}


def image_manifest(media_type: str | None) -> str:
    doc: dict[str, object] = {"schemaVersion": 2, "config": {"digest": CONFIG_DIGEST, "size": 10}, "layers": []}
    if media_type:
        doc["mediaType"] = media_type
    return json.dumps(doc)


class TestParseManifest:
    @pytest.mark.parametrize("media_type", [DOCKER_MANIFEST, OCI_MANIFEST])
    def test_image_manifests(self, media_type: str) -> None:
        """Docker v2 and OCI image manifests name their config."""
        assert parse_manifest(image_manifest(media_type)) == Manifest(
            ManifestKind.IMAGE, media_type, config_digest=CONFIG_DIGEST
        )

    def test_media_type_from_header(self) -> None:
        """An OCI manifest without `mediaType` takes the registry's Content-Type."""
        assert parse_manifest(image_manifest(None), f"{DOCKER_MANIFEST}; charset=utf-8").media_type == DOCKER_MANIFEST

    def test_media_type_from_shape(self) -> None:
        """With neither, a document with `manifests` is an OCI index, one with `config` an OCI manifest."""
        assert parse_manifest(image_manifest(None)).media_type == OCI_MANIFEST
        assert parse_manifest(json.dumps({"schemaVersion": 2, "manifests": []})).kind is ManifestKind.INDEX

    @pytest.mark.parametrize("media_type", [OCI_INDEX, DOCKER_MANIFEST_LIST])
    def test_indexes(self, media_type: str) -> None:
        """An index lists its manifests with their platforms; an entry without one keeps None."""
        doc = {**NODE_INDEX, "mediaType": media_type}
        doc["manifests"] = [*NODE_INDEX["manifests"], {"mediaType": OCI_MANIFEST, "digest": CONFIG_DIGEST}]  # type: ignore[misc]
        assert parse_manifest(json.dumps(doc)) == Manifest(
            ManifestKind.INDEX,
            media_type,
            entries=(
                IndexEntry(AMD64, Platform("linux", "amd64")),
                IndexEntry(ARMV7, Platform("linux", "arm", "v7")),
                IndexEntry(ARM64, Platform("linux", "arm64", "v8")),
                IndexEntry(ATTESTATION, Platform("unknown", "unknown")),
                IndexEntry(CONFIG_DIGEST, None),
            ),
        )

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("{", "manifest is not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
            ("[]", "manifest is [], expected a JSON object"),
            (
                json.dumps({"schemaVersion": 1, "name": "x", "fsLayers": []}),
                "a Docker schema 1 manifest (deprecated since 2017): not read",
            ),
            (
                json.dumps({"mediaType": OCI_MANIFEST, "config": {}}),
                "manifest has no config digest (config: {})",
            ),
            (
                json.dumps({"mediaType": OCI_INDEX, "manifests": [{"size": 3}]}),
                "index entry {'size': 3} has no digest",
            ),
            (
                json.dumps({"mediaType": "application/vnd.cncf.helm.config.v1+json"}),
                "media type 'application/vnd.cncf.helm.config.v1+json' is not an image manifest or index",
            ),
        ],
    )
    def test_malformed(self, text: str, message: str) -> None:
        """What is not an image manifest or index is refused with a one-line reason."""
        with pytest.raises(ManifestError) as caught:
            parse_manifest(text)
        assert str(caught.value) == message


class TestChooseManifest:
    @pytest.mark.parametrize(
        ("platform", "digest"),
        [
            ("linux/amd64", AMD64),
            ("linux/arm64/v8", ARM64),
            ("linux/arm64", ARM64),  # v8 is arm64's default variant
            ("linux/aarch64", ARM64),
            ("linux/arm/v7", ARMV7),
            ("linux/arm", ARMV7),
            ("linux/s390x", None),
            ("windows/amd64", None),
        ],
    )
    def test_platforms(self, platform: str, digest: str | None) -> None:
        """The entry for a platform, variants defaulted as containerd does; None when there is none."""
        index = parse_manifest(json.dumps(NODE_INDEX))
        chosen = choose_manifest(index, parse_platform(platform))  # type: ignore[arg-type]
        assert (chosen.digest if chosen else None) == digest

    def test_entry_without_variant(self) -> None:
        """An index entry `linux/arm64` without a variant serves a request for `linux/arm64/v8`."""
        index = Manifest(ManifestKind.INDEX, OCI_INDEX, entries=(IndexEntry(ARM64, Platform("linux", "arm64")),))
        assert choose_manifest(index, Platform("linux", "arm64", "v8")) == IndexEntry(ARM64, Platform("linux", "arm64"))

    def test_platforms_listed(self) -> None:
        """A message lists the index's platforms, without the attestations' `unknown/unknown`."""
        assert platforms_of(parse_manifest(json.dumps(NODE_INDEX))) == "linux/amd64, linux/arm/v7, linux/arm64/v8"


class TestParsePlatform:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("linux/amd64", Platform("linux", "amd64")),
            ("linux/arm64/v8", Platform("linux", "arm64", "v8")),
            (" linux/arm/v7 ", Platform("linux", "arm", "v7")),
            ("amd64", None),
            ("linux/", None),
            ("Linux/AMD64", None),
            ("linux/amd64/v2/x", None),
        ],
    )
    def test_platforms(self, text: str, expected: Platform | None) -> None:
        """`os/architecture[/variant]` in lower case, as Docker writes platforms."""
        assert parse_platform(text) == expected


class TestParseConfig:
    def test_official_node_shape(self) -> None:
        """The official node image: docker-entrypoint.sh, CMD node, NODE_VERSION and YARN_VERSION."""
        text = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {
                    "Env": [
                        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        "NODE_VERSION=22.20.0",
                        "YARN_VERSION=1.22.22",
                    ],
                    "Entrypoint": ["docker-entrypoint.sh"],
                    "Cmd": ["node"],
                    "WorkingDir": "",
                    "User": "",
                    "Labels": None,
                },
            }
        )
        assert parse_config(text) == ImageConfig(
            entrypoint=("docker-entrypoint.sh",),
            cmd=("node",),
            env=(
                ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
                ("NODE_VERSION", "22.20.0"),
                ("YARN_VERSION", "1.22.22"),
            ),
            user=None,
            working_dir=None,
            labels=(),
            platform=Platform("linux", "amd64"),
        )

    def test_values_with_equals_signs(self) -> None:
        """An Env value keeps every `=` after the first; labels are sorted; a variant is kept."""
        text = json.dumps(
            {
                "architecture": "arm64",
                "variant": "v8",
                "os": "linux",
                "config": {
                    "Env": ["NODE_OPTIONS=--max-old-space-size=1536 --title=a=b", "EMPTY="],
                    "Cmd": ["node", "server.js"],
                    "User": "node",
                    "WorkingDir": "/app",
                    "Labels": {"z": "last", "org.opencontainers.image.source": "https://example.com/app"},
                },
            }
        )
        assert parse_config(text) == ImageConfig(
            entrypoint=None,
            cmd=("node", "server.js"),
            env=(("NODE_OPTIONS", "--max-old-space-size=1536 --title=a=b"), ("EMPTY", "")),
            user="node",
            working_dir="/app",
            labels=(("org.opencontainers.image.source", "https://example.com/app"), ("z", "last")),
            platform=Platform("linux", "arm64", "v8"),
        )

    def test_no_config_section(self) -> None:
        """OCI makes `config` optional: an image without one sets nothing."""
        assert parse_config('{"architecture": "amd64", "os": "linux"}') == ImageConfig(
            None, None, (), None, None, (), Platform("linux", "amd64")
        )

    def test_engine_api_shape(self) -> None:
        """The Engine API's image inspect: `Config`, `Os`, `Architecture`, `Variant`."""
        inspected = {"Os": "linux", "Architecture": "arm64", "Variant": "v8", "Config": {"Entrypoint": ["node"]}}
        assert config_from(inspected, "Config") == ImageConfig(
            ("node",), None, (), None, None, (), Platform("linux", "arm64", "v8")
        )

    @pytest.mark.parametrize(
        ("doc", "message"),
        [
            ({"os": "linux"}, "config names no platform (os 'linux', architecture None)"),
            ({"os": "linux", "architecture": "amd64", "config": []}, "config is [], expected an object"),
            (
                {"os": "linux", "architecture": "amd64", "config": {"Cmd": "node server.js"}},
                "config Cmd is 'node server.js', expected a list of strings",
            ),
            (
                {"os": "linux", "architecture": "amd64", "config": {"Env": {"A": "1"}}},
                "config Env is {'A': '1'}, expected a list of NAME=value strings",
            ),
            (
                {"os": "linux", "architecture": "amd64", "config": {"User": 1000}},
                "config User is 1000, expected a string",
            ),
        ],
    )
    def test_malformed(self, doc: object, message: str) -> None:
        """A config with the wrong types is refused, naming the field."""
        with pytest.raises(ManifestError) as caught:
            parse_config(json.dumps(doc))
        assert str(caught.value) == message
