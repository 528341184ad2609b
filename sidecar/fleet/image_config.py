"""Image manifests and configs as JSON text: which manifest of an index serves a platform, what a config says.

Format references: the OCI image spec (`image-index.md`, `manifest.md`, `config.md`, media types in
`media-types.md`) and Docker's Image Manifest V2 Schema 2 (`application/vnd.docker.distribution.manifest.v2+json`
and `.list.v2+json`, config `application/vnd.docker.container.image.v1+json`), which the OCI types mirror
field for field. A config's program and environment are under `config` (`Entrypoint`, `Cmd`, `Env` as
`NAME=value` strings, `User`, `WorkingDir`, `Labels`); the platform is top level (`os`, `architecture`,
`variant`). The Docker Engine API's image inspect (`Config`, `Os`, `Architecture`, `Variant`) carries the
same fields.

Platforms are compared as containerd's `platforms.Normalize` does: `aarch64` is `arm64`, `x86_64` is
`amd64`, and a missing variant is the architecture's default (`arm64` -> `v8`, `arm` -> `v7`, `amd64` ->
`v1`), so `linux/arm64` and `linux/arm64/v8` are one platform. Pure.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sidecar.text import shown

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
IMAGE_MEDIA_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEX_MEDIA_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "i386": "386",
    "armhf": "arm",
    "armel": "arm",
}
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7", "amd64": "v1"}
_PLATFORM = re.compile(r"^([a-z0-9_]+)/([a-z0-9_-]+)(?:/([a-z0-9]+))?$")


class ManifestError(ValueError):
    """A manifest or config that is not what the specs describe; the message is one line."""


class ManifestKind(enum.Enum):
    IMAGE = "image"  # names one config
    INDEX = "index"  # names one image manifest per platform


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def normalized(self) -> Platform:
        """Architecture aliases resolved and the default variant made explicit."""
        architecture = _ARCH_ALIASES.get(self.architecture, self.architecture)
        variant = self.variant or None
        if self.architecture == "armel" and not variant:
            variant = "v6"
        return Platform(self.os, architecture, variant or _DEFAULT_VARIANT.get(architecture))

    def matches(self, other: Platform) -> bool:
        return self.normalized() == other.normalized()

    def __str__(self) -> str:
        return f"{self.os}/{self.architecture}" + (f"/{self.variant}" if self.variant else "")


def parse_platform(text: str) -> Platform | None:
    """`linux/amd64`, `linux/arm64/v8` -> a Platform; None when the text is not `os/architecture[/variant]`."""
    match = _PLATFORM.match(text.strip()) if isinstance(text, str) else None
    return Platform(match[1], match[2], match[3]) if match else None


@dataclass(frozen=True, slots=True)
class IndexEntry:
    digest: str
    platform: Platform | None  # None: the entry names no platform (an attestation or an artifact)


@dataclass(frozen=True, slots=True)
class Manifest:
    kind: ManifestKind
    media_type: str
    config_digest: str | None = None  # IMAGE only
    entries: tuple[IndexEntry, ...] = ()  # INDEX only


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """What an image's config says it runs (None: the image sets none)."""

    entrypoint: tuple[str, ...] | None
    cmd: tuple[str, ...] | None
    env: tuple[tuple[str, str], ...]
    user: str | None
    working_dir: str | None
    labels: tuple[tuple[str, str], ...]
    platform: Platform


def parse_manifest(text: str, content_type: str | None = None) -> Manifest:
    """A manifest or an index; `content_type` (the registry's header) stands in for a missing `mediaType`."""
    doc = _json_object(text, "manifest")
    media_type = doc.get("mediaType") or _base_type(content_type)
    if not media_type:  # OCI allows both to be absent: the shape says which it is
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if media_type in DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
        raise ManifestError("a Docker schema 1 manifest (deprecated since 2017): not read")
    if media_type in IMAGE_MEDIA_TYPES:
        config = doc.get("config")
        digest = config.get("digest") if isinstance(config, Mapping) else None
        if not isinstance(digest, str) or ":" not in digest:
            raise ManifestError(f"manifest has no config digest (config: {shown(config)})")
        return Manifest(ManifestKind.IMAGE, media_type, config_digest=digest)
    if media_type in INDEX_MEDIA_TYPES:
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise ManifestError(f"index has no manifests list (manifests: {shown(entries)})")
        return Manifest(ManifestKind.INDEX, media_type, entries=tuple(_index_entry(entry) for entry in entries))
    raise ManifestError(f"media type {shown(media_type)} is not an image manifest or index")


