"""Image facts read from real registries on 127.0.0.1 (Debian's docker-registry, tests/registry.py), from
moto's ECR for credentials, from the cache, and from a Docker daemon where one runs."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sidecar.errors import SettingsError
from sidecar.fleet.images import ImageFacts, ImageLookup, ImageReader
from tests.registry import Pushed, Registry, StalledServer, image_config
from tests.servers import MotoServer
from tests.strict import unavailable

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PATH_PAIR = ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
USERS = {"ci": "s3cret-pull"}
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")

# The images of the fleet, as their Dockerfiles would make them.
APP_ENTRY = image_config(
    entrypoint=["node", "app.js"], working_dir="/app", user="node", labels={"org.opencontainers.image.title": "app"}
)
DISTROLESS = image_config(
    entrypoint=["/nodejs/bin/node"],
    env=[PATH, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
    user="65532",
    working_dir="/home/nonroot",
)
OFFICIAL_NODE = image_config(
    entrypoint=["docker-entrypoint.sh"], cmd=["node"], env=[PATH, "NODE_VERSION=22.20.0", "YARN_VERSION=1.22.22"]
)
NODE_OPTIONS = image_config(cmd=["node", "server.js"], env=[PATH, "NODE_OPTIONS=--max-old-space-size=1536"])
MULTI_AMD64 = image_config(cmd=["node", "amd64.js"])
MULTI_ARM64 = image_config(cmd=["node", "arm64.js"], architecture="arm64", variant="v8")


@dataclass(frozen=True, slots=True)
class Fleet:
    registry: Registry
    pushed: dict[str, Pushed]  # repository:tag -> what the push left

    def ref(self, name: str) -> str:
        return f"{self.registry.host}/{name}"


def push_fleet(registry: Registry) -> dict[str, Pushed]:
    return {
        "app/entry:1": registry.push_image("app/entry", "1", APP_ENTRY, kind="docker"),
        "distroless/nodejs22:nonroot": registry.push_image("distroless/nodejs22", "nonroot", DISTROLESS, kind="oci"),
        "library/node:22-slim": registry.push_image("library/node", "22-slim", OFFICIAL_NODE, kind="docker"),
        "team/api:opts": registry.push_image("team/api", "opts", NODE_OPTIONS, kind="oci"),
        "team/multi:2": registry.push_index("team/multi", "2", [MULTI_AMD64, MULTI_ARM64], kind="oci"),
        "team/multi-docker:2": registry.push_index("team/multi-docker", "2", [MULTI_AMD64, MULTI_ARM64], kind="docker"),
    }


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    """One registry without auth, the fleet's images pushed once for the module."""
    with Registry("none") as registry:
        yield Fleet(registry, push_fleet(registry))


@pytest.fixture(scope="module")
def basic() -> Iterator[Fleet]:
    """A registry with htpasswd (bcrypt) Basic auth for USERS."""
    with Registry("htpasswd", USERS) as registry:
        yield Fleet(registry, {"app/entry:1": registry.push_image("app/entry", "1", APP_ENTRY, kind="docker")})


