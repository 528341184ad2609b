"""Tests for sidecar.sizing.siblings: the footprint catalogue, overrides and the `sidecar_unbounded` warning.

Image names are the ones the vendors publish (FireLens docs, AWS CloudFormation templates, Docker
Hub and ECR Public names); the Service Connect proxy's image and name are the ECS agent's
(aws/amazon-ecs-agent agent/engine/serviceconnect/manager_linux.go) and ECS's (`ecs-service-connect-<id>`).
Expected figures are the catalogue's own declared values, written out by hand.
"""

from __future__ import annotations

from sidecar.notices import Notice
from sidecar.sizing.candidates import Candidate, Judgement, Kind, Origin, Outcome
from sidecar.sizing.containers import ContainerFacts
from sidecar.sizing.siblings import (
    Rule,
    SiblingEstimate,
    estimate_siblings,
    guess_notices,
)
from sidecar.sources.ecs_api import ContainerSpec
from sidecar.sources.metadata import ContainerMetadata

MIB = 1 << 20
FLUENT_BIT = "906394416424.dkr.ecr.us-west-2.amazonaws.com/aws-for-fluent-bit:stable"  # FireLens docs
SC_IMAGE = "ecs-service-connect-agent:interface-v1"  # the agent's `%s:interface-%s`


def tmds(name: str, image: str | None) -> ContainerFacts:
    return ContainerFacts(name, tmds=ContainerMetadata(name, "NORMAL", None, image, "RUNNING"))


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
        counted = (Judgement(guess, Outcome.SUBTRACTED, "x"), Judgement(limit, Outcome.SUBTRACTED, "x"))
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
