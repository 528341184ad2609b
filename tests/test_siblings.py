"""Tests for sidecar.sizing.siblings: the footprint catalogue, overrides and the `sidecar_unbounded` warning.

Image names are the ones the vendors publish (FireLens docs, AWS CloudFormation templates, Docker
Hub and ECR Public names); the Service Connect proxy's image and name are the ECS agent's
(aws/amazon-ecs-agent agent/engine/serviceconnect/manager_linux.go) and ECS's (`ecs-service-connect-<id>`).
Expected figures are the catalogue's own declared values, written out by hand.
"""

from __future__ import annotations

import re

import pytest

from sidecar.sizing.candidates import Candidate, Kind, Notice, Origin, Outcome, Verdict
from sidecar.sizing.siblings import (
    CATALOGUE,
    Rule,
    SiblingEstimate,
    estimate_siblings,
    find_footprint,
    guess_notices,
    image_repository,
    is_service_connect_proxy,
)
from sidecar.sizing.task import ContainerFacts
from sidecar.sources.ecs_api import ContainerSpec
from sidecar.sources.metadata import ContainerMetadata

MIB = 1 << 20
FLUENT_BIT = "906394416424.dkr.ecr.us-west-2.amazonaws.com/aws-for-fluent-bit:stable"  # FireLens docs
SC_IMAGE = "ecs-service-connect-agent:interface-v1"  # the agent's `%s:interface-%s`


def tmds(name: str, image: str | None) -> ContainerFacts:
    return ContainerFacts(name, tmds=ContainerMetadata(name, "NORMAL", None, image, "RUNNING"))


class TestImageRepository:
    @pytest.mark.parametrize(
        ("image", "repository"),
        [
            pytest.param(FLUENT_BIT, "aws-for-fluent-bit", id="ecr-private"),
            pytest.param(
                "public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.0",
                "aws-observability/aws-for-fluent-bit",
                id="ecr-public",
            ),
            pytest.param("amazon/aws-xray-daemon", "amazon/aws-xray-daemon", id="docker-hub-no-tag"),
            pytest.param("datadog/agent:7@sha256:0123abcd", "datadog/agent", id="tag-and-digest"),
            pytest.param("localhost:5000/Fluentd:v1", "fluentd", id="registry-with-port-lowercased"),
            pytest.param("localhost/envoyproxy/envoy:v1.30", "envoyproxy/envoy", id="localhost"),
            pytest.param(SC_IMAGE, "ecs-service-connect-agent", id="service-connect-agent"),
        ],
    )
    def test_repository(self, image: str, repository: str) -> None:
        """The registry, tag and digest are dropped; the path is kept, in lower case."""
        assert image_repository(image) == repository

    @pytest.mark.parametrize("image", [None, "", "  "])
    def test_no_image(self, image: str | None) -> None:
        """No image, no repository."""
        assert image_repository(image) is None


