"""adopt: the shipped wiring reproduced from an unwired definition, idempotence, refusals, registration.

The shipped task definitions (task-definition.json, deploy/*.json) are the wiring this project
considers correct (tests/test_task_definitions.py); taking the sidecar out of them and adopting the
result must give them back. The CLI runs as a real process; `--family` and `--register` talk to a
moto server on 127.0.0.1.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from sidecar.errors import AdoptRefusedError, SettingsError
from sidecar.fleet.formats import parse_document
from sidecar.fleet.rewrite import AdoptOptions, adopt_definition
from sidecar.fleet.wiring import check_wiring
from tests import runs
from tests.servers import MotoServer

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "task-definition.json"
EC2 = REPO / "deploy" / "task-definition.ec2.json"
ENV_FILE = REPO / "deploy" / "task-definition.env-file.json"
IMAGE = "node-heap-sidecar:0.2.0"  # the shipped files' image
# botocore's ContainerDefinition members, in its model's order (what its "must be one of" lists).
CONTAINER_MEMBERS = list(
    botocore.session.get_session().get_service_model("ecs").shape_for("ContainerDefinition").members
)


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def unwired(path: Path, *, entry: list[str] | None, command: list[str]) -> dict[str, Any]:
    """A shipped definition without the sidecar: no init container, volume, mount, dependency or init."""
    doc = load(path)
    doc["volumes"] = []
    doc["containerDefinitions"] = [c for c in doc["containerDefinitions"] if c["name"] != "node-heap-init"]
    (app,) = doc["containerDefinitions"]
    for key in ("dependsOn", "linuxParameters", "mountPoints", "entryPoint"):
        app.pop(key, None)
    if entry is not None:
        app["entryPoint"] = entry
    app["command"] = command
    return doc


def adopt(doc: Any, **options: Any) -> tuple[Any, bool, tuple[str, ...]]:
    (located,) = parse_document(json.dumps(doc), where="test").definitions
    result = adopt_definition(located.kind, located.definition, AdoptOptions(**{"image": IMAGE, **options}))
    return result.document, result.changed, result.notes


def run_cli(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """`adopt ARGS --offline`: images are read from an empty cache only (tests/test_adopt_images.py reads
    them from a real registry)."""
    base = {"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true", "XDG_CACHE_HOME": "/nonexistent"}
    return subprocess.run(
        [sys.executable, "-m", "sidecar", "adopt", *args, "--offline"],
        input=stdin,
        env={**base, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def moto_env(moto: MotoServer, tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_ECS": moto.endpoint,
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
    }


def registrable(doc: dict[str, Any]) -> bool:
    shape = botocore.session.get_session().get_service_model("ecs").operation_model("RegisterTaskDefinition")
    return not ParamValidator().validate(doc, shape.input_shape).has_errors()


class TestShippedWiring:
    def test_fargate(self) -> None:
        """The shipped Fargate definition without the sidecar, adopted, is the shipped definition."""
        doc, changed, _ = adopt(unwired(SHIPPED, entry=["node"], command=["server.js"]))
        assert changed
        assert doc == load(SHIPPED)

    def test_ec2(self) -> None:
        """On EC2 (no task memory) the init container also gets its own 64 MiB, as shipped."""
        doc, _, _ = adopt(unwired(EC2, entry=["node"], command=["server.js"]))
        assert doc == load(EC2)

    def test_shell_less_image(self) -> None:
        """distroless (ENTRYPOINT node, no shell), --mode env-file: `--env-file=FILE` first in the command."""
        doc, _, _ = adopt(unwired(ENV_FILE, entry=None, command=["server.js"]), mode="env-file")
        assert doc == load(ENV_FILE)

    def test_command_only_on_the_official_image(self) -> None:
        """The official node image's ENTRYPOINT (docker-entrypoint.sh) is kept in front of the command."""
        doc, _, _ = adopt(unwired(SHIPPED, entry=None, command=["node", "server.js"]))
        app = doc["containerDefinitions"][1]
        assert app["entryPoint"] == ["sh", "-c"]
        assert app["command"] == [". /shared/node-heap.env && exec docker-entrypoint.sh node server.js"]

    def test_auto_mode_picks_env_file_for_an_image_without_a_shell(self) -> None:
        """distroless, --mode auto (the default): the same as --mode env-file, since sh cannot run there."""
        doc, _, _ = adopt(unwired(ENV_FILE, entry=None, command=["server.js"]))
        assert doc == load(ENV_FILE)

    @pytest.mark.parametrize("path", [SHIPPED, EC2, ENV_FILE], ids=lambda p: p.name)
    def test_adopting_an_adopted_definition_changes_nothing(self, path: Path) -> None:
        """Every shipped definition is already adopted: same document, nothing changed."""
        doc, changed, _ = adopt(load(path), mode="env-file" if path == ENV_FILE else "sh")
        assert not changed
        assert doc == load(path)

    def test_the_result_is_wired_correctly(self) -> None:
        """The audit's wiring check finds nothing missing in what adopt wrote."""
        doc, _, _ = adopt(unwired(SHIPPED, entry=["node"], command=["server.js"]))
        wiring = check_wiring(doc["containerDefinitions"], "app")
        assert wiring.correct
        assert wiring.advice == ()


