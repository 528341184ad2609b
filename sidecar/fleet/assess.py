"""One Node container's verdict: protected by this sidecar, at risk, or ok, with every reason.

Rules, each a finding with a severity (`--fail-on` compares against it):
- critical: OOM-killed tasks in the window; a heap the app pins at or above the container's memory;
  Node unable to see its limit (no container-level `memory`: libuv reads only the container's own
  cgroup, so a task limit on the parent is invisible, and a reservation is a soft limit cgroup v2
  does not show) while Node's default heap may outgrow what fits; Node's default heap not fitting
  a limit it does see (below ~512 MiB: it never goes under 256 MiB of old space); a container too
  small for any useful heap; containers beside Node taking all of the task; sidecar wiring that
  keeps the flags from reaching Node; init settings the init job would refuse.
- warning: a pinned heap larger than what fits; cluster workers or pm2 instances that each get a
  full heap; a container beside Node with no memory figure; no limit at all; exit codes 137
  (unexplained), 134 and 139 in the window.
- info: 137 explained by `stopTimeout`; wiring details (read-only mount, exec, initProcessEnabled,
  blocking logs); what the sidecar plans or would plan.
Verdict: at-risk when any finding is a warning or worse; else protected when wired correctly; else ok.
Node's default heap (research/node-heap.md section 1, V8 `Heap::HeapSizeFromPhysicalMemory`): old
space = half the memory it sees, at least 256 MiB, at most 2048 MiB (4096 MiB from 15 GiB). Pure.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sidecar.fleet.evidence import Evidence, Exit
from sidecar.fleet.recognize import Recognition, cluster_hints
from sidecar.fleet.sizing import Sizing
from sidecar.fleet.wiring import Wiring
from sidecar.notices import Notice, Severity
from sidecar.outputs.envfile import Reads, env_file_too_old

NODE_DEFAULT_MIN_OLD_MIB = 256
NODE_DEFAULT_MAX_OLD_MIB = 2048
NODE_DEFAULT_HUGE_OLD_MIB = 4096
NODE_DEFAULT_HUGE_FROM_MIB = 15 * 1024


class Verdict(enum.Enum):
    PROTECTED = "protected"
    AT_RISK = "at-risk"
    OK = "ok"


@dataclass(frozen=True, slots=True)
class Subject:
    """Where a container runs: a service's current task definition, or a standalone task."""

    cluster: str
    service: str | None
    task: str | None
    task_definition: str
    launch_type: str | None


@dataclass(frozen=True, slots=True)
class Assessment:
    subject: Subject
    container: str
    recognition: Recognition
    verdict: Verdict
    findings: tuple[Notice, ...]
    sizing: Sizing
    wiring: Wiring
    evidence: Evidence | None
    node_sees: str

    @property
    def oom_kills(self) -> int:
        return self.evidence.count(Exit.OOM_KILLED) if self.evidence else 0

    @property
    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)