@pytest.fixture(scope="module")
def token() -> Iterator[Fleet]:
    """A registry with token auth: a token server over HTTPS, JWTs signed by the registry's root certificate."""
    with Registry("token", USERS, public=["library/node"]) as registry:
        yield Fleet(
            registry,
            {
                "app/entry:1": registry.push_image("app/entry", "1", APP_ENTRY, kind="docker"),
                "library/node:22-slim": registry.push_image("library/node", "22-slim", OFFICIAL_NODE, kind="oci"),
            },
        )


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests honours proxy variables; the registries are on 127.0.0.1."""
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


def reader(tmp_path: Path, **options: Any) -> ImageReader:
    """A reader that never asks a Docker daemon and has its own cache and no Docker config unless given."""
    settings: dict[str, Any] = {
        "docker_host": None,
        "docker_config": tmp_path / "no-docker-config.json",
        "cache_dir": tmp_path / "cache",
    }
    settings.update(options)
    return ImageReader(**settings)


def docker_config(tmp_path: Path, host: str, user: str, password: str) -> Path:
    """A ~/.docker/config.json with one `auths` entry, as `docker login` writes it."""
    path = tmp_path / "docker-config.json"
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return path


def one(lookups: dict[str, ImageLookup], reference: str) -> ImageLookup:
    assert list(lookups) == [reference]
    return lookups[reference]


class TestManifestKinds:
    def test_docker_v2_manifest(self, fleet: Fleet, tmp_path: Path) -> None:
        """A Docker v2 manifest whose ENTRYPOINT is the program: every field of its config."""
        reference = fleet.ref("app/entry:1")
        assert one(reader(tmp_path).read([reference]), reference) == ImageLookup(
            reference,
            ImageFacts(
                reference=reference,
                digest=fleet.pushed["app/entry:1"].digest,
                entrypoint=("node", "app.js"),
                cmd=None,
                env=(PATH_PAIR,),
                user="node",
                working_dir="/app",
                labels=(("org.opencontainers.image.title", "app"),),
                platform="linux/amd64",
                source=f"registry {fleet.registry.url}",
            ),
            None,
        )

    def test_oci_manifest_distroless(self, fleet: Fleet, tmp_path: Path) -> None:
        """An OCI manifest shaped like distroless nodejs: node as ENTRYPOINT, no CMD, no shell on PATH."""
        reference = fleet.ref("distroless/nodejs22:nonroot")
        facts = one(reader(tmp_path).read([reference]), reference).facts
        assert facts == ImageFacts(
            reference=reference,
            digest=fleet.pushed["distroless/nodejs22:nonroot"].digest,
            entrypoint=("/nodejs/bin/node",),
            cmd=None,
            env=(PATH_PAIR, ("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")),
            user="65532",
            working_dir="/home/nonroot",
            labels=(),
            platform="linux/amd64",
            source=f"registry {fleet.registry.url}",
        )

    def test_official_node_shape(self, fleet: Fleet, tmp_path: Path) -> None:
        """The official node image: docker-entrypoint.sh with CMD node, and NODE_VERSION in Env."""
        reference = fleet.ref("library/node:22-slim")
        facts = one(reader(tmp_path).read([reference]), reference).facts
        assert facts is not None
        assert (facts.entrypoint, facts.cmd, facts.user, facts.working_dir) == (
            ("docker-entrypoint.sh",),
            ("node",),
            None,
            None,
        )
        assert (facts.env_value("NODE_VERSION"), facts.env_value("YARN_VERSION"), facts.env_value("NODE_OPTIONS")) == (
            "22.20.0",
            "1.22.22",
            None,
        )

    def test_node_options_in_env(self, fleet: Fleet, tmp_path: Path) -> None:
        """An image that sets NODE_OPTIONS in its Env says so."""
        reference = fleet.ref("team/api:opts")
        facts = one(reader(tmp_path).read([reference]), reference).facts
        assert facts is not None
        assert (facts.cmd, facts.env_value("NODE_OPTIONS")) == (("node", "server.js"), "--max-old-space-size=1536")

    @pytest.mark.parametrize("repository", ["team/multi", "team/multi-docker"])
    @pytest.mark.parametrize(
        ("platform", "expected"),
        [
            ("linux/amd64", (("node", "amd64.js"), "linux/amd64")),
            ("linux/arm64/v8", (("node", "arm64.js"), "linux/arm64/v8")),
            ("linux/arm64", (("node", "arm64.js"), "linux/arm64/v8")),
        ],
    )
    def test_index_platforms(
        self, fleet: Fleet, tmp_path: Path, repository: str, platform: str, expected: tuple[tuple[str, ...], str]
    ) -> None:
        """An OCI index or Docker manifest list gives the config of the platform asked for."""
        reference = fleet.ref(f"{repository}:2")
        facts = one(reader(tmp_path, platform=platform).read([reference]), reference).facts
        assert facts is not None
        pushed = fleet.pushed[f"{repository}:2"]
        assert (facts.cmd, facts.platform) == expected
        assert facts.digest == pushed.manifests[expected[1]]

    def test_index_without_the_platform(self, fleet: Fleet, tmp_path: Path) -> None:
        """An index with no manifest for the platform is a note listing what it has."""
        reference = fleet.ref("team/multi:2")
        assert one(reader(tmp_path, platform="linux/s390x").read([reference]), reference) == ImageLookup(
            reference, None, f"{reference}: no linux/s390x image in the index (it has linux/amd64, linux/arm64/v8)"
        )

    def test_by_digest(self, fleet: Fleet, tmp_path: Path) -> None:
        """A reference by the index's digest reads the same image (the tag beside it is not asked)."""
        pushed = fleet.pushed["team/multi:2"]
        reference = fleet.ref(f"team/multi:ignored@{pushed.digest}")
        facts = one(reader(tmp_path).read([reference]), reference).facts
        assert facts is not None
        assert (facts.cmd, facts.digest) == (("node", "amd64.js"), pushed.manifests["linux/amd64"])

    def test_localhost_is_plain_http(self, fleet: Fleet, tmp_path: Path) -> None:
        """`localhost:<port>` is loopback too: plain HTTP, as Docker does."""
        reference = f"localhost:{fleet.registry.port}/app/entry:1"
        facts = one(reader(tmp_path).read([reference]), reference).facts
        assert facts is not None
        assert (facts.entrypoint, facts.source) == (
            ("node", "app.js"),
            f"registry http://localhost:{fleet.registry.port}",
        )

    def test_many_at_once(self, fleet: Fleet, tmp_path: Path) -> None:
        """Several references, one repeated and one a template: one lookup each, in the order given."""
        references = [fleet.ref("app/entry:1"), "${image}", fleet.ref("team/api:opts"), fleet.ref("app/entry:1"), ""]
        before = len(fleet.registry.reads())
        lookups = reader(tmp_path).read(references)
        assert list(lookups) == [fleet.ref("app/entry:1"), "${image}", fleet.ref("team/api:opts"), ""]
        assert [lookup.facts is not None for lookup in lookups.values()] == [True, False, True, False]
        assert [lookup.note for lookup in lookups.values()][1::2] == [
            "'${image}': not an image reference (empty, malformed or an unrendered template)",
            "'': not an image reference (empty, malformed or an unrendered template)",
        ]
        heads = [line for line in fleet.registry.reads()[before:] if line.startswith("HEAD")]
        assert sorted(heads) == [
            "HEAD /v2/app/entry/manifests/1 200",
            "HEAD /v2/team/api/manifests/opts 200",
        ]


