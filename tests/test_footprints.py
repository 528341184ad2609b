"""The footprint catalogue: which sidecar images are known, and what each is counted for."""

from __future__ import annotations

import re

import pytest

from sidecar.sizing.footprints import CATALOGUE, find_footprint, is_service_connect_proxy

MIB = 1 << 20
FLUENT_BIT = "906394416424.dkr.ecr.us-west-2.amazonaws.com/aws-for-fluent-bit:stable"  # FireLens docs
SC_IMAGE = "ecs-service-connect-agent:interface-v1"  # the agent's `%s:interface-%s`


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
