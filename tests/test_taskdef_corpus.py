"""The corpus of real ECS task definitions in tests/fixtures/taskdefs/ stays well-formed.

Checks only the data: every file has its provenance in SOURCES.md, parses as its extension says
(JSON, CloudFormation YAML, a Terraform template once its `${...}` placeholders are filled), and
images.json / expected.json speak only of files and images that are in the corpus.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

CORPUS = Path(__file__).parent / "fixtures" / "taskdefs"
META = {"SOURCES.md", "images.json", "expected.json"}
PLACEHOLDER = re.compile(r"\$\{[^}]*\}")


class CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type hints
    """A safe YAML loader that accepts CloudFormation's short-form intrinsics (!Ref, !Sub, ...)."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node)}
    return {suffix: loader.construct_mapping(node)}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.name not in META)


def listed_in_sources() -> set[str]:
    # Only the first table lists corpus files; the Dockerfile table after the next heading names images.
    text = (CORPUS / "SOURCES.md").read_text().split("\n## ")[0]
    return set(re.findall(r"^\| `([^`]+)` \| [^|]+ @ ", text, flags=re.MULTILINE))


class TestSources:
    def test_every_file_is_listed(self) -> None:
        """Each corpus file has a row in SOURCES.md naming its origin."""
        assert {p.name for p in corpus_files()} - listed_in_sources() == set()

    def test_every_listed_file_exists(self) -> None:
        """SOURCES.md names no file that is missing from the corpus."""
        assert listed_in_sources() - {p.name for p in corpus_files()} == set()

    def test_corpus_size(self) -> None:
        """The corpus holds at least 25 task definitions."""
        assert len(corpus_files()) >= 25


class TestParses:
    def test_json_files(self) -> None:
        """Every .json file parses as JSON."""
        for path in corpus_files():
            if path.name.endswith(".json"):
                assert isinstance(json.loads(path.read_text()), (dict, list)), path.name

    def test_yaml_files(self) -> None:
        """Every .yaml/.yml file parses as CloudFormation YAML with a task definition in it."""
        paths = [p for p in corpus_files() if p.suffix in {".yaml", ".yml"}]
        assert paths
        for path in paths:
            template = yaml.load(path.read_text(), Loader=CloudFormationLoader)
            types = {r["Type"] for r in template["Resources"].values()}
            assert "AWS::ECS::TaskDefinition" in types, path.name

    def test_json_templates(self) -> None:
        """Every .json.tpl file is JSON once each ${...} placeholder is replaced by 0."""
        paths = [p for p in corpus_files() if p.name.endswith(".json.tpl")]
        assert paths
        for path in paths:
            assert isinstance(json.loads(PLACEHOLDER.sub("0", path.read_text())), list), path.name

    def test_other_templates(self) -> None:
        """Every .json.tmpl file is not JSON as stored (that is why it has this extension)."""
        paths = [p for p in corpus_files() if p.name.endswith(".json.tmpl")]
        assert paths
        for path in paths:
            text = path.read_text()
            assert "containerDefinitions" in text, path.name
            try:
                json.loads(text)
            except json.JSONDecodeError:
                continue
            raise AssertionError(f"{path.name} parses as JSON: rename it .json")

    def test_terraform_files(self) -> None:
        """Every .tf file declares an aws_ecs_task_definition with container_definitions."""
        for path in corpus_files():
            if path.suffix == ".tf":
                text = path.read_text()
                assert 'resource "aws_ecs_task_definition"' in text, path.name
                assert "container_definitions" in text, path.name

    def test_no_unknown_extensions(self) -> None:
        """Every corpus file has one of the extensions the checks above cover."""
        known = (".json", ".yaml", ".yml", ".json.tpl", ".json.tmpl", ".tf")
        assert [p.name for p in corpus_files() if not p.name.endswith(known)] == []


class TestImages:
    def test_keys_are_referenced(self) -> None:
        """Every image in images.json is named literally by some corpus file."""
        images = json.loads((CORPUS / "images.json").read_text())
        texts = [p.read_text() for p in corpus_files()]
        assert [ref for ref in images if not any(ref in t for t in texts)] == []

    def test_config_fields(self) -> None:
        """Every image config has Entrypoint, Cmd, Env, User, WorkingDir and provenance of the right types."""
        for ref, config in json.loads((CORPUS / "images.json").read_text()).items():
            assert set(config) == {"Entrypoint", "Cmd", "Env", "User", "WorkingDir", "provenance"}, ref
            for key in ("Entrypoint", "Cmd"):
                assert config[key] is None or all(isinstance(a, str) for a in config[key]), ref
            assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", e) for e in config["Env"]), ref
            assert sum(e.startswith("PATH=") for e in config["Env"]) == 1, ref
            assert config["provenance"], ref


class TestExpected:
    def test_one_entry_per_file(self) -> None:
        """expected.json has exactly one entry per corpus file."""
        expected = json.loads((CORPUS / "expected.json").read_text())
        assert set(expected) == {p.name for p in corpus_files()}

    def test_node_files(self) -> None:
        """At least 16 corpus files have a container a careful reader says runs Node, each with an argv."""
        expected = json.loads((CORPUS / "expected.json").read_text())
        node = [name for name, e in expected.items() if any(c["runs_node"] is True for c in e["containers"])]
        assert len(node) >= 16
        for name in node:
            for c in expected[name]["containers"]:
                if c["runs_node"] is True:
                    assert c["argv"], (name, c["name"])
                    assert all(isinstance(a, str) for a in c["argv"]), (name, c["name"])