class TestFailures:
    def test_unknown_repository(self, fleet: Fleet, tmp_path: Path) -> None:
        """A repository the registry does not have is a note naming it."""
        reference = fleet.ref("team/nope:1")
        assert one(reader(tmp_path).read([reference]), reference).note == (
            f"{reference}: {fleet.registry.url} has no such image: team/nope:1 (HTTP 404)"
        )

    def test_unknown_tag(self, fleet: Fleet, tmp_path: Path) -> None:
        """A tag the repository does not have is a note naming it."""
        reference = fleet.ref("app/entry:2")
        assert one(reader(tmp_path).read([reference]), reference).note == (
            f"{reference}: {fleet.registry.url} has no such image: app/entry:2 (HTTP 404)"
        )

    def test_unknown_digest(self, fleet: Fleet, tmp_path: Path) -> None:
        """A digest the repository does not have is a note naming it."""
        reference = fleet.ref("app/entry@sha256:" + "0" * 64)
        assert one(reader(tmp_path).read([reference]), reference).note == (
            f"{reference}: {fleet.registry.url} has no such image: {reference} (HTTP 404)"
        )

    def test_refused_connection(self, refused_port: int, tmp_path: Path) -> None:
        """A registry that is not there is a note saying the connection was refused."""
        reference = f"127.0.0.1:{refused_port}/app:1"
        assert one(reader(tmp_path).read([reference]), reference).note == (
            f"{reference}: cannot connect to http://127.0.0.1:{refused_port}: Connection refused"
        )

    def test_stalled_registry(self, fleet: Fleet, tmp_path: Path) -> None:
        """A registry that accepts and never answers costs the deadline, not more; the others still answer."""
        with StalledServer() as stalled:
            references = [f"{stalled.host}/app:{n}" for n in range(3)] + [fleet.ref("app/entry:1")]
            started = time.monotonic()
            lookups = reader(tmp_path, deadline_s=1.0).read(references)
            elapsed = time.monotonic() - started
        assert [lookups[r].note for r in references[:3]] == [
            f"{r}: no answer from http://{stalled.host} within the 1 s deadline" for r in references[:3]
        ]
        assert lookups[references[3]].facts is not None
        assert 0.9 <= elapsed < 1.0 + 0.2 + 0.3  # the deadline, its grace, and scheduling

    def test_registry_url_override(self, fleet: Fleet, tmp_path: Path) -> None:
        """`registry_urls` sends a registry host elsewhere: a name that does not resolve reaches the local registry."""
        reference = "registry.invalid/library/node:22-slim"
        lookups = reader(tmp_path, registry_urls={"registry.invalid": fleet.registry.url}).read([reference])
        facts = one(lookups, reference).facts
        assert facts is not None
        assert (facts.entrypoint, facts.source) == (("docker-entrypoint.sh",), f"registry {fleet.registry.url}")

    def test_bad_settings(self) -> None:
        """Impossible settings are refused at construction, every one at once."""
        with pytest.raises(SettingsError) as caught:
            ImageReader(platform="amd64", deadline_s=0, concurrency=0)
        assert str(caught.value) == (
            "platform='amd64': expected os/architecture[/variant] such as linux/amd64; "
            "deadline_s=0: expected a number of seconds greater than 0; concurrency=0: expected at least 1"
        )


