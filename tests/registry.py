"""A real OCI registry on 127.0.0.1 for boundary tests, images pushed into it by hand, and a token server.

`Registry` runs Debian's `docker-registry` (distribution 2.8, `/usr/bin/docker-registry serve CONFIG`,
installed by `make test-deps`) on a free 127.0.0.1 port with its storage in a temp dir, and stops it by
PID when the `with` block ends. Auth variants (distribution's `docs/configuration.md`, `auth`):
- `"none"`;
- `"htpasswd"`: Basic auth against bcrypt entries written from `users`;
- `"token"`: bearer tokens from `TokenServer`, an HTTPS server written here that checks `users` with
  Basic auth and issues ES256 JWTs whose header carries the signing certificate (`x5c`); the registry
  trusts it because that certificate is its `rootcertbundle` (distribution 2.8
  `registry/auth/token/token.go`: `iss`, `aud` as one string, `exp`/`nbf`, `access` claims). HTTPS because
  python-dxf always asks a token realm over HTTPS; the certificate (SAN 127.0.0.1) is the CA bundle.

Images are pushed through the distribution API itself (monolithic blob upload: POST then PUT with
`?digest=`; manifest PUT with its media type), built from literal configs by `image_config`; `push_image`
writes a Docker v2 or OCI manifest, `push_index` a Docker manifest list or OCI index.

The access log (gorilla's combined log on the registry's stdout) is the request count: `access_log()`, `reads()`.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import ipaddress
import json
import re
import shutil
import socket
import ssl
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import requests

from tests.strict import unavailable

REGISTRY_BIN = Path("/usr/bin/docker-registry")
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
TOKEN_SERVICE = "nhs-test-registry"
TOKEN_ISSUER = "nhs-test-token-server"
_ACCESS_LINE = re.compile(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP/[0-9.]+" (\d{3})')

Kind = Literal["docker", "oci"]


def free_port() -> int:
    """A 127.0.0.1 port nobody listens on right now (for a process that binds it itself)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_config(
    *,
    entrypoint: Sequence[str] | None = None,
    cmd: Sequence[str] | None = None,
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",),
    user: str = "",
    working_dir: str = "",
    labels: Mapping[str, str] | None = None,
    architecture: str = "amd64",
    variant: str | None = None,
    os: str = "linux",
) -> dict[str, Any]:
    """An image config as `docker build` writes one (image-spec `config.md`); "" is Docker's unset."""
    doc: dict[str, Any] = {
        "architecture": architecture,
        "os": os,
        "config": {
            "Env": list(env),
            "Entrypoint": list(entrypoint) if entrypoint is not None else None,
            "Cmd": list(cmd) if cmd is not None else None,
            "User": user,
            "WorkingDir": working_dir,
            "Labels": dict(labels) if labels is not None else None,
        },
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(_EMPTY_TAR)]},
        "history": [{"created_by": "tests/registry.py"}],
    }
    if variant:
        doc["variant"] = variant
    return doc


def _empty_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w"):
        pass
    return buffer.getvalue()


_EMPTY_TAR = _empty_tar()
_LAYER = gzip.compress(_EMPTY_TAR, mtime=0)


@dataclass(frozen=True, slots=True)
class Pushed:
    """What a push left at the registry: the manifest's (or index's) digest, and per platform the image
    manifest and config digests."""

    digest: str
    manifests: Mapping[str, str]  # platform -> image manifest digest
    configs: Mapping[str, str]  # platform -> config digest