class TestFindFootprint:
    @pytest.mark.parametrize(
        ("name", "image", "firelens", "key", "mib"),
        [
            pytest.param("log_router", FLUENT_BIT, None, "fluent-bit", 100, id="aws-for-fluent-bit"),
            pytest.param("logs", "cr.fluentbit.io/fluent/fluent-bit:3.0", None, "fluent-bit", 100, id="fluent-bit"),
            pytest.param("log_router", "my-registry.example/logs:1", "fluentbit", "fluent-bit", 100, id="firelens-bit"),
            pytest.param("log_router", "fluent/fluentd:v1.16", None, "fluentd", 100, id="fluentd"),
            pytest.param("log_router", "custom:1", "fluentd", "fluentd", 100, id="firelens-fluentd"),
            pytest.param(
                "cloudwatch-agent",
                "public.ecr.aws/cloudwatch-agent/cloudwatch-agent:1.300066.1b1374",
                None,
                "cloudwatch-agent",
                64,
                id="cloudwatch-agent",
            ),
            pytest.param(
                "aws-collector",
                "public.ecr.aws/aws-observability/aws-otel-collector:latest",
                None,
                "aws-otel-collector",
                142,
                id="adot",
            ),
            pytest.param(
                "otel", "otel/opentelemetry-collector-contrib:0.100.0", None, "aws-otel-collector", 142, id="otel"
            ),
            pytest.param("xray", "amazon/aws-xray-daemon", None, "xray-daemon", 30, id="xray"),
            pytest.param("datadog-agent", "public.ecr.aws/datadog/agent:latest", None, "datadog-agent", 256, id="dd"),
            pytest.param("dd", "gcr.io/datadoghq/agent:7", None, "datadog-agent", 256, id="dd-gcr"),
            pytest.param(
                "envoy",
                "840364872350.dkr.ecr.region-code.amazonaws.com/aws-appmesh-envoy:v1.15.1.0-prod",
                None,
                "envoy",
                64,
                id="app-mesh-envoy",
            ),
            pytest.param("proxy", "envoyproxy/envoy:v1.30-latest", None, "envoy", 64, id="envoy"),
            pytest.param("ecs-service-connect-Xg7Ld2", SC_IMAGE, None, "service-connect", 64, id="sc-image"),
            pytest.param("ecs-service-connect-Xg7Ld2", None, None, "service-connect", 64, id="sc-name-only"),
        ],
    )
    def test_known(self, name: str, image: str | None, firelens: str | None, key: str, mib: int) -> None:
        """Each vendor's published image names, a FireLens type, or ECS's proxy name find their entry."""
        found = find_footprint(name, image, firelens)
        assert found is not None
        assert (found[0].key, found[0].mib) == (key, mib)

    @pytest.mark.parametrize(
        ("name", "image"),
        [
            pytest.param("agent", "example/agent:1", id="agent-of-another-vendor"),
            pytest.param("envoy", "envoy:v1", id="bare-envoy"),
            pytest.param("redis", "redis:7", id="redis"),
            pytest.param("x", "example/not-aws-for-fluent-bit:1", id="suffix-inside-a-name"),
            pytest.param("app", None, id="no-image"),
        ],
    )
    def test_unknown(self, name: str, image: str | None) -> None:
        """A match is a whole path component, so look-alike names are not guessed."""
        assert find_footprint(name, image) is None

    def test_what_matched(self) -> None:
        """The match says what identified the container."""
        entries = {entry.key: entry for entry in CATALOGUE}
        assert find_footprint("log_router", FLUENT_BIT) == (entries["fluent-bit"], f"image {FLUENT_BIT}")
        assert find_footprint("log_router", "custom:1", "fluentbit") == (
            entries["fluent-bit"],
            "firelensConfiguration.type fluentbit",
        )
        assert find_footprint("ecs-service-connect-a1", None) == (
            entries["service-connect"],
            "name ecs-service-connect-a1",
        )


class TestCatalogue:
    def test_keys_are_unique_and_usable_in_the_setting(self) -> None:
        """Every key is unique and has the form NODE_HEAP_SIBLING_MIB accepts."""
        keys = [entry.key for entry in CATALOGUE]
        assert len(set(keys)) == len(keys)
        assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,255}", key) for key in keys)

    def test_every_entry_has_a_figure_and_a_source(self) -> None:
        """No entry without a positive figure, the evidence and where it was published."""
        for entry in CATALOGUE:
            assert entry.mib > 0, entry.key
            assert entry.evidence, entry.key
            assert entry.source, entry.key
            assert "github.com/" in entry.source or entry.source.startswith("https://"), entry.key

    def test_no_image_pattern_in_two_entries(self) -> None:
        """An image can match one entry only."""
        patterns = [p for entry in CATALOGUE for p in entry.images]
        assert len(set(patterns)) == len(patterns)


class TestServiceConnect:
    def test_by_image_or_name(self) -> None:
        """The proxy is recognised by the agent's image or ECS's container name, nothing else."""
        assert is_service_connect_proxy("ecs-service-connect-Xg7Ld2", SC_IMAGE)
        assert is_service_connect_proxy("proxy", SC_IMAGE)
        assert is_service_connect_proxy("ecs-service-connect-Xg7Ld2", None)
        assert not is_service_connect_proxy("log_router", FLUENT_BIT)
        assert not is_service_connect_proxy("service-connect", "nginx:1")