class TestSeveralNodeContainers:
    def definition(self) -> dict[str, Any]:
        doc = unwired(SHIPPED, entry=["node"], command=["server.js"])
        worker = copy.deepcopy(doc["containerDefinitions"][0])
        worker.update(name="worker", command=["worker.js"], memory=256)
        worker.pop("portMappings")
        doc["containerDefinitions"].append(worker)
        return doc

    def test_one_env_file_per_container(self) -> None:
        """NODE_HEAP_TARGET lists both; each sources /shared/node-heap.<name>.env and is wired correctly."""
        doc, _, _ = adopt(self.definition())
        init, web, worker = doc["containerDefinitions"]
        assert {"name": "NODE_HEAP_TARGET", "value": "app,worker"} in init["environment"]
        assert web["command"] == [". /shared/node-heap.app.env && exec node server.js"]
        assert worker["command"] == [". /shared/node-heap.worker.env && exec node worker.js"]
        assert all(check_wiring(doc["containerDefinitions"], name).correct for name in ("app", "worker"))

    def test_adding_a_second_container_renames_the_first_file(self) -> None:
        """Adopting app, then worker: app moves from node-heap.env to node-heap.app.env."""
        first, _, _ = adopt(self.definition(), containers=("app",))
        assert first["containerDefinitions"][1]["command"] == [". /shared/node-heap.env && exec node server.js"]
        second, changed, _ = adopt(first, containers=("worker",))
        assert changed
        assert second == adopt(self.definition())[0]


class TestInputs:
    def test_describe_task_definition_answer(self) -> None:
        """Read-only fields of a registered definition are dropped, tags kept: ready for register."""
        answer = {
            "taskDefinition": {
                **unwired(SHIPPED, entry=["node"], command=["server.js"]),
                "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/node-app:3",
                "revision": 3,
                "status": "ACTIVE",
                "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}],
                "compatibilities": ["EC2", "FARGATE"],
                "registeredAt": "2026-11-26T10:00:00Z",
                "registeredBy": "arn:aws:iam::123456789012:role/deployer",
            },
            "tags": [{"key": "team", "value": "web"}],
        }
        doc, _, _ = adopt(answer)
        assert doc == {**load(SHIPPED), "tags": [{"key": "team", "value": "web"}]}
        assert registrable(doc)

    def test_bare_container_definitions(self) -> None:
        """A Terraform/CDK containerDefinitions list comes back as a list, with a note about the volume."""
        containers = unwired(SHIPPED, entry=["node"], command=["server.js"])["containerDefinitions"]
        doc, _, notes = adopt(containers)
        assert doc == load(SHIPPED)["containerDefinitions"]
        assert notes == (
            'a containerDefinitions list has no volumes: add the task volume {"name": "node-heap"} to the task '
            'definition (Terraform: volume { name = "node-heap" })',
        )


