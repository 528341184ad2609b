"""Image references: the one parser for `[registry/]path/name[:tag][@digest]`, used by every rule that
looks at an image (the footprint catalogue, the Node version an image names, recognition, adopt's
wrapping, the image-config reader).

Grammar: Docker's reference grammar (distribution/reference `reference.go`, `normalize.go`): the first
path component is a registry when it has a `.` or a `:` or is `localhost`; without one the image is on
Docker Hub (`docker.io`), and a one-component Docker Hub path is under `library/` (`node` is
`docker.io/library/node`). A tag is `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; a digest `algorithm:hex`.
A value that is not a reference (empty, an unrendered template such as `${image}`) parses to None.
Pure.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")
_REGISTRY = re.compile(r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A parsed image reference; `registry` and `repository` are normalised (Docker Hub made explicit)."""

    registry: str  # `docker.io`, `public.ecr.aws`, `123456789012.dkr.ecr.eu-west-1.amazonaws.com`, `127.0.0.1:5000`
    repository: str  # `library/node`, `docker/library/node`, `myapp`
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """The repository's last component (`node`, `nodejs22-debian12`, `myapp`)."""
        return self.repository.rsplit("/", 1)[-1]

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.repository.split("/"))

    @property
    def reference(self) -> str:
        """What a registry is asked for: the digest when there is one, else the tag (default `latest`)."""
        return self.digest or self.tag or "latest"

    @property
    def on_docker_hub(self) -> bool:
        return self.registry == DOCKER_HUB

    @property
    def loopback(self) -> bool:
        """A registry on this machine (`localhost`, 127.0.0.0/8, ::1): Docker talks plain HTTP to it."""
        host = self.registry.rsplit(":", 1)[0] if not self.registry.endswith("]") else self.registry
        host = host.strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image(text: str | None) -> ImageRef | None:
    """`text` as an image reference, or None when it is not one (empty, a template, malformed)."""
    if not isinstance(text, str):
        return None
    value = text.strip()
    if not value or len(value) > 1024:
        return None
    remainder, _, digest = value.partition("@")
    if digest and not _DIGEST.match(digest):
        return None
    tag: str | None = None
    last_slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    if colon > last_slash:  # a colon after the last slash separates the tag (one before it is a port)
        remainder, tag = remainder[:colon], remainder[colon + 1 :]
        if not _TAG.match(tag):
            return None
    parts = remainder.split("/")
    registry = DOCKER_HUB
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry = parts[0]
        parts = parts[1:]
        if not _REGISTRY.match(registry):
            return None
    parts = [part.lower() for part in parts]  # Docker refuses upper case; read leniently
    if not parts or not all(_COMPONENT.match(part) for part in parts):
        return None
    if registry.lower() in _DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if len(parts) == 1:
            parts = ["library", *parts]
    return ImageRef(registry, "/".join(parts), tag, digest or None)
