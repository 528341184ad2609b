"""The image cache: blobs by digest, verified on the way in and out; the digest each tag last had."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from sidecar.fleet.image_cache import ImageCache, TagRecord, digest_matches, digest_of

CONFIG = b'{"architecture":"amd64","os":"linux","config":{"Cmd":["node"]}}'
# sha256 of CONFIG, from `printf '%s' '{"architecture":...}' | sha256sum`.
CONFIG_DIGEST = "sha256:9c73277d8b9223380e254adbbf73d44a470ea4d64226990cc69cab72ffc3a7e4"


class TestDigest:
    def test_known_value(self) -> None:
        """sha256 of the empty string is the well-known e3b0c442... value."""
        assert digest_of(b"") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    def test_matches(self) -> None:
        """Only the right bytes under a supported algorithm match; upper-case hex is read as lower."""
        assert digest_matches(b"", "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")
        assert not digest_matches(b"x", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        assert not digest_matches(b"", "md5:d41d8cd98f00b204e9800998ecf8427e")


class TestBlobs:
    def test_round_trip(self, tmp_path: Path) -> None:
        """A blob written under its digest reads back as text, stored at blobs/sha256/<hex>."""
        cache = ImageCache(tmp_path)
        assert digest_of(CONFIG) == CONFIG_DIGEST
        assert cache.write_blob(CONFIG_DIGEST, CONFIG) is True
        assert cache.read_blob(CONFIG_DIGEST) == CONFIG.decode()
        assert (tmp_path / "blobs" / "sha256" / CONFIG_DIGEST.split(":")[1]).read_bytes() == CONFIG

    def test_wrong_digest_refused(self, tmp_path: Path) -> None:
        """Bytes that do not hash to the name given are not written."""
        cache = ImageCache(tmp_path)
        assert cache.write_blob(CONFIG_DIGEST, CONFIG + b" ") is False
        assert not (tmp_path / "blobs").exists()

    def test_damaged_blob_is_a_miss(self, tmp_path: Path) -> None:
        """A blob changed on disk no longer matches its name and is not returned."""
        cache = ImageCache(tmp_path)
        cache.write_blob(CONFIG_DIGEST, CONFIG)
        (tmp_path / "blobs" / "sha256" / CONFIG_DIGEST.split(":")[1]).write_bytes(CONFIG.replace(b"node", b"deno"))
        assert cache.read_blob(CONFIG_DIGEST) is None

    def test_names_that_are_not_digests(self, tmp_path: Path) -> None:
        """A name that is not `algorithm:hex` never becomes a path (no `../`)."""
        cache = ImageCache(tmp_path)
        assert cache.read_blob("sha256:../../etc/passwd") is None
        assert cache.write_blob("sha256:../x", b"") is False
        assert cache.read_blob("latest") is None

    def test_unwritable_cache(self, tmp_path: Path) -> None:
        """A cache directory that cannot be written is no error: the write reports False."""
        (tmp_path / "ro").mkdir()
        os.chmod(tmp_path / "ro", 0o500)
        try:
            cache = ImageCache(tmp_path / "ro" / "cache")
            if os.geteuid() != 0:  # root writes anyway; a file in the way fails for root too
                assert cache.write_blob(CONFIG_DIGEST, CONFIG) is False
        finally:
            os.chmod(tmp_path / "ro", 0o700)
        (tmp_path / "file").write_text("")
        assert ImageCache(tmp_path / "file").write_blob(CONFIG_DIGEST, CONFIG) is False


class TestTags:
    def test_round_trip(self, tmp_path: Path) -> None:
        """A tag's digest and when it was seen, under tags/<registry>/<repository>/<tag>.json."""
        cache = ImageCache(tmp_path)
        seen = datetime(2026, 12, 7, 10, 30, 5, 123, tzinfo=UTC)
        assert cache.write_tag("127.0.0.1:5000", "team/app", "1.0", CONFIG_DIGEST, seen) is True
        assert cache.read_tag("127.0.0.1:5000", "team/app", "1.0") == TagRecord(CONFIG_DIGEST, "2026-12-07T10:30:05Z")
        assert (tmp_path / "tags" / "127.0.0.1:5000" / "team" / "app" / "1.0.json").read_text() == (
            '{"digest": "' + CONFIG_DIGEST + '", "seen": "2026-12-07T10:30:05Z"}\n'
        )

    def test_missing_and_malformed(self, tmp_path: Path) -> None:
        """No record, or one that is not the expected JSON, reads as None."""
        cache = ImageCache(tmp_path)
        assert cache.read_tag("docker.io", "library/node", "22") is None
        path = tmp_path / "tags" / "docker.io" / "library" / "node" / "22.json"
        path.parent.mkdir(parents=True)
        path.write_text('{"digest": 1}')
        assert cache.read_tag("docker.io", "library/node", "22") is None