class TokenServer:
    """An HTTPS token server on 127.0.0.1 (distribution's token auth spec, `docs/spec/auth/token.md`).

    `GET /token?service=&scope=repository:<name>:<actions>` with Basic auth of one of `users` -> `{"token":
    JWT}` granting the asked actions; without credentials a token granting `pull` on the `public`
    repositories only (as Docker Hub, ghcr.io and public.ecr.aws do); wrong credentials -> 401.
    """

    def __init__(self, users: Mapping[str, str], directory: Path, public: Collection[str] = ()) -> None:
        from cryptography import x509  # noqa: PLC0415 (tests only)
        from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
        from cryptography.x509.oid import NameOID  # noqa: PLC0415

        self.users = dict(users)
        self.public = frozenset(public)
        self.issued: list[str] = []  # the scope of every token issued
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TOKEN_ISSUER)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        self.cert_path = directory / "token-cert.pem"
        key_path = directory / "token-key.pem"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            self._key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        self._x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10

            def do_GET(self) -> None:
                owner._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = False
        self._server.block_on_close = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, key_path)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        self.realm = f"https://127.0.0.1:{self.port}/token"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()

    def token(self, access: Sequence[Mapping[str, Any]], subject: str = "") -> str:
        """A JWT the registry accepts, granting `access` (`[{"type","name","actions"}]`)."""
        import jwt  # noqa: PLC0415 (tests only)

        now = int(time.time())
        claims = {
            "iss": TOKEN_ISSUER,
            "sub": subject,
            "aud": TOKEN_SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": [dict(item) for item in access],
        }
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"x5c": [self._x5c]})

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(handler.path).query)
        scopes = [scope for value in query.get("scope", []) for scope in value.split()]
        self.issued.extend(scopes)
        header = handler.headers.get("Authorization", "")
        subject = ""
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.users.get(user) != password:
                self._send(handler, 401, {"details": "wrong user name or password"})
                return
            subject = user
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if subject:
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
            elif name in self.public and "pull" in actions.split(","):
                access.append({"type": kind, "name": name, "actions": ["pull"]})
        self._send(handler, 200, {"token": self.token(access, subject), "expires_in": 300})

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, doc: Any) -> None:
        body = json.dumps(doc).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