class TestRefusals:
    @pytest.mark.parametrize(
        ("change", "options", "message"),
        [
            (
                {"image": "1234.dkr.ecr.us-east-1.amazonaws.com/web:7", "entryPoint": None, "command": None},
                {"containers": ("app",)},
                "'app' leaves its program to its image (no entryPoint, no command), and its image "
                "'1234.dkr.ecr.us-east-1.amazonaws.com/web:7' was not read: run adopt where the image can be read "
                "(docker login; for ECR, AWS credentials with ecr:GetAuthorizationToken), or give --argv "
                "app='[...]' with the image's Entrypoint + Cmd (docker inspect --format "
                "'{{json .Config.Entrypoint}} {{json .Config.Cmd}}' IMAGE)",
            ),
            (
                {
                    "image": "1234.dkr.ecr.us-east-1.amazonaws.com/web:7",
                    "entryPoint": None,
                    "command": ["node", "x.js"],
                },
                {},
                '\'app\' has command ["node", "x.js"] and no entryPoint, so what runs in front of it is its '
                "image's ENTRYPOINT, and its image '1234.dkr.ecr.us-east-1.amazonaws.com/web:7' was not read: give "
                'it with --argv app=\'["node", "x.js"]\' if the image has no ENTRYPOINT, or '
                '--argv app=\'["docker-entrypoint.sh", "node", "x.js"]\' if it is node\'s docker-entrypoint.sh',
            ),
            (
                {"image": "bitnami/node:22", "entryPoint": None, "command": ["node", "x.js"]},
                {"argv": {"app": ["node", "server.js"]}},
                "--argv app=['node', 'server.js'] does not end with 'app''s command ['node', 'x.js']: it would "
                "change what runs; add --new-argv app if that is meant",
            ),
            (
                {"image": "gcr.io/distroless/nodejs22-debian12", "command": ["server.js"]},
                {"mode": "sh"},
                "'app' runs gcr.io/distroless/nodejs22-debian12, which has no shell: use --mode env-file",
            ),
            (
                {"environment": [{"name": "NODE_OPTIONS", "value": "--enable-source-maps"}]},
                {"mode": "env-file"},
                "'app' sets NODE_OPTIONS in its environment: with --env-file Node ignores the file's NODE_OPTIONS "
                "and the heap flags are lost; move those flags to the node command line, or use --mode sh",
            ),
            (
                {"entryPoint": ["npm"], "command": ["start"]},
                {"mode": "env-file"},
                "--mode env-file needs node itself in 'app''s argv (npm start): a launcher such as npm starts "
                "Node in a child that does not read --env-file, and a shell script hides it; use --mode sh, or "
                "give --argv",
            ),
            (
                {"image": "node:18.20-slim", "entryPoint": ["node"], "command": ["server.js"]},
                {"mode": "env-file"},
                "'app' runs Node 18.20 (image tag node:18.20-slim): `node --env-file` reads the sidecar's file from "
                "Node 20.20 / 21.7 on; use --mode sh or a newer image",
            ),
            (
                {"mountPoints": [{"sourceVolume": "data", "containerPath": "/shared"}]},
                {},
                "'app' already mounts volume 'data' at /shared: give --shared-path",
            ),
            (
                {"image": "python:3.12", "entryPoint": ["python"], "command": ["app.py"]},
                {},
                "no container runs Node ('app' runs python app.py): if one does, name it with --container NAME",
            ),
        ],
        ids=[
            "image-not-read-no-program",
            "command-on-an-image-not-read",
            "argv-that-changes-the-command",
            "no-shell",
            "env-file-with-node-options",
            "env-file-through-npm",
            "env-file-on-node-18",
            "mount-path-taken",
            "no-node",
        ],
    )
    def test_refuses_what_it_cannot_do_safely(
        self, change: dict[str, Any], options: dict[str, Any], message: str
    ) -> None:
        """One line saying what is missing and what to do; nothing is guessed."""
        doc = unwired(SHIPPED, entry=["node"], command=["server.js"])
        app = doc["containerDefinitions"][0]
        for key, value in change.items():
            if value is None:
                app.pop(key, None)
            else:
                app[key] = value
        with pytest.raises(AdoptRefusedError) as raised:
            adopt(doc, **options)
        assert str(raised.value) == message

    def test_a_volume_of_that_name_with_a_host_path(self) -> None:
        """An existing `node-heap` volume that is not an empty task volume is not reused."""
        doc = unwired(SHIPPED, entry=["node"], command=["server.js"])
        doc["volumes"] = [{"name": "node-heap", "host": {"sourcePath": "/var/data"}}]
        with pytest.raises(AdoptRefusedError) as raised:
            adopt(doc)
        assert (
            str(raised.value) == "volume 'node-heap' exists and is not an empty task volume (['host']): give --volume"
        )

    def test_init_settings_are_validated_as_the_init_job_does(self) -> None:
        """An invalid --set value is the init job's own message (exit 2), before anything is written."""
        with pytest.raises(SettingsError) as raised:
            adopt(unwired(SHIPPED, entry=["node"], command=["server.js"]), settings=(("NODE_HEAP_PROCESSES", "0"),))
        assert str(raised.value) == "node-heap-init: NODE_HEAP_PROCESSES='0': expected a whole number from 1 to 1024"