def node_default_old_space_mib(visible_mib: int) -> int:
    """The old space Node picks by itself from the memory it sees (64-bit, no flag)."""
    cap = NODE_DEFAULT_HUGE_OLD_MIB if visible_mib >= NODE_DEFAULT_HUGE_FROM_MIB else NODE_DEFAULT_MAX_OLD_MIB
    return min(max(visible_mib // 2, NODE_DEFAULT_MIN_OLD_MIB), cap)


def assess_container(
    subject: Subject,
    containers: Sequence[Mapping[str, Any]],
    name: str,
    *,
    recognition: Recognition,
    sizing: Sizing,
    wiring: Wiring,
    evidence: Evidence | None,
    window: str,
) -> Assessment:
    """The verdict for container `name` of a task definition (its raw `containerDefinitions`)."""
    definition = next(c for c in containers if c.get("name") == name)
    findings: list[Notice] = []
    protected = wiring.correct and sizing.settings_problem is None
    findings += _evidence_findings(evidence, window)
    findings += _wiring_findings(wiring, sizing)
    findings += _budget_findings(sizing)
    sees, visibility = _visibility(sizing, protected)
    findings += visibility
    findings += _pin_findings(sizing)
    findings += _worker_findings(definition, sizing, wiring)
    findings += _plan_findings(sizing, protected, wiring)
    worst = max((f.severity for f in findings), default=Severity.INFO)
    if worst >= Severity.WARNING:
        verdict = Verdict.AT_RISK
    elif protected:
        verdict = Verdict.PROTECTED
    else:
        verdict = Verdict.OK
    order = sorted(findings, key=lambda f: -f.severity)
    return Assessment(subject, name, recognition, verdict, tuple(order), sizing, wiring, evidence, sees)


def _evidence_findings(evidence: Evidence | None, window: str) -> list[Notice]:
    if evidence is None:
        return []
    found: list[Notice] = []
    of = f"of {evidence.stopped_tasks} stopped tasks in the last {window}"
    rules = (
        (Exit.OOM_KILLED, Severity.CRITICAL, "oom_killed", "OOM-killed"),
        (Exit.KILLED, Severity.WARNING, "killed", "killed (exit 137) without an OOM reason or a stop"),
        (Exit.ABORTED, Severity.WARNING, "aborted", "ended with exit 134"),
        (Exit.SEGFAULT, Severity.WARNING, "segfault", "ended with exit 139"),
        (Exit.KILLED_AT_STOP_TIMEOUT, Severity.INFO, "killed_at_stop_timeout", "killed at stopTimeout (exit 137)"),
    )
    for kind, severity, code, what in rules:
        count = evidence.count(kind)
        if count:
            found.append(Notice(code, f"{count} {of} {what}: {evidence.example[kind]}", severity))
    return found


def _wiring_findings(wiring: Wiring, sizing: Sizing) -> list[Notice]:
    found = [Notice("wiring", f"sidecar wiring: {problem}", Severity.CRITICAL) for problem in wiring.problems]
    if wiring.init is not None and sizing.settings_problem is not None:
        found.append(
            Notice(
                "init_settings_invalid",
                f"{wiring.init.init!r}'s settings are invalid, the init job exits 2 and Node never starts: "
                f"{sizing.settings_problem}",
                Severity.CRITICAL,
            )
        )
    if wiring.init is not None and wiring.init.settings is not None:
        found += [  # what the init job itself would warn about its settings (an unknown NODE_HEAP_* name)
            Notice(w.code, f"{wiring.init.init!r}: {w.text}", Severity.WARNING) for w in wiring.init.settings.warnings
        ]
    found += [Notice("wiring_advice", advice, Severity.INFO) for advice in wiring.advice]
    return found


def _budget_findings(sizing: Sizing) -> list[Notice]:
    found = list(sizing.budget.warnings)
    if sizing.plan is not None:
        found += [
            notice
            for notice in sizing.plan.warnings
            if not (notice.code == "heap_pin_does_not_fit" and _pin_at_or_above_memory(sizing))
        ]
    if sizing.budget.memory_bytes is None:
        found.append(
            Notice(
                "no_limit",
                "no hard memory limit at all (no container `memory`, no task `memory`): the container can take "
                "the instance's memory and Node sizes its heap from it",
                Severity.WARNING,
            )
        )
    return found


def _visibility(sizing: Sizing, protected: bool) -> tuple[str, list[Notice]]:
    spec, plan = sizing.spec, sizing.plan
    if spec.memory_mib is not None:
        sees = f"its own limit {spec.memory_mib} MiB"
        if protected or plan is None or sizing.pins.pins_old_space:
            return sees, []
        default = node_default_old_space_mib(spec.memory_mib)
        if default > plan.fit_mib:
            return sees, [
                Notice(
                    "node_default_does_not_fit",
                    f"Node's own default old space ({default} MiB: half of {spec.memory_mib} MiB, at least "
                    f"{NODE_DEFAULT_MIN_OLD_MIB}) is more than the {plan.fit_mib} MiB that fit: it thrashes or is "
                    "killed at the limit before V8 stops it",
                    Severity.CRITICAL,
                )
            ]
        return sees, []
    reservation = f", only a reservation of {spec.reservation_mib} MiB" if spec.reservation_mib else ""
    sees = "the host's memory (no container-level memory" + reservation + ")"
    if protected or plan is None or sizing.pins.pins_old_space:
        return sees, []
    if plan.fit_mib >= NODE_DEFAULT_HUGE_OLD_MIB:
        return sees, []
    return sees, [
        Notice(
            "no_visible_limit",
            f"Node cannot see its {plan.memory_mib} MiB ({sizing.budget.arithmetic}): with no container-level "
            "`memory` it sizes its heap from the host's memory (a task limit sits on a parent cgroup Node does "
            f"not read{_RESERVATION if spec.reservation_mib else ''}), up to {NODE_DEFAULT_HUGE_OLD_MIB} MiB of "
            f"old space, while {plan.fit_mib} MiB fit",
            Severity.CRITICAL,
        )
    ]


_RESERVATION = (
    "; its reservation is a soft limit, which cgroup v2 (Amazon Linux 2023, Bottlerocket) does not show "
    "to Node, while on cgroup v1 Node 20.3+ sizes its heap from it"
)


def _pin_at_or_above_memory(sizing: Sizing) -> bool:
    plan = sizing.plan
    return (
        plan is not None
        and plan.heap_mib is not None
        and sizing.pins.pins_old_space
        and plan.heap_mib >= plan.memory_mib
    )


def _pin_findings(sizing: Sizing) -> list[Notice]:
    plan = sizing.plan
    if not _pin_at_or_above_memory(sizing) or plan is None:
        return []
    return [
        Notice(
            "heap_pin_above_memory",
            f"the app pins {sizing.pins.text} in NODE_OPTIONS: {plan.heap_mib} MiB of old space, at or above the "
            f"{plan.memory_mib} MiB the container has ({sizing.budget.arithmetic}); the kernel kills Node before "
            f"V8 stops it ({plan.fit_mib} MiB fit)",
            Severity.CRITICAL,
        )
    ]


def _worker_findings(definition: Mapping[str, Any], sizing: Sizing, wiring: Wiring) -> list[Notice]:
    hints = cluster_hints(definition)
    if not hints:
        return []
    processes = sizing.settings.processes if sizing.settings is not None else 1
    if wiring.init is not None and processes > 1:
        return [
            Notice(
                "workers",
                f"several Node processes ({', '.join(hints)}); NODE_HEAP_PROCESSES={processes}",
                Severity.INFO,
            )
        ]
    fix = "set NODE_HEAP_PROCESSES on the init container" if wiring.init else "adopt it with NODE_HEAP_PROCESSES set"
    return [
        Notice(
            "workers",
            f"runs several Node processes ({', '.join(hints)}): each one gets a full-size heap; {fix}",
            Severity.WARNING,
        )
    ]


def _plan_findings(sizing: Sizing, protected: bool, wiring: Wiring) -> list[Notice]:
    plan = sizing.plan
    if plan is None:
        return []
    found: list[Notice] = []
    flags = " ".join(plan.flags) or "no flag"
    source = f"{plan.memory_mib} MiB ({sizing.budget.arithmetic}, {plan.profile.label})"
    if sizing.pins.pins_old_space:
        text = (
            f"the sidecar {'keeps' if protected else 'would keep'} the app's {sizing.pins.text} and "
            f"{'adds' if protected else 'would add'} {flags}; {plan.fit_mib} MiB of old space fit in {source}"
        )
    else:
        verb = "plans" if protected else "would plan"
        text = f"the sidecar {verb} {flags} ({plan.heap_mib} MiB old space) from {source}"
    found.append(Notice("plan", text, Severity.INFO))
    if wiring.mode is Reads.ENV_FILE and sizing.node_version is not None and env_file_too_old(sizing.node_version):
        major, minor = sizing.node_version
        found.append(
            Notice(
                "env_file_node_too_old",
                f"`node --env-file` cannot read the sidecar's file before Node 20.20 / 21.7; the image says "
                f"{major}{'.' + str(minor) if minor is not None else ''}",
                Severity.CRITICAL,
            )
        )
    return found