class Registry:
    """Debian's docker-registry on 127.0.0.1, storage in a temp dir, stopped by PID on exit."""

    def __init__(
        self,
        auth: Literal["none", "htpasswd", "token"] = "none",
        users: Mapping[str, str] | None = None,
        public: Collection[str] = (),
    ):
        if not REGISTRY_BIN.exists():
            unavailable(f"{REGISTRY_BIN} is missing (make test-deps installs Debian's docker-registry)")
        self.auth = auth
        self.users = dict(users or {})
        self._dir = Path(tempfile.mkdtemp(prefix="nhs-registry-"))
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.token_server: TokenServer | None = None
        self._manifest_bodies: dict[str, bytes] = {}
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy between the tests and 127.0.0.1
        config: dict[str, Any] = {
            "version": "0.1",
            "log": {"level": "warn", "formatter": "text", "accesslog": {"disabled": False}},
            "storage": {"filesystem": {"rootdirectory": str(self._dir / "storage")}},
            "http": {"addr": self.host, "secret": uuid.uuid4().hex},
        }
        if auth == "htpasswd":
            import bcrypt  # noqa: PLC0415 (tests only)

            lines = [
                f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}"
                for user, pw in self.users.items()
            ]
            (self._dir / "htpasswd").write_text("\n".join(lines) + "\n")
            config["auth"] = {"htpasswd": {"realm": "nhs-test", "path": str(self._dir / "htpasswd")}}
        elif auth == "token":
            self.token_server = TokenServer(self.users, self._dir, public)
            config["auth"] = {
                "token": {
                    "realm": self.token_server.realm,
                    "service": TOKEN_SERVICE,
                    "issuer": TOKEN_ISSUER,
                    "rootcertbundle": str(self.token_server.cert_path),
                }
            }
        config_path = self._dir / "config.yml"
        config_path.write_text(json.dumps(config, indent=1))  # JSON is YAML: no YAML writer needed
        self._log_path = self._dir / "registry.log"
        self._log = self._log_path.open("wb")
        self._process = subprocess.Popen(
            [str(REGISTRY_BIN), "serve", str(config_path)], stdout=self._log, stderr=subprocess.STDOUT
        )
        self._wait_ready()

    @property
    def pid(self) -> int:
        return self._process.pid

    def access_log(self) -> list[str]:
        """`METHOD /path STATUS` of every request the registry logged, in order."""
        text = self._log_path.read_text(errors="replace")
        return [f"{m[1]} {m[2]} {m[3]}" for m in _ACCESS_LINE.finditer(text)]

    def reads(self) -> list[str]:
        """The GET and HEAD requests under /v2/<name>/ (what a lookup costs)."""
        return [line for line in self.access_log() if line.split()[0] in ("GET", "HEAD") and line.split()[1] != "/v2/"]

    def push_blob(self, repository: str, data: bytes) -> str:
        digest = sha256_digest(data)
        started = self._call("POST", f"/v2/{repository}/blobs/uploads/", repository, expect=202)
        location = urllib.parse.urljoin(self.url, started.headers["Location"])
        separator = "&" if "?" in location else "?"
        self._call(
            "PUT",
            f"{location}{separator}digest={digest}",
            repository,
            expect=201,
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        return digest

    def push_manifest(self, repository: str, reference: str, doc: Mapping[str, Any], media_type: str) -> str:
        body = json.dumps(doc, indent=3).encode()
        self._call(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            repository,
            expect=201,
            data=body,
            headers={"Content-Type": media_type},
        )
        return sha256_digest(body)

    def push_image(self, repository: str, tag: str, config: Mapping[str, Any], kind: Kind = "oci") -> Pushed:
        """One image: its config and a layer as blobs, then a Docker v2 or OCI manifest tagged `tag`."""
        digest, config_digest = self._image_manifest(repository, tag, config, kind)
        platform = _platform_of(config)
        return Pushed(digest, {platform: digest}, {platform: config_digest})

    def push_index(self, repository: str, tag: str, configs: Sequence[Mapping[str, Any]], kind: Kind = "oci") -> Pushed:
        """A multi-platform image: one manifest per config, then an OCI index or Docker manifest list."""
        manifests: dict[str, str] = {}
        config_digests: dict[str, str] = {}
        entries = []
        manifest_type = OCI_MANIFEST if kind == "oci" else DOCKER_MANIFEST
        for config in configs:
            digest, config_digest = self._image_manifest(repository, None, config, kind)
            platform = {"architecture": config["architecture"], "os": config["os"]}
            if config.get("variant"):
                platform["variant"] = config["variant"]
            size = len(self._manifest_bodies[digest])
            entries.append({"mediaType": manifest_type, "digest": digest, "size": size, "platform": platform})
            manifests[_platform_of(config)] = digest
            config_digests[_platform_of(config)] = config_digest
        index_type = OCI_INDEX if kind == "oci" else DOCKER_LIST
        index = {"schemaVersion": 2, "mediaType": index_type, "manifests": entries}
        return Pushed(self.push_manifest(repository, tag, index, index_type), manifests, config_digests)

    def close(self) -> None:
        """Stop the registry by its PID, then the token server; remove the storage."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        self._log.close()
        if self.token_server is not None:
            self.token_server.close()
        self._session.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------------------

    def _image_manifest(
        self, repository: str, tag: str | None, config: Mapping[str, Any], kind: Kind
    ) -> tuple[str, str]:
        config_body = json.dumps(config).encode()
        config_digest = self.push_blob(repository, config_body)
        layer_digest = self.push_blob(repository, _LAYER)
        oci = kind == "oci"
        media_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
        doc = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                "digest": config_digest,
                "size": len(config_body),
            },
            "layers": [{"mediaType": OCI_LAYER if oci else DOCKER_LAYER, "digest": layer_digest, "size": len(_LAYER)}],
        }
        body = json.dumps(doc, indent=3).encode()
        digest = sha256_digest(body)
        self._manifest_bodies[digest] = body
        self.push_manifest(repository, tag or digest, doc, media_type)
        return digest, config_digest

    def _call(self, method: str, path: str, repository: str, *, expect: int, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else f"{self.url}{path}"
        headers = dict(kwargs.pop("headers", {}))
        headers.update(self._push_auth(repository))
        response = self._session.request(method, url, headers=headers, timeout=10, **kwargs)
        if response.status_code != expect:
            raise AssertionError(f"{method} {url}: HTTP {response.status_code} {response.text[:300]}")
        return response

    def _push_auth(self, repository: str) -> dict[str, str]:
        if self.auth == "htpasswd":
            user, password = next(iter(self.users.items()))
            return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
        if self.token_server is not None:
            access = [{"type": "repository", "name": repository, "actions": ["pull", "push"]}]
            return {"Authorization": "Bearer " + self.token_server.token(access, "pusher")}
        return {}

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                answer = self._session.get(f"{self.url}/v2/", timeout=1)
                if answer.status_code in (200, 401):
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.02)
        log = self._log_path.read_text(errors="replace")[-2000:]
        self.close()
        raise RuntimeError(f"docker-registry did not start on {self.host}: {log}")


def _platform_of(config: Mapping[str, Any]) -> str:
    text = f"{config['os']}/{config['architecture']}"
    return text + (f"/{config['variant']}" if config.get("variant") else "")


class StalledServer:
    """A 127.0.0.1 port that accepts connections (the kernel's backlog does) and never answers."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self.port = int(self._socket.getsockname()[1])
        self.host = f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