class TestCli:
    def test_stdout_is_ready_for_register_task_definition(self, tmp_path: Path) -> None:
        """`adopt FILE --image X > adopted.json`: the JSON botocore's model accepts; notes on stderr only."""
        source = tmp_path / "plain.json"
        source.write_text(json.dumps(unwired(SHIPPED, entry=["node"], command=["server.js"])))
        proc = run_cli(str(source), "--image", IMAGE)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == load(SHIPPED)
        assert registrable(json.loads(proc.stdout))

    def test_stdin_and_output_file(self, tmp_path: Path) -> None:
        """`-` reads stdin; -o writes the file (atomically) and nothing to stdout."""
        out = tmp_path / "adopted.json"
        stdin = json.dumps(unwired(SHIPPED, entry=["node"], command=["server.js"]))
        proc = run_cli("-", "--image", IMAGE, "-o", str(out), stdin=stdin)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == ""
        assert json.loads(out.read_text()) == load(SHIPPED)

    def test_missing_image_is_a_bad_argument(self, tmp_path: Path) -> None:
        """No --image for a new init container: a bad argument (exit 2), one line, nothing on stdout."""
        source = tmp_path / "plain.json"
        source.write_text(json.dumps(unwired(SHIPPED, entry=None, command=["node", "server.js"])))
        proc = run_cli(str(source))
        assert (proc.returncode, proc.stdout) == (2, "")
        assert proc.stderr == (
            "node-heap-sidecar adopt: --image: the node-heap-sidecar image to run is required "
            "(e.g. <account>.dkr.ecr.<region>.amazonaws.com/node-heap-sidecar:0.2.0)\n"
        )

    def test_refusal_exit_code_one_line_per_problem(self, tmp_path: Path) -> None:
        """A refusal: exit 12, one line per problem on stderr (every problem of the run), nothing on stdout."""
        doc = unwired(SHIPPED, entry=["node"], command=["server.js"])
        (app,) = doc["containerDefinitions"]
        worker = {**copy.deepcopy(app), "name": "worker", "entryPoint": ["npm"], "command": ["start"]}
        app["environment"] = [{"name": "NODE_OPTIONS", "value": "--enable-source-maps"}]
        doc["containerDefinitions"].append(worker)
        source = tmp_path / "plain.json"
        source.write_text(json.dumps(doc))
        proc = run_cli(str(source), "--image", IMAGE, "--mode", "env-file")
        assert (proc.returncode, proc.stdout) == (12, "")
        assert proc.stderr == (
            "node-heap-sidecar adopt: refused: 'app' sets NODE_OPTIONS in its environment: with --env-file Node "
            "ignores the file's NODE_OPTIONS and the heap flags are lost; move those flags to the node command "
            "line, or use --mode sh\n"
            "node-heap-sidecar adopt: refused: --mode env-file needs node itself in 'worker''s argv (npm start): a "
            "launcher such as npm starts Node in a child that does not read --env-file, and a shell script hides "
            "it; use --mode sh, or give --argv\n"
        )

    def test_bad_arguments_listed_at_once(self, tmp_path: Path) -> None:
        """Every bad --set at once, one line each, exit 2; a misspelt setting names the one it resembles."""
        proc = run_cli(str(SHIPPED), "--set", "FOO=1", "--set", "NODE_HEAP_TARGET=x", "--set", "NODE_HEAP_PROCESS=4")
        assert proc.returncode == 2
        assert proc.stderr == (
            "node-heap-sidecar adopt: --set 'FOO=1': expected NODE_HEAP_NAME=VALUE\n"
            "node-heap-sidecar adopt: --set NODE_HEAP_TARGET: adopt sets it itself (use --container "
            "and --shared-path)\n"
            "node-heap-sidecar adopt: --set NODE_HEAP_PROCESS: not a setting of node-heap-sidecar "
            "(did you mean NODE_HEAP_PROCESSES?)\n"
        )

    def test_not_json(self, tmp_path: Path) -> None:
        """A file that is not JSON: exit 2, where and why."""
        source = tmp_path / "td.json"
        source.write_text("{nope")
        proc = run_cli(str(source), "--image", IMAGE)
        assert proc.returncode == 2
        assert proc.stderr == (
            f"node-heap-sidecar adopt: {source}: not JSON: Expecting property name enclosed in double "
            "quotes at line 1 column 2\n"
        )

    def test_family_then_register_in_moto(self, moto: MotoServer, tmp_path: Path) -> None:
        """--family reads it with DescribeTaskDefinition; --register registers revision 2, wired."""
        env = moto_env(moto, tmp_path)
        moto.client().register_task_definition(**unwired(SHIPPED, entry=["node"], command=["server.js"]))
        proc = run_cli("--family", "node-app", "--image", IMAGE, "--register", **env)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr.endswith("adopt: registered arn:aws:ecs:us-east-1:123456789012:task-definition/node-app:2\n")
        registered = moto.client().describe_task_definition(taskDefinition="node-app:2")["taskDefinition"]
        assert [c["name"] for c in registered["containerDefinitions"]] == ["node-heap-init", "app"]
        assert check_wiring(registered["containerDefinitions"], "app").correct

    def test_register_skips_an_adopted_definition(self, moto: MotoServer, tmp_path: Path) -> None:
        """Nothing changed: nothing registered (no new revision)."""
        env = moto_env(moto, tmp_path)
        moto.client().register_task_definition(**load(SHIPPED))
        proc = run_cli("--family", "node-app", "--register", **env)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == "adopt: app: already adopted, nothing changed\nadopt: nothing registered\n"
        assert moto.client().list_task_definitions()["taskDefinitionArns"] == [
            "arn:aws:ecs:us-east-1:123456789012:task-definition/node-app:1"
        ]