class TestEstimateSiblings:
    def test_catalogue_and_default(self) -> None:
        """A known image gets its footprint; an unknown one NODE_HEAP_SIBLING_DEFAULT_MIB; no warning."""
        estimates, notices = estimate_siblings([tmds("log_router", FLUENT_BIT), tmds("redis", "redis:7")], (), 48)
        assert [(e.container, e.mib, e.rule, e.pin) for e in estimates] == [
            ("log_router", 100, Rule.CATALOGUE, "log_router=<MiB>"),
            ("redis", 48, Rule.DEFAULT, "redis=<MiB>"),
        ]
        assert estimates[0].where.startswith(f"footprint catalogue 'fluent-bit' (image {FLUENT_BIT}): ")
        assert estimates[0].where.endswith(
            "[github.com/aws/aws-for-fluent-bit @ cd557e0 troubleshooting/debugging.md; github.com/aws-samples/"
            "amazon-ecs-firelens-examples @ 852c3a7 examples/fluent-bit/oomkill-prevention/README.md]"
        )
        assert estimates[1].where == (
            "NODE_HEAP_SIBLING_DEFAULT_MIB=48 (image redis:7 is not in the footprint catalogue)"
        )
        assert notices == []

    def test_override_by_name_comes_with_the_guess(self) -> None:
        """NODE_HEAP_SIBLING_MIB by container name gives an override; the guess is still there to lose."""
        estimates, _ = estimate_siblings([tmds("log_router", FLUENT_BIT)], (("log_router", 96),), 64)
        assert [(e.mib, e.rule, e.where) for e in estimates] == [
            (96, Rule.OVERRIDE, "NODE_HEAP_SIBLING_MIB log_router=96"),
            (100, Rule.CATALOGUE, estimates[1].where),
        ]

    def test_override_by_catalogue_key_for_the_service_connect_proxy(self) -> None:
        """ECS picks the proxy's name, so the key `service-connect` pins it; the pin shown uses the key."""
        proxy = ContainerFacts(
            "ecs-service-connect-Xg7Ld2",
            tmds=ContainerMetadata("ecs-service-connect-Xg7Ld2", "NORMAL", None, SC_IMAGE, "RUNNING"),
            added_by_ecs=True,
        )
        estimates, notices = estimate_siblings([proxy], (("service-connect", 128),), 64)
        assert [(e.mib, e.rule, e.pin) for e in estimates] == [
            (128, Rule.OVERRIDE, "service-connect=<MiB>"),
            (64, Rule.CATALOGUE, "service-connect=<MiB>"),
        ]
        assert estimates[1].where.startswith(
            f"footprint catalogue 'service-connect' (image {SC_IMAGE}), added by ECS (not in the task definition): "
        )
        assert notices == []

    def test_container_name_wins_over_the_catalogue_key(self) -> None:
        """A pair naming the container beats one naming its catalogue entry."""
        estimates, notices = estimate_siblings(
            [tmds("log_router", FLUENT_BIT)], (("fluent-bit", 200), ("log_router", 80)), 64
        )
        assert estimates[0].mib == 80
        assert notices == [
            Notice(
                "sibling_override_unused",
                "NODE_HEAP_SIBLING_MIB names 'fluent-bit', which match no container beside Node "
                "(beside Node: log_router)",
            )
        ]

    def test_unused_override(self) -> None:
        """A pair that names no container beside Node is reported, with the containers there are."""
        _, notices = estimate_siblings([], (("xray", 32), ("envoy", 64)), 64)
        assert notices == [
            Notice(
                "sibling_override_unused",
                "NODE_HEAP_SIBLING_MIB names 'xray', 'envoy', which match no container beside Node (beside Node: none)",
            )
        ]

    def test_firelens_type_from_the_task_definition(self) -> None:
        """A log router on a private image is recognised by its firelensConfiguration."""
        router = ContainerFacts(
            "log_router",
            defined=ContainerSpec("log_router", None, None, "123.dkr.ecr.x/logs:1", firelens_type="fluentbit"),
        )
        estimates, _ = estimate_siblings([router], (), 64)
        assert (estimates[0].mib, estimates[0].rule) == (100, Rule.CATALOGUE)


class TestGuessNotices:
    def test_one_warning_per_guess_naming_the_setting(self) -> None:
        """Only containers counted for a guess are warned about, each with its NODE_HEAP_SIBLING_MIB pair."""
        guess = Candidate(Kind.SIDECAR_FOOTPRINT, Origin.CATALOGUE, 100 * MIB, "catalogue", "log_router")
        limit = Candidate(Kind.SIDECAR_LIMIT, Origin.TMDS, 64 * MIB, "TMDS", "envoy")
        counted = (Verdict(guess, Outcome.SUBTRACTED, "x"), Verdict(limit, Outcome.SUBTRACTED, "x"))
        estimates = [
            SiblingEstimate(
                "log_router", 100, Rule.CATALOGUE, "catalogue", "the known footprint of Fluent Bit", "log_router=<MiB>"
            ),
            SiblingEstimate("envoy", 64, Rule.CATALOGUE, "catalogue", "the known footprint of Envoy", "envoy=<MiB>"),
        ]
        assert guess_notices(counted, estimates) == [
            Notice(
                "sidecar_unbounded",
                "container 'log_router' has neither a hard limit nor a reservation: counted 100 MiB, the known "
                "footprint of Fluent Bit; give it a memory limit, or set NODE_HEAP_SIBLING_MIB=log_router=<MiB> "
                "to what it holds",
            )
        ]
