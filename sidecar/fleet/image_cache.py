"""The image-config cache on disk: manifests and configs by digest, and the digest each tag last had.

Layout (under the cache directory, by default `~/.cache/node-heap-sidecar/images`), after the OCI
image layout's `blobs/<algorithm>/<hex>` (image-spec `image-layout.md`):
- `blobs/sha256/<hex>`: a manifest, an index or a config, byte for byte as the registry served it.
  Content addressed: a blob is written only when its bytes hash to its name and read back only when
  they still do, so an entry is never stale and a damaged one is a miss.
- `tags/<registry>/<repository>/<tag>.json`: `{"digest": ..., "seen": <UTC ISO time>}`, the digest a
  tag resolved to when last asked. A tag moves, so online lookups always ask the registry again (one
  HEAD); the record serves offline lookups only, which say when the tag was seen.
Every file goes through `sidecar.outputs.atomic.write_atomically`. A cache that cannot be written is
not an error: lookups go on without it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sidecar.errors import OutputError
from sidecar.outputs.atomic import write_atomically

_ALGORITHMS = frozenset({"sha256", "sha512"})


@dataclass(frozen=True, slots=True)
class TagRecord:
    digest: str
    seen: str  # UTC, ISO 8601 to the second


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    """`sha256:<hex>` of `data`."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def digest_matches(data: bytes, digest: str) -> bool:
    """Whether `data` hashes to `digest` (sha256 or sha512; any other algorithm never matches)."""
    algorithm, _, hex_part = digest.partition(":")
    return algorithm in _ALGORITHMS and digest_of(data, algorithm) == f"{algorithm}:{hex_part.lower()}"


class ImageCache:
    """Blobs by digest and tag records under `root` (created on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read_blob(self, digest: str) -> str | None:
        """The blob named `digest` as text, or None (absent, unreadable, or no longer matching its digest)."""
        path = self._blob_path(digest)
        if path is None:
            return None
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if not digest_matches(data, digest):
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def write_blob(self, digest: str, data: bytes) -> bool:
        """Keep `data` under `digest` when it hashes to it and is UTF-8 (manifests and configs are JSON)."""
        path = self._blob_path(digest)
        if path is None or not digest_matches(data, digest):
            return False
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return self._write(path, text)

    def read_tag(self, registry: str, repository: str, tag: str) -> TagRecord | None:
        try:
            doc = json.loads(self._tag_path(registry, repository, tag).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("digest"), str) or not isinstance(doc.get("seen"), str):
            return None
        return TagRecord(doc["digest"], doc["seen"])

    def write_tag(self, registry: str, repository: str, tag: str, digest: str, seen: datetime | None = None) -> bool:
        when = (seen or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = json.dumps({"digest": digest, "seen": when}) + "\n"
        return self._write(self._tag_path(registry, repository, tag), text)

    def _blob_path(self, digest: str) -> Path | None:
        algorithm, _, hex_part = digest.partition(":")
        if algorithm not in _ALGORITHMS or not hex_part or not all(c in "0123456789abcdef" for c in hex_part.lower()):
            return None
        return self.root / "blobs" / algorithm / hex_part.lower()

    def _tag_path(self, registry: str, repository: str, tag: str) -> Path:
        # Components come from sidecar.imageref.parse_image: no `..`, no empty parts, no `/` in a tag.
        return self.root / "tags" / registry / repository / f"{tag}.json"

    @staticmethod
    def _write(path: Path, text: str) -> bool:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, text)
        except (OSError, OutputError):
            return False
        return True
