"""Image facts, read from the image: what each image of a fleet runs (ENTRYPOINT, CMD, Env, User, ...).

Task definitions usually leave the program to the image, so adopt and audit ask the image itself.
`ImageReader.read(references)` looks every distinct reference up in parallel under one deadline and
returns an `ImageLookup` per reference: the facts, or a one-line note saying why there are none. It
never raises for a lookup that fails. Docker's rules for the argv a container ends up running are the
caller's business; this module only reports what the image says.

Sources, in order:
1. the local Docker daemon, when one answers at `docker_host` (Engine API `GET /images/{name}/json`:
   `Config`, `RepoDigests`, `Os`/`Architecture`/`Variant`): an image a CI job just built is there and
   nowhere else. An image there for another platform is passed over.
2. the cache (image_cache.py): manifests and configs by digest; a tag is resolved at the registry
   (one HEAD) unless `offline`, then whatever the cache holds is not fetched again.
3. the registry, over the OCI distribution API (opencontainers/distribution-spec `spec.md`:
   `HEAD|GET /v2/<name>/manifests/<reference>`, `GET /v2/<name>/blobs/<digest>`), Docker v2 and OCI
   manifests and indexes (image_config.py chooses the platform). Plain HTTP to registries on loopback
   (127.0.0.0/8, localhost, ::1), as Docker does; HTTPS everywhere else; `registry_urls` maps a registry
   host to another base URL (a mirror, a test registry).
   Credentials: Amazon ECR (`<account>.dkr.ecr.<region>.amazonaws.com`) through boto3's
   `ecr:GetAuthorizationToken` (standard credential chain, one call per region); otherwise
   `~/.docker/config.json` (`auths` entries, and `credsStore`/`credHelpers` helpers, through the docker
   SDK's `docker.auth`); otherwise anonymous, which Docker Hub, ghcr.io and public.ecr.aws answer with a
   bearer token for public images. Docker's identity tokens (OAuth refresh tokens) are not used.
`offline=True` reads the cache only (not the daemon either): nothing leaves the process.

An index gives the manifest of the reader's platform; a single-platform image is returned as it is, and
`ImageFacts.platform` says which platform that is (ECS would fail to start it elsewhere). A lookup still
running at the deadline is abandoned in its daemon thread (deadline.py) and keeps its concurrency slot:
read every image in one `read` call.

Libraries (the project's HTTP client is `requests`):
- `python-dxf` (davedoesdev/dxf, MIT, 12.1.1 of 2025-05; on requests) speaks the distribution API: the
  WWW-Authenticate challenge, Basic and bearer-token flows (realm, service, scope), redirects to blob
  storage (requests drops the registry's Authorization when redirected to another host), and checks a
  blob's digest. Each request takes a timeout and nothing retries or sleeps, so one deadline holds. Its
  limits, worked around here: it refuses credentials over plain HTTP (`insecure=True`), so loopback
  registries are reached by setting its base URL instead; it always asks a token realm over HTTPS (a token
  server with a private CA needs `ca_bundle`).
- `oras` (oras-py, Apache-2.0, active) was weighed and not taken: its requests have no timeout and every
  failure, a refused credential included, is retried five times with sleeps of 3 to 83 s, so a lookup
  could not keep a deadline.
- `docker` (docker-py, Apache-2.0, on requests) for the Engine API and for reading Docker's credential
  configuration. boto3 for ECR. All imported lazily: the init job never loads them.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sidecar.deadline import Background, Deadline
from sidecar.errors import SettingsError
from sidecar.fleet.image_cache import ImageCache, digest_matches, digest_of
from sidecar.fleet.image_config import (
    ImageConfig,
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
from sidecar.imageref import ImageRef, parse_image
from sidecar.text import first_line, shown

# What reading an ECR image's config takes (IAM actions): the token, the manifest, the config blob.
ECR_READ_ACTIONS = ("ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
DEFAULT_CACHE_DIR = Path("~/.cache/node-heap-sidecar/images")
DEFAULT_DOCKER_CONFIG = Path("~/.docker/config.json")
DOCKER_HUB_URL = "https://registry-1.docker.io"  # where `docker.io` images are served
# A manifest or config larger than this is not an image's (the distribution spec lets registries refuse
# manifests over 4 MiB); reading stops there.
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
_ECR_HOST = re.compile(r"^\d{12}\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
_DAEMON_TIMEOUT_S = 5.0
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """What an image's config says, and where it was read."""

    reference: str  # as given
    digest: str | None  # the image manifest the config came from (daemon: the repo digest, if it has one)
    entrypoint: tuple[str, ...] | None  # None: the image sets none
    cmd: tuple[str, ...] | None
    env: tuple[tuple[str, str], ...]  # in the image's order
    user: str | None
    working_dir: str | None
    labels: tuple[tuple[str, str], ...]  # sorted by name
    platform: str  # `linux/amd64`, `linux/arm64/v8`
    source: str  # one phrase: `docker daemon unix:///var/run/docker.sock`, `registry https://...`, `cache`

    def env_value(self, name: str) -> str | None:
        """The value the image gives `name` (the last one, as Docker keeps), or None."""
        found = None
        for key, value in self.env:
            if key == name:
                found = value
        return found