def choose_manifest(index: Manifest, platform: Platform) -> IndexEntry | None:
    """The index's first entry for `platform`, or None when it has none."""
    for entry in index.entries:
        if entry.platform is not None and entry.platform.matches(platform):
            return entry
    return None


def platforms_of(index: Manifest) -> str:
    """The platforms an index offers, for a message: `linux/amd64, linux/arm64/v8`."""
    named = [str(entry.platform) for entry in index.entries if entry.platform and entry.platform.os != "unknown"]
    return ", ".join(dict.fromkeys(named)) or "none"


def parse_config(text: str) -> ImageConfig:
    """An image config blob (OCI `config.md` / Docker image JSON)."""
    return config_from(_json_object(text, "config"), "config")


def config_from(doc: Mapping[str, Any], key: str) -> ImageConfig:
    """The fields of `doc[key]` (`config` in a config blob, `Config` in the Engine API's image inspect) and
    the platform (`os`/`architecture`/`variant`, capitalised in the Engine API)."""
    section = doc.get(key)
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise ManifestError(f"{key} is {shown(section)}, expected an object")
    os_name = doc.get("os", doc.get("Os"))
    architecture = doc.get("architecture", doc.get("Architecture"))
    variant = doc.get("variant", doc.get("Variant"))
    if not isinstance(os_name, str) or not isinstance(architecture, str):
        raise ManifestError(f"config names no platform (os {shown(os_name)}, architecture {shown(architecture)})")
    return ImageConfig(
        entrypoint=_argv(section, "Entrypoint"),
        cmd=_argv(section, "Cmd"),
        env=_env(section.get("Env")),
        user=_text(section, "User"),
        working_dir=_text(section, "WorkingDir"),
        labels=_labels(section.get("Labels")),
        platform=Platform(os_name, architecture, variant if isinstance(variant, str) and variant else None),
    )


def _json_object(text: str, what: str) -> Mapping[str, Any]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ManifestError(f"{what} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestError(f"{what} is {shown(doc)}, expected a JSON object")
    return doc


def _base_type(content_type: str | None) -> str | None:
    return content_type.split(";", 1)[0].strip() if content_type else None


def _index_entry(entry: Any) -> IndexEntry:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("digest"), str):
        raise ManifestError(f"index entry {shown(entry)} has no digest")
    raw = entry.get("platform")
    platform = None
    if isinstance(raw, Mapping) and isinstance(raw.get("os"), str) and isinstance(raw.get("architecture"), str):
        variant = raw.get("variant")
        platform = Platform(raw["os"], raw["architecture"], variant if isinstance(variant, str) and variant else None)
    return IndexEntry(entry["digest"], platform)


def _argv(section: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ManifestError(f"config {key} is {shown(value)}, expected a list of strings")
    return tuple(value)


def _text(section: Mapping[str, Any], key: str) -> str | None:
    value = section.get(key)
    if value is None or value == "":
        return None  # Docker writes "" for unset User and WorkingDir
    if not isinstance(value, str):
        raise ManifestError(f"config {key} is {shown(value)}, expected a string")
    return value


def _env(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ManifestError(f"config Env is {shown(value)}, expected a list of NAME=value strings")
    pairs = []
    for item in value:
        name, _, text = item.partition("=")
        pairs.append((name, text))
    return tuple(pairs)


def _labels(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ManifestError(f"config Labels is {shown(value)}, expected an object of strings")
    return tuple(sorted((str(k), v) for k, v in value.items()))