class TestCredentials:
    def test_basic_auth_from_docker_config(self, basic: Fleet, tmp_path: Path) -> None:
        """An `auths` entry of ~/.docker/config.json answers htpasswd Basic auth."""
        reference = basic.ref("app/entry:1")
        config = docker_config(tmp_path, basic.registry.host, "ci", USERS["ci"])
        facts = one(reader(tmp_path, docker_config=config).read([reference]), reference).facts
        assert facts is not None
        assert facts.entrypoint == ("node", "app.js")

    def test_wrong_password(self, basic: Fleet, tmp_path: Path) -> None:
        """Credentials the registry refuses are a note naming where they came from."""
        reference = basic.ref("app/entry:1")
        config = docker_config(tmp_path, basic.registry.host, "ci", "wrong")
        assert one(reader(tmp_path, docker_config=config).read([reference]), reference).note == (
            f"{reference}: {basic.registry.url} refused the credentials from {config} (HTTP 401)"
        )

    def test_no_credentials(self, basic: Fleet, tmp_path: Path) -> None:
        """A registry that wants credentials, with none configured, is a note saying so."""
        reference = basic.ref("app/entry:1")
        assert one(reader(tmp_path).read([reference]), reference).note == (
            f"{reference}: {basic.registry.url} needs credentials for app/entry:1 "
            "(HTTP 401; or there is no such image), none found"
        )

    def test_credential_helper(self, basic: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A `credHelpers` entry runs `docker-credential-<name> get` (a real program on PATH) for the login."""
        helpers = tmp_path / "bin"
        helpers.mkdir()
        helper = helpers / "docker-credential-nhstest"
        answer = json.dumps({"ServerURL": basic.registry.host, "Username": "ci", "Secret": USERS["ci"]})
        helper.write_text(f"#!/bin/sh\nread server\necho '{answer}'\n")
        helper.chmod(0o755)
        monkeypatch.setenv("PATH", f"{helpers}:{os.environ['PATH']}")
        config = tmp_path / "docker-config.json"
        config.write_text(json.dumps({"credHelpers": {basic.registry.host: "nhstest"}}))
        reference = basic.ref("app/entry:1")
        facts = one(reader(tmp_path, docker_config=config).read([reference]), reference).facts
        assert facts is not None
        assert facts.entrypoint == ("node", "app.js")

    def test_from_environ(self, basic: Fleet, tmp_path: Path) -> None:
        """DOCKER_CONFIG names the directory of config.json; XDG_CACHE_HOME holds the cache."""
        (tmp_path / "dot-docker").mkdir()
        docker_config(tmp_path, basic.registry.host, "ci", USERS["ci"]).rename(tmp_path / "dot-docker" / "config.json")
        environ = {"DOCKER_CONFIG": str(tmp_path / "dot-docker"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
        reference = basic.ref("app/entry:1")
        facts = one(ImageReader.from_environ(environ, docker_host=None).read([reference]), reference).facts
        assert facts is not None
        assert facts.digest == basic.pushed["app/entry:1"].digest
        manifest = tmp_path / "xdg" / "node-heap-sidecar" / "images" / "blobs" / "sha256" / facts.digest.split(":")[1]
        assert manifest.is_file()

    def test_token_auth(self, token: Fleet, tmp_path: Path) -> None:
        """A token-auth registry: Basic credentials to the token server, a bearer JWT to the registry."""
        assert token.registry.token_server is not None
        reference = token.ref("app/entry:1")
        config = docker_config(tmp_path, token.registry.host, "ci", USERS["ci"])
        lookups = reader(tmp_path, docker_config=config, ca_bundle=token.registry.token_server.cert_path).read(
            [reference]
        )
        facts = one(lookups, reference).facts
        assert facts is not None
        assert facts.entrypoint == ("node", "app.js")
        assert "repository:app/entry:pull" in token.registry.token_server.issued

    def test_token_auth_wrong_password(self, token: Fleet, tmp_path: Path) -> None:
        """The token server refusing the credentials is a note."""
        assert token.registry.token_server is not None
        reference = token.ref("app/entry:1")
        config = docker_config(tmp_path, token.registry.host, "ci", "wrong")
        lookups = reader(tmp_path, docker_config=config, ca_bundle=token.registry.token_server.cert_path).read(
            [reference]
        )
        assert one(lookups, reference).note == (
            f"{reference}: {token.registry.url} refused the credentials from {config} (HTTP 401)"
        )

    def test_token_auth_anonymous_public(self, token: Fleet, tmp_path: Path) -> None:
        """A public image behind token auth (Docker Hub's way): an anonymous token, no credentials anywhere."""
        assert token.registry.token_server is not None
        reference = token.ref("library/node:22-slim")
        lookups = reader(tmp_path, ca_bundle=token.registry.token_server.cert_path).read([reference])
        facts = one(lookups, reference).facts
        assert facts is not None
        assert (facts.entrypoint, facts.cmd) == (("docker-entrypoint.sh",), ("node",))

    def test_token_auth_anonymous(self, token: Fleet, tmp_path: Path) -> None:
        """Anonymously the token server grants nothing on a private repository: the registry still says 401."""
        assert token.registry.token_server is not None
        reference = token.ref("app/entry:1")
        lookups = reader(tmp_path, ca_bundle=token.registry.token_server.cert_path).read([reference])
        assert one(lookups, reference).note == (
            f"{reference}: {token.registry.url} needs credentials for app/entry:1 "
            "(HTTP 401; or there is no such image), none found"
        )


class TestEcr:
    ECR_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

    def test_ecr_credentials_from_moto(self, moto: MotoServer, aws_credentials: None, tmp_path: Path) -> None:
        """An ECR image: GetAuthorizationToken (moto) gives the Basic credentials the registry checks."""
        token = moto.client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
        user, _, password = base64.b64decode(token).decode().partition(":")
        with Registry("htpasswd", {user: password}) as registry:
            registry.push_image("team/app", "1.4.2", OFFICIAL_NODE, kind="docker")
            reference = f"{self.ECR_HOST}/team/app:1.4.2"
            lookups = reader(
                tmp_path, registry_urls={self.ECR_HOST: registry.url}, ecr_endpoint_url=moto.endpoint
            ).read([reference])
        facts = one(lookups, reference).facts
        assert facts is not None
        assert (facts.entrypoint, facts.cmd, facts.source) == (
            ("docker-entrypoint.sh",),
            ("node",),
            f"registry {registry.url}",
        )

    def test_no_aws_credentials(self, moto: MotoServer, aws_env: None, basic: Fleet, tmp_path: Path) -> None:
        """Without AWS credentials an ECR image is a note naming GetAuthorizationToken."""
        reference = f"{self.ECR_HOST}/app/entry:1"
        lookups = reader(tmp_path, registry_urls={self.ECR_HOST: basic.registry.url}, ecr_endpoint_url=moto.endpoint)
        assert one(lookups.read([reference]), reference).note == (
            f"{reference}: ECR credentials (ecr:GetAuthorizationToken in us-east-1): Unable to locate credentials"
        )


class TestCache:
    def test_cache_hit_by_digest_asks_nothing(self, fleet: Fleet, tmp_path: Path) -> None:
        """A digest reference read before is answered from the cache without one request to the registry."""
        reference = fleet.ref(f"team/multi@{fleet.pushed['team/multi:2'].digest}")
        first = one(reader(tmp_path).read([reference]), reference).facts
        before = len(fleet.registry.access_log())
        second = one(reader(tmp_path).read([reference]), reference).facts
        assert len(fleet.registry.access_log()) == before
        assert first is not None
        assert second is not None
        assert (second.source, second.cmd, second.digest) == ("cache", first.cmd, first.digest)

    def test_cache_hit_by_tag_asks_the_tag_only(self, fleet: Fleet, tmp_path: Path) -> None:
        """A tag read before costs one HEAD (tags move); manifests and config come from the cache."""
        reference = fleet.ref("team/multi-docker:2")
        reader(tmp_path).read([reference])
        before = len(fleet.registry.access_log())
        facts = one(reader(tmp_path).read([reference]), reference).facts
        assert fleet.registry.access_log()[before:] == ["HEAD /v2/team/multi-docker/manifests/2 200"]
        assert facts is not None
        assert (facts.source, facts.cmd) == (f"cache (tag checked at {fleet.registry.url})", ("node", "amd64.js"))

    def test_offline_with_cache(self, fleet: Fleet, tmp_path: Path) -> None:
        """Offline, a tag seen before is read from the cache, which says when the tag was seen."""
        reference = fleet.ref("app/entry:1")
        reader(tmp_path).read([reference])
        before = len(fleet.registry.access_log())
        facts = one(reader(tmp_path, offline=True).read([reference]), reference).facts
        assert len(fleet.registry.access_log()) == before
        assert facts is not None
        assert facts.entrypoint == ("node", "app.js")
        assert re.fullmatch(r"cache, tag as seen \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", facts.source)

    def test_offline_without_cache(self, fleet: Fleet, tmp_path: Path) -> None:
        """Offline, an image never read is a note, and the registry hears nothing."""
        tag = fleet.ref("app/entry:1")
        digest = fleet.ref(f"app/entry@{fleet.pushed['app/entry:1'].digest}")
        before = len(fleet.registry.access_log())
        lookups = reader(tmp_path, offline=True).read([tag, digest])
        assert [lookup.note for lookup in lookups.values()] == [
            f"{tag}: offline, and the tag is not in the cache",
            f"{digest}: offline, and {fleet.pushed['app/entry:1'].digest} is not in the cache",
        ]
        assert len(fleet.registry.access_log()) == before
        assert one(reader(tmp_path, offline=True, cache_dir=None).read([tag]), tag).note == (
            f"{tag}: offline, and no cache to read"
        )

    def test_offline_never_calls_out(self, tmp_path: Path) -> None:
        """Offline, a stalled registry costs nothing: the lookup ends at once."""
        with StalledServer() as stalled:
            reference = f"{stalled.host}/app:1"
            started = time.monotonic()
            lookup = one(reader(tmp_path, offline=True, deadline_s=5.0).read([reference]), reference)
            assert time.monotonic() - started < 0.5
        assert lookup.note == f"{reference}: offline, and the tag is not in the cache"

    def test_damaged_cache_is_fetched_again(self, fleet: Fleet, tmp_path: Path) -> None:
        """A cached config changed on disk is not believed: it is fetched again."""
        reference = fleet.ref("team/api:opts")
        reader(tmp_path).read([reference])
        config_digest = fleet.pushed["team/api:opts"].configs["linux/amd64"]
        blob = tmp_path / "cache" / "blobs" / "sha256" / config_digest.split(":")[1]
        blob.write_text(blob.read_text().replace("1536", "9999"))
        facts = one(reader(tmp_path).read([reference]), reference).facts
        assert facts is not None
        assert (facts.env_value("NODE_OPTIONS"), facts.source) == (
            "--max-old-space-size=1536",
            f"registry {fleet.registry.url}",
        )


def daemon_platform() -> str:
    """The daemon's `os/architecture` (the daemon DOCKER_HOST names, else the default socket), or skip."""
    if shutil.which("docker") is None:
        unavailable("no docker CLI here (make rehearse installs Docker)")
    server = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"],
        check=False,
        capture_output=True,
        text=True,
    )
    if server.returncode:
        unavailable("no Docker daemon answers here (make rehearse starts one)")
    return server.stdout.strip()


@pytest.mark.docker
class TestDockerDaemon:
    def test_image_built_locally(self, tmp_path: Path) -> None:
        """An image only the local daemon has (imported, never pushed) is read from the daemon."""
        platform = daemon_platform()
        tag = "nhs-images-test:local"
        (tmp_path / "empty").mkdir()
        archive = tmp_path / "rootfs.tar"
        subprocess.run(["tar", "-cf", str(archive), "-C", str(tmp_path / "empty"), "."], check=True)
        subprocess.run(
            [
                "docker",
                "import",
                "--change",
                'ENTRYPOINT ["node", "app.js"]',
                "--change",
                "ENV NODE_OPTIONS=--max-old-space-size=256",
                "--change",
                "WORKDIR /srv",
                str(archive),
                tag,
            ],
            check=True,
            capture_output=True,
        )
        try:
            # DOCKER_HOST, where set, names the daemon the docker CLI just used.
            chosen = ImageReader.from_environ(
                os.environ, cache_dir=tmp_path / "cache", docker_config=None, platform=platform
            )
            lookups = chosen.read([tag])
        finally:
            subprocess.run(["docker", "image", "rm", tag], check=False, capture_output=True)
        facts = one(lookups, tag).facts
        assert facts is not None
        assert (facts.entrypoint, facts.env_value("NODE_OPTIONS"), facts.working_dir, facts.digest) == (
            ("node", "app.js"),
            "--max-old-space-size=256",
            "/srv",
            None,
        )
        assert facts.source == f"docker daemon {os.environ.get('DOCKER_HOST') or 'unix:///var/run/docker.sock'}"

    def test_pulled_image_names_its_repo_digest(self, fleet: Fleet, tmp_path: Path) -> None:
        """An image the daemon pulled is read there, with the manifest digest it was pulled by."""
        platform = daemon_platform()
        reference = fleet.ref("app/entry:1")
        pulled = subprocess.run(["docker", "pull", reference], check=False, capture_output=True, text=True)
        if pulled.returncode:
            unavailable(f"docker pull {reference} failed: {pulled.stderr.strip()}")
        try:
            chosen = ImageReader.from_environ(
                os.environ, cache_dir=tmp_path / "cache", docker_config=None, platform=platform
            )
            facts = one(chosen.read([reference]), reference).facts
        finally:
            subprocess.run(["docker", "image", "rm", reference], check=False, capture_output=True)
        assert facts is not None
        assert (facts.entrypoint, facts.digest) == (("node", "app.js"), fleet.pushed["app/entry:1"].digest)
        assert facts.source.startswith("docker daemon ")