@dataclass(frozen=True, slots=True)
class ImageLookup:
    reference: str
    facts: ImageFacts | None
    note: str | None  # when facts is None: `<reference>: <why>`, one line


class _Failed(Exception):
    """A lookup that ends with a note; the message is the reason."""


class ImageReader:
    """Looks image references up; construct once per command run (it keeps credentials and connections).

    `cache_dir`, `docker_host`, `docker_config`: None turns that source off. `registry_urls`: registry host
    (as in the reference, `docker.io` for Docker Hub) -> base URL (`http://127.0.0.1:5000`). `ecr_endpoint_url`:
    the ECR API endpoint for GetAuthorizationToken. `ca_bundle`: PEM file that replaces the default CAs for
    HTTPS to registries and token servers. `concurrency`: lookups at once.
    """

    def __init__(
        self,
        *,
        offline: bool = False,
        platform: str = "linux/amd64",
        deadline_s: float = 20.0,
        cache_dir: Path | None = DEFAULT_CACHE_DIR,
        docker_host: str | None = DEFAULT_DOCKER_HOST,
        docker_config: Path | None = DEFAULT_DOCKER_CONFIG,
        registry_urls: Mapping[str, str] | None = None,
        ecr_endpoint_url: str | None = None,
        ca_bundle: Path | None = None,
        concurrency: int = 8,
    ) -> None:
        chosen = parse_platform(platform)
        problems = []
        if chosen is None:
            problems.append(f"platform={shown(platform)}: expected os/architecture[/variant] such as linux/amd64")
        if not deadline_s > 0:
            problems.append(f"deadline_s={shown(deadline_s)}: expected a number of seconds greater than 0")
        if concurrency < 1:
            problems.append(f"concurrency={shown(concurrency)}: expected at least 1")
        if problems:
            raise SettingsError(problems)
        assert chosen is not None
        self._platform: Platform = chosen
        self._offline = offline
        self._deadline_s = deadline_s
        self._cache = ImageCache(cache_dir.expanduser()) if cache_dir is not None else None
        self._docker_host = docker_host
        self._docker_config = docker_config.expanduser() if docker_config is not None else None
        self._registry_urls = {host: url.rstrip("/") for host, url in (registry_urls or {}).items()}
        self._ecr_endpoint_url = ecr_endpoint_url
        self._ca_bundle = ca_bundle
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self._daemon: Any = None
        self._daemon_tried = False
        self._docker_auth: Any = None
        self._ecr_tokens: dict[str, tuple[str, str]] = {}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **options: Any) -> ImageReader:
        """A reader with Docker's and XDG's variables honoured: DOCKER_HOST, DOCKER_CONFIG (a directory),
        XDG_CACHE_HOME. `options` win over them."""
        defaults: dict[str, Any] = {}
        if environ.get("DOCKER_HOST"):
            defaults["docker_host"] = environ["DOCKER_HOST"]
        if environ.get("DOCKER_CONFIG"):
            defaults["docker_config"] = Path(environ["DOCKER_CONFIG"]) / "config.json"
        if environ.get("XDG_CACHE_HOME"):
            defaults["cache_dir"] = Path(environ["XDG_CACHE_HOME"]) / "node-heap-sidecar" / "images"
        return cls(**{**defaults, **options})

    def read(self, references: Iterable[str]) -> dict[str, ImageLookup]:
        """Every distinct reference looked up in parallel within one deadline, in the order first given."""
        deadline = Deadline(self._deadline_s)
        unique = list(dict.fromkeys(references))
        lookups: dict[str, ImageLookup] = {}
        running: dict[str, Background[ImageLookup]] = {}
        running_refs: dict[str, ImageRef] = {}
        for reference in unique:
            parsed = parse_image(reference)
            if parsed is None:
                lookups[reference] = _note(
                    reference,
                    f"{shown(reference)}: not an image reference (empty, malformed or an unrendered template)",
                )
            else:
                running_refs[reference] = parsed
                running[reference] = Background(
                    functools.partial(self._lookup, reference, parsed, deadline), name="image-lookup"
                )
        for reference, work in running.items():
            outcome = work.wait(deadline)
            if not outcome.finished:
                lookups[reference] = _note(reference, f"{reference}: {self._no_answer(running_refs[reference])}")
            elif outcome.value is not None:
                lookups[reference] = outcome.value
            else:  # a bug, not a lookup failure: still a note, never an exception to the caller
                lookups[reference] = _note(reference, f"{reference}: {first_line(outcome.error or 'lookup failed')}")
        return {reference: lookups[reference] for reference in unique}

    # -- one reference ------------------------------------------------------------------------------

    def _lookup(self, reference: str, image: ImageRef, deadline: Deadline) -> ImageLookup:
        if not self._slots.acquire(timeout=deadline.remaining_with_grace()):
            return _note(reference, f"{reference}: {self._no_answer(image)}")
        try:
            if self._offline:
                return self._offline_lookup(reference, image)
            facts = self._from_daemon(reference, image, deadline) if self._docker_host else None
            if facts is None:
                facts = self._from_registry(reference, image, deadline)
            return ImageLookup(reference, facts, None)
        except (_Failed, ManifestError) as failure:
            return _note(reference, f"{reference}: {failure}")
        finally:
            self._slots.release()

    def _offline_lookup(self, reference: str, image: ImageRef) -> ImageLookup:
        if self._cache is None:
            return _note(reference, f"{reference}: offline, and no cache to read")
        source = "cache"
        digest = image.digest
        if digest is None:
            record = self._cache.read_tag(image.registry, image.repository, image.tag or "latest")
            if record is None:
                return _note(reference, f"{reference}: offline, and the tag is not in the cache")
            digest, source = record.digest, f"cache, tag as seen {record.seen}"
        facts = self._resolve(reference, digest, source, fetch=None)
        if facts is None:
            return _note(reference, f"{reference}: offline, and {digest} is not in the cache")
        return ImageLookup(reference, facts, None)

    # -- the Docker daemon ----------------------------------------------------------------------------

    def _from_daemon(self, reference: str, image: ImageRef, deadline: Deadline) -> ImageFacts | None:
        client = self._daemon_client(deadline)
        if client is None:
            return None
        import docker.errors  # noqa: PLC0415 (lazy: loaded with the client)

        try:
            inspected = client.inspect_image(reference)
            config = config_from(inspected, "Config")
        except (docker.errors.DockerException, ManifestError, OSError):
            return None  # not there (404) or unreadable: the registry may know it
        if not config.platform.matches(self._platform):
            return None
        digest = None
        for repo_digest in inspected.get("RepoDigests") or ():
            named = parse_image(repo_digest)
            if named and (named.registry, named.repository) == (image.registry, image.repository):
                digest = named.digest
                break
        return _facts(reference, digest, config, f"docker daemon {self._docker_host}")

    def _daemon_client(self, deadline: Deadline) -> Any:
        with self._lock:
            if self._daemon_tried:
                return self._daemon
            self._daemon_tried = True
            host = self._docker_host or ""
            if host.startswith("unix://") and not Path(host[len("unix://") :]).exists():
                return None  # no socket, no daemon: skip the import
            try:
                import docker  # noqa: PLC0415 (lazy: about 0.1 s)

                # version="auto" asks the daemon its API version: the reachability check, and no daemon is
                # refused for a client version it does not speak.
                self._daemon = docker.APIClient(base_url=host, version="auto", timeout=deadline.cap(_DAEMON_TIMEOUT_S))
            except Exception:  # unreachable, refused, not a daemon: the registry it is
                self._daemon = None
            return self._daemon

    # -- the registry (and the cache in front of it) --------------------------------------------------

    def _from_registry(self, reference: str, image: ImageRef, deadline: Deadline) -> ImageFacts:
        base_url = self._base_url(image)
        session = _RegistrySession(self, image, base_url, deadline)
        try:
            digest = image.digest
            if digest is None:
                digest = session.resolve_tag(image.tag or "latest")
                if self._cache is not None:
                    self._cache.write_tag(image.registry, image.repository, image.tag or "latest", digest)
            facts = self._resolve(reference, digest, "cache", fetch=session)
        except _Failed:
            raise
        except Exception as exc:
            raise _Failed(session.explain(exc)) from None
        assert facts is not None  # with a session, every miss is fetched
        return facts

    def _resolve(self, reference: str, digest: str, source: str, fetch: _RegistrySession | None) -> ImageFacts | None:
        """Manifest (index) -> manifest -> config by digest, from the cache or else `fetch`; None when the
        cache lacks a part and there is nothing to fetch it with."""
        text = self._document(digest, fetch, manifest=True)
        if text is None:
            return None
        manifest = parse_manifest(text[0], text[1])
        image_digest = digest
        if manifest.kind is ManifestKind.INDEX:
            entry = choose_manifest(manifest, self._platform)
            if entry is None:
                raise _Failed(f"no {self._platform} image in the index (it has {platforms_of(manifest)})")
            image_digest = entry.digest
            text = self._document(image_digest, fetch, manifest=True)
            if text is None:
                return None
            manifest = parse_manifest(text[0], text[1])
            if manifest.kind is not ManifestKind.IMAGE:
                raise _Failed(f"index entry {image_digest} is not an image manifest")
        assert manifest.config_digest is not None
        config_text = self._document(manifest.config_digest, fetch, manifest=False)
        if config_text is None:
            return None
        if fetch is not None:
            source = fetch.source
        return _facts(reference, image_digest, parse_config(config_text[0]), source)

    def _document(
        self, digest: str, fetch: _RegistrySession | None, *, manifest: bool
    ) -> tuple[str, str | None] | None:
        if self._cache is not None:
            cached = self._cache.read_blob(digest)
            if cached is not None:
                return cached, None
        if fetch is None:
            return None
        data, content_type = fetch.manifest(digest) if manifest else fetch.blob(digest)
        fetch.documents += 1
        if self._cache is not None:
            self._cache.write_blob(digest, data)
        try:
            return data.decode("utf-8"), content_type
        except UnicodeDecodeError:
            raise _Failed(f"{digest} is not UTF-8 JSON") from None

    def _no_answer(self, image: ImageRef) -> str:
        where = "the cache" if self._offline else self._base_url(image)
        return f"no answer from {where} within the {self._deadline_s:g} s deadline"

    def _base_url(self, image: ImageRef) -> str:
        if image.registry in self._registry_urls:
            return self._registry_urls[image.registry]
        if image.on_docker_hub:
            return DOCKER_HUB_URL
        return f"{'http' if image.loopback else 'https'}://{image.registry}"

    # -- credentials ----------------------------------------------------------------------------------

    def _credentials(self, registry: str, deadline: Deadline) -> tuple[tuple[str, str] | None, str]:
        """(user, password) for `registry` or None (anonymous), and where they came from (for messages)."""
        ecr = _ECR_HOST.match(registry)
        if ecr:
            return self._ecr_credentials(ecr["region"], deadline), "ecr:GetAuthorizationToken"
        if self._docker_config is None or not self._docker_config.is_file():
            return None, "no Docker config"
        return self._docker_credentials(registry), str(self._docker_config)

    def _ecr_credentials(self, region: str, deadline: Deadline) -> tuple[str, str]:
        with self._lock:
            if region in self._ecr_tokens:
                return self._ecr_tokens[region]
        try:
            import boto3  # noqa: PLC0415 (lazy: about 0.3 s)
            from botocore.config import Config  # noqa: PLC0415

            timeout = deadline.cap(5.0)
            client = boto3.session.Session(region_name=region).client(
                "ecr",
                endpoint_url=self._ecr_endpoint_url,
                config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2}),
            )
            token = client.get_authorization_token()["authorizationData"][0]["authorizationToken"]
            user, _, password = base64.b64decode(token).decode("utf-8").partition(":")
        except Exception as exc:
            raise _Failed(f"ECR credentials (ecr:GetAuthorizationToken in {region}): {first_line(exc)}") from None
        with self._lock:
            self._ecr_tokens[region] = (user, password)
        return user, password

    def _docker_credentials(self, registry: str) -> tuple[str, str] | None:
        try:
            with self._lock:
                if self._docker_auth is None:
                    from docker import auth  # noqa: PLC0415 (lazy)

                    # The document itself, not the path: docker.auth falls back to the user's own files
                    # when a given path is missing.
                    doc = json.loads(self._docker_config.read_text(encoding="utf-8"))  # type: ignore[union-attr]
                    self._docker_auth = auth.load_config(config_dict=doc)
                found = self._docker_auth.resolve_authconfig(registry)
        except Exception as exc:
            raise _Failed(f"credentials from {self._docker_config}: {first_line(exc)}") from None
        if not found:
            return None
        user = found.get("username") or found.get("Username")
        password = found.get("password") or found.get("Password")
        return (user, password) if user and password else None