class TestAdoptedRunsTheInitJob:
    def test_two_node_containers_get_their_files(self, tmp_path: Path) -> None:
        """The adopted web + worker definition, played by the emulator: the init job writes one file per Node
        container, the worker at its 256 MiB hard limit and the web app the 768 MiB left of the 1024 MiB task."""
        doc, _, _ = adopt(TestSeveralNodeContainers().definition())
        adopted = tmp_path / "adopted.json"
        adopted.write_text(json.dumps(doc))
        result = runs.run_cli(
            tmp_path,
            "emulate",
            "--task-definition",
            str(adopted),
            "--",
            sys.executable,
            "-m",
            "sidecar",
            NODE_HEAP_ECS_API="off",
        )
        assert result.code == 0, result.stderr
        memory = {e["container"]: e["memory_mib"] for e in result.events if e["event"] == "decision"}
        assert memory == {"app": 768, "worker": 256}
        assert sorted(p.name for p in tmp_path.glob("node-heap*.env")) == ["node-heap.app.env", "node-heap.worker.env"]


class TestFormatsPeopleKeep:
    @pytest.mark.parametrize(
        ("fixture", "argv", "first_line"),
        [
            (
                "cfn-node-services.yaml",
                'worker=["node", "--enable-source-maps", "dist/worker.js"]',
                "---\n# Two Node.js services of one product",
            ),
            (
                "terraform-output-container-definitions.json",
                'api=["node", "dist/server.js"]',
                '"[{\\"name\\":\\"node-heap-init\\"',
            ),
        ],
    )
    def test_written_back_in_its_format_and_adopted_once(
        self, tmp_path: Path, fixture: str, argv: str, first_line: str
    ) -> None:
        """A CloudFormation template and a Terraform container_definitions string come back in their own
        format (the template's comments and intrinsics kept), wired; adopting the result changes nothing.
        (Their images are templates or not readable here: what runs is given with --argv, as a user would.)"""
        source = REPO / "tests" / "fixtures" / "formats" / fixture
        first = tmp_path / f"once-{fixture}"
        options = ["--image", IMAGE, "--log-group", "/ecs/x", "--log-region", "us-east-1"]
        proc = run_cli(str(source), *options, "--argv", argv, "-o", str(first))
        assert proc.returncode == 0, proc.stderr
        text = first.read_text()
        assert text.startswith(first_line)
        if fixture.endswith(".yaml"):
            assert "!Sub '${AWS::AccountId}.dkr.ecr.${AWS::Region}.amazonaws.com/orders-api:${ImageTag}'" in text
            assert "- Name: node-heap-init" in text
        again = tmp_path / f"twice-{fixture}"
        proc = run_cli(str(first), *options, "-o", str(again))
        assert proc.returncode == 0, proc.stderr
        assert again.read_text() == text
        assert "already adopted, nothing changed" in proc.stderr


