"""adopt on 25 real task definitions from public repositories (tests/fixtures/taskdefs/, SOURCES.md says
where each came from), as a platform engineer would run it: `adopt FILE --image IMG`, one process per file.

What the files' images run is in real registries on 127.0.0.1 (tests/registry.py): the configs of
images.json, written by hand from each project's Dockerfile, pushed under their own repository and tag;
ECR images behind Basic auth with the credentials moto's GetAuthorizationToken hands out, the others
anonymous; `--registry HOST=URL` sends each registry host there. Each file is adopted or refused in
one run, never a crash (exit 1), with every problem on its own line naming its container; the adopted
ones run exactly the argv expected.json gives (worked out by hand from the Dockerfiles).
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidecar.imageref import parse_image
from tests.registry import Registry, image_config
from tests.servers import FAKE_CREDENTIALS, MotoServer

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "fixtures" / "taskdefs"
IMAGES: dict[str, dict[str, Any]] = json.loads((CORPUS / "images.json").read_text())
EXPECTED: dict[str, Any] = json.loads((CORPUS / "expected.json").read_text())
SIDECAR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/node-heap-sidecar:0.2.0"

# What adopt does with each file, decided from expected.json's `wiring` and the file itself: adopted (0),
# refused (12: every reason said), or not a format it reads (2: HCL, or a template that is not JSON yet).
OUTCOMES = {
    "beelder-console-export-empty-entrypoint.json": 0,
    "upload-widget-console-export.json": 0,
    "hanghae-nestjs-console-export.json": 0,
    "cards-two-node-containers-host-network.json": 0,
    "calcio-napoli-ec2-reservation-only.json": 0,
    "github-ci-react-dev-server-no-logs.json": 0,
    "opentcg-backend-fargate-task-memory-only.json": 0,
    "appsignals-node-cdk-synth-adot-init-cwagent.template.json": 0,
    "nodejs-template-sed-placeholders.json.tmpl": 2,
    "ecs-nodejs-example-angle-placeholders.json.tmpl": 2,
    "nestjs-test-terraformer-escaped-string.tf": 2,
    "goat-official-node-image-no-program.tf": 2,
    "basisregisters-site-networkmode-in-container-datadog.json.tpl": 2,
    "cb-app-nested-containerdefinitions.json.tpl": 2,
    "xtages-node-with-nginx-links.json.tpl": 2,
    "nestjs-test-terraform-state-v3.json": 2,
}


@pytest.fixture(scope="module")
def registries() -> Iterator[tuple[Registry, Registry, str]]:
    """An ECR stand-in (Basic auth, moto's credentials) and an anonymous registry, holding images.json."""
    with MotoServer() as moto:
        token = moto.client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
        user, _, password = base64.b64decode(token).decode().partition(":")
        with Registry("htpasswd", users={user: password}) as ecr, Registry() as public:
            for reference, doc in IMAGES.items():
                image = parse_image(reference)
                assert image is not None, reference
                registry = ecr if ".dkr.ecr." in image.registry else public
                config = image_config(
                    entrypoint=doc["Entrypoint"],
                    cmd=doc["Cmd"],
                    env=doc["Env"] or (),
                    user=doc.get("User") or "",
                    working_dir=doc.get("WorkingDir") or "",
                )
                registry.push_image(image.repository, image.tag or "latest", config)
            yield ecr, public, moto.endpoint


def adopt(
    path: Path, registries: tuple[Registry, Registry, str], tmp_path: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    ecr, public, moto_endpoint = registries
    mappings = [f"{host}={ecr.url if '.dkr.ecr.' in host else public.url}" for host in sorted(registry_hosts())]
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["aws_secret_access_key"],
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_ECR": moto_endpoint,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "DOCKER_HOST": "unix:///nonexistent.sock",
    }
    args = [str(path), "--image", SIDECAR, "--image-deadline", "10", *extra]
    for mapping in mappings:
        args += ["--registry", mapping]
    return subprocess.run(
        [sys.executable, "-m", "sidecar", "adopt", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def registry_hosts() -> set[str]:
    """Every registry the corpus names, and Docker Hub: all of them are sent to 127.0.0.1, never out."""
    pattern = re.compile(
        r"\b(\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com|public\.ecr\.aws|[a-z0-9-]+\.gcr\.io|gcr\.io|ghcr\.io)\b"
    )
    texts = [(CORPUS / name).read_text(encoding="utf-8") for name in corpus()]
    return {host for text in texts for host in pattern.findall(text)} | {"docker.io"}


def corpus() -> list[str]:
    return sorted(p.name for p in CORPUS.iterdir() if p.name not in ("SOURCES.md", "images.json", "expected.json"))


class TestCorpus:
    def test_the_corpus_is_real_sized(self) -> None:
        """At least 20 task definitions, 16 of them with a Node container (the issue's sample was 25 and 16)."""
        files = corpus()
        node = [f for f in files if any(c["runs_node"] is True for c in EXPECTED[f]["containers"])]
        assert (len(files) >= 20, len(node) >= 16) == (True, True)

    @pytest.mark.parametrize("name", corpus())
    def test_adopted_or_refused_in_one_run(
        self, name: str, registries: tuple[Registry, Registry, str], tmp_path: Path
    ) -> None:
        """Every file: adopted (exit 0), refused (12) or not read (2) in one run, never a crash, every problem
        on a line of its own, never a container named by its index."""
        proc = adopt(CORPUS / name, registries, tmp_path)
        assert proc.returncode == OUTCOMES.get(name, 12), proc.stderr
        lines = proc.stderr.splitlines()
        assert all(line.startswith(("node-heap-sidecar adopt: ", "adopt: ")) for line in lines), proc.stderr
        assert "a bug" not in proc.stderr
        assert "containerDefinitions[" not in proc.stderr.replace("containerDefinitions[name=", "")
        if proc.returncode == 0:
            assert proc.stdout
        else:
            assert proc.stdout == ""
            assert lines

    @pytest.mark.parametrize("name", [name for name, code in OUTCOMES.items() if code == 0])
    def test_adopted_containers_run_what_they_ran(
        self, name: str, registries: tuple[Registry, Registry, str], tmp_path: Path
    ) -> None:
        """The Node containers expected.json names are wired, each running its image's argv (worked out by hand
        from its Dockerfile) after the env file, byte for byte."""
        proc = adopt(CORPUS / name, registries, tmp_path)
        assert proc.returncode == 0, proc.stderr
        containers = _containers(json.loads(proc.stdout))
        expected = {c["name"]: c["argv"] for c in EXPECTED[name]["containers"] if c["runs_node"] is True}
        wrapped = {
            container["name"]: container.get("command")
            for container in containers
            if container.get("entryPoint") == ["sh", "-c"]
        }
        assert set(wrapped) == set(expected)
        files = [f"/shared/node-heap.{n}.env" for n in expected] if len(expected) > 1 else ["/shared/node-heap.env"]
        for (node, argv), env_file in zip(expected.items(), files, strict=True):
            assert wrapped[node] == [f". {env_file} && exec {shlex.join(argv)}"]


def _containers(document: Any) -> list[dict[str, Any]]:
    """The container definitions of an adopted document (a task definition, or a CloudFormation template)."""
    if "containerDefinitions" in document:
        containers: list[dict[str, Any]] = document["containerDefinitions"]
        return containers
    (resource,) = [r for r in document["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    return [
        {
            "name": c["Name"],
            **({"entryPoint": c["EntryPoint"]} if "EntryPoint" in c else {}),
            **({"command": c["Command"]} if "Command" in c else {}),
        }
        for c in resource["Properties"]["ContainerDefinitions"]
    ]


class TestWithTheArgvTheMessageQuotes:
    def test_template_image_wired_with_the_quoted_argv(
        self, registries: tuple[Registry, Registry, str], tmp_path: Path
    ) -> None:
        """docker-demo's image is a template, so adopt refuses and quotes `--argv myapp='[...]'`; given that
        argv (its Dockerfile's node image: docker-entrypoint.sh in front), it is wired."""
        path = CORPUS / "docker-demo-command-npm-start.json.tpl"
        refused = adopt(path, registries, tmp_path)
        argv = '["docker-entrypoint.sh", "npm", "start"]'
        assert f"--argv myapp='{argv}'" in refused.stderr
        proc = adopt(
            path,
            registries,
            tmp_path,
            "--argv",
            f"myapp={argv}",
            "--log-group",
            "/ecs/demo",
            "--log-region",
            "eu-west-1",
        )
        assert proc.returncode == 0, proc.stderr
        (app,) = [c for c in json.loads(proc.stdout) if c["name"] == "myapp"]
        assert app["command"] == [". /shared/node-heap.env && exec docker-entrypoint.sh npm start"]