class _RegistrySession:
    """One repository at one registry through python-dxf, made on first use (a cache hit makes none)."""

    def __init__(self, reader: ImageReader, image: ImageRef, base_url: str, deadline: Deadline) -> None:
        self._reader = reader
        self._image = image
        self._base_url = base_url
        self._deadline = deadline
        self._client: Any = None
        self.tag_checked = False
        self.documents = 0  # manifests and configs fetched (not found in the cache)
        self.credential_source: str | None = None  # set once credentials were sent

    @property
    def source(self) -> str:
        if self.documents:
            return f"registry {self._base_url}"
        return f"cache (tag checked at {self._base_url})" if self.tag_checked else "cache"

    def resolve_tag(self, tag: str) -> str:
        """The digest `tag` names now (HEAD: Docker Hub does not count it against pull limits)."""
        digest, response = self._dxf().head_manifest_and_response(tag)
        self.tag_checked = True
        if not digest:  # a registry that leaves the header out: the manifest's own hash
            data, _ = self.manifest(tag)
            return digest_of(data)
        del response
        return str(digest)

    def manifest(self, reference: str) -> tuple[bytes, str | None]:
        _, response = self._dxf().get_manifest_and_response(reference)
        data = response.content
        if len(data) > MAX_DOCUMENT_BYTES:
            raise _Failed(f"manifest {reference} is larger than {MAX_DOCUMENT_BYTES} bytes")
        if ":" in reference and not digest_matches(data, reference):
            raise _Failed(f"manifest {reference} does not match its digest")
        content_type = response.headers.get("Content-Type")
        return data, str(content_type) if content_type else None

    def blob(self, digest: str) -> tuple[bytes, None]:
        chunks, size = self._dxf().pull_blob(digest, size=True)
        if size > MAX_DOCUMENT_BYTES:
            raise _Failed(f"config {digest} is {size} bytes, more than an image config")
        return b"".join(chunks), None  # dxf checks the digest as the last chunk arrives

    def explain(self, exc: BaseException) -> str:
        """Why a lookup failed, in one line naming the registry."""
        import requests  # noqa: PLC0415
        from dxf import exceptions as dxf_errors  # noqa: PLC0415

        where = self._base_url
        what = f"{self._image.repository}:{self._image.reference}" if not self._image.digest else str(self._image)
        if isinstance(exc, dxf_errors.DXFUnauthorizedError):
            if self.credential_source:
                return f"{where} refused the credentials from {self.credential_source} (HTTP 401)"
            return f"{where} needs credentials for {what} (HTTP 401; or there is no such image), none found"
        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            status = exc.response.status_code
            url = exc.response.url or where
            if status == 404 and "/manifests/" in url:
                return f"{where} has no such image: {what} (HTTP 404)"
            if status == 403:
                return f"{where} denied access to {self._image.repository} (HTTP 403)"
            return f"HTTP {status} from {url}"
        if isinstance(exc, requests.Timeout):
            return self._reader._no_answer(self._image)
        if isinstance(exc, requests.exceptions.SSLError):
            return f"TLS with {where} failed: {first_line(exc)}"
        if isinstance(exc, requests.ConnectionError):
            return f"cannot connect to {where}: {_reason(exc)}"
        if isinstance(exc, dxf_errors.DXFDigestMismatchError):
            return f"a blob from {where} does not match its digest"
        if isinstance(exc, ManifestError):
            return f"{where}: {exc}"
        return f"{where}: {type(exc).__name__}: {first_line(exc)}"

    def _dxf(self) -> Any:
        if self._client is None:
            from dxf import DXF  # noqa: PLC0415 (lazy: requests and dxf cost about 0.15 s)

            parts = urlsplit(self._base_url)
            client = DXF(
                parts.netloc,
                self._image.repository,
                auth=self._authenticate,
                tlsverify=str(self._reader._ca_bundle) if self._reader._ca_bundle else True,
                timeout=self._deadline.cap(self._reader._deadline_s),
            )
            # dxf builds https://host/v2/ and, when told `insecure`, refuses to send credentials; Docker
            # sends them to a loopback registry over HTTP, so the base URL is set here instead.
            client._base_url = f"{self._base_url}/v2/"
            self._client = client
        self._client._timeout = self._deadline.cap(self._reader._deadline_s)  # each request: what is left
        return self._client

    def _authenticate(self, client: Any, response: Any) -> None:
        """dxf's hook on a 401: answer the challenge with the registry's credentials, or anonymously."""
        found, source = self._reader._credentials(self._image.registry, self._deadline)
        user, password = found if found else (None, None)
        if found:
            self.credential_source = source
        client._timeout = self._deadline.cap(self._reader._deadline_s)
        client.authenticate(user, password, response=response, actions=["pull"])


def _facts(reference: str, digest: str | None, config: ImageConfig, source: str) -> ImageFacts:
    return ImageFacts(
        reference=reference,
        digest=digest,
        entrypoint=config.entrypoint,
        cmd=config.cmd,
        env=config.env,
        user=config.user,
        working_dir=config.working_dir,
        labels=config.labels,
        platform=str(config.platform),
        source=source,
    )


def _note(reference: str, note: str) -> ImageLookup:
    return ImageLookup(reference, None, first_line(note))


def _reason(exc: BaseException) -> str:
    """The innermost cause of a connection error (`Connection refused`), not urllib3's nesting."""
    found = _ERRNO.search(str(exc))
    return found[1].strip() if found else first_line(exc)
