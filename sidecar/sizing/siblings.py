"""What a container beside Node is counted for when its own memory settings do not say.

The budget (sizing/budget.py) counts each long-running container beside Node, in order:
NODE_HEAP_SIBLING_MIB (the user's figure), its hard limit, its reservation, else a guess from here:
the footprint of a well-known sidecar image (sizing/footprints.py), else
NODE_HEAP_SIBLING_DEFAULT_MIB. A guess is always reported (`sidecar_unbounded`) with the setting
that replaces it. Pure.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sidecar.notices import Notice
from sidecar.sizing.candidates import Judgement, Kind
from sidecar.sizing.footprints import SERVICE_CONNECT, find_footprint

if TYPE_CHECKING:
    from sidecar.sizing.containers import ContainerFacts

SETTING = "NODE_HEAP_SIBLING_MIB"
DEFAULT_SETTING = "NODE_HEAP_SIBLING_DEFAULT_MIB"


class Rule(enum.Enum):
    """Where a sibling's figure comes from when it is not its own memory setting."""

    OVERRIDE = "override"  # NODE_HEAP_SIBLING_MIB: wins over the container's own settings
    CATALOGUE = "catalogue"  # a known image's footprint (a guess)
    DEFAULT = "default"  # NODE_HEAP_SIBLING_DEFAULT_MIB (a guess)


@dataclass(frozen=True, slots=True)
class SiblingEstimate:
    """A figure for a container beside Node that does not come from its own memory settings."""

    container: str
    mib: int
    rule: Rule
    where: str  # the setting, or the catalogue entry and its source (a candidate's `where`)
    summary: str  # what the figure is, for the `sidecar_unbounded` warning
    pin: str  # the NODE_HEAP_SIBLING_MIB pair that replaces it, e.g. `log_router=<MiB>`


def estimate_siblings(
    others: Sequence[ContainerFacts], overrides: Sequence[tuple[str, int]], default_mib: int
) -> tuple[list[SiblingEstimate], list[Notice]]:
    """For each container beside Node: the user's figure if any, and the guess used without a memory setting.

    An override key is a container name or a catalogue key (`service-connect`: ECS picks that
    container's name). Keys that match no container beside Node are reported, not fatal: one
    settings value may serve task definitions with different sidecars.
    """
    given = dict(overrides)
    used: set[str] = set()
    estimates: list[SiblingEstimate] = []
    for facts in others:
        found = find_footprint(facts.name, facts.image, facts.firelens_type)
        entry, matched = found if found is not None else (None, "")
        keys = [facts.name] + ([entry.key] if entry is not None else [])
        key = next((k for k in keys if k in given), None)
        pin = f"{entry.key if entry is not None and entry.key == SERVICE_CONNECT else facts.name}=<MiB>"
        if key is not None:
            used.add(key)
            estimates.append(
                SiblingEstimate(
                    facts.name, given[key], Rule.OVERRIDE, f"{SETTING} {key}={given[key]}", "given by the user", pin
                )
            )
        added = ", added by ECS (not in the task definition)" if facts.added_by_ecs else ""
        if entry is not None:
            estimates.append(
                SiblingEstimate(
                    facts.name,
                    entry.mib,
                    Rule.CATALOGUE,
                    f"footprint catalogue {entry.key!r} ({matched}){added}: {entry.evidence} [{entry.source}]",
                    f"the known footprint of {entry.product}",
                    pin,
                )
            )
        else:
            estimates.append(
                SiblingEstimate(
                    facts.name,
                    default_mib,
                    Rule.DEFAULT,
                    f"{DEFAULT_SETTING}={default_mib} (image {facts.image or 'unknown'} is not in the "
                    f"footprint catalogue){added}",
                    f"{DEFAULT_SETTING} (its image is not in the footprint catalogue)",
                    pin,
                )
            )
    notices = []
    unused = [key for key in given if key not in used]
    if unused:
        beside = ", ".join(f.name for f in others) or "none"
        notices.append(
            Notice(
                "sibling_override_unused",
                f"{SETTING} names {', '.join(map(repr, unused))}, which match no container beside Node "
                f"(beside Node: {beside})",
            )
        )
    return estimates, notices


def guess_notices(counted: Sequence[Judgement], estimates: Sequence[SiblingEstimate]) -> list[Notice]:
    """A `sidecar_unbounded` warning for each container counted with a guess, naming the setting to give."""
    guesses = {e.container: e for e in estimates if e.rule is not Rule.OVERRIDE}
    notices = []
    for verdict in counted:
        name = verdict.candidate.container
        if verdict.candidate.kind is not Kind.SIDECAR_FOOTPRINT or name not in guesses:
            continue
        guess = guesses[name]
        notices.append(
            Notice(
                "sidecar_unbounded",
                f"container {name!r} has neither a hard limit nor a reservation: counted {guess.mib} MiB, "
                f"{guess.summary}; give it a memory limit, or set {SETTING}={guess.pin} to what it holds",
            )
        )
    return notices