class TestMessyInputs:
    def test_console_export_nulls_are_absent(self) -> None:
        """`dependsOn: null`, `mountPoints: null`, `linuxParameters: null` (console exports): read as absent, and
        the result has no nulls (RegisterTaskDefinition refuses them)."""
        doc = unwired(SHIPPED, entry=["node"], command=["server.js"])
        (app,) = doc["containerDefinitions"]
        app.update(dependsOn=None, mountPoints=None, linuxParameters=None, secrets=None)
        adopted, changed, _ = adopt(doc)
        assert changed
        assert adopted == load(SHIPPED)

    def test_unknown_key_inside_a_container_is_named_with_it(self, tmp_path: Path) -> None:
        """`networkMode` inside a container (as one real file has): botocore's whole report, the container by its
        name, never by its index in the rewritten list."""
        doc = unwired(SHIPPED, entry=["node"], command=["server.js"])
        doc["containerDefinitions"][0]["networkMode"] = "awsvpc"
        source = tmp_path / "td.json"
        source.write_text(json.dumps(doc))
        proc = run_cli(str(source), "--image", IMAGE)
        assert (proc.returncode, proc.stdout) == (12, "")
        assert proc.stderr == (
            "node-heap-sidecar adopt: refused: not accepted by RegisterTaskDefinition (botocore's input shape; fix "
            'the input): Unknown parameter in containerDefinitions[name=app]: "networkMode", must be one of: '
            + ", ".join(CONTAINER_MEMBERS)
            + "\n"
        )
