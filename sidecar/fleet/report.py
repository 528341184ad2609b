"""The audit's outputs: a table for people, a JSON list for machines, EMF lines for CloudWatch.

The JSON list has one object per Node container found (`record`); its keys are an interface:
`cluster`, `service` (or `task` for a standalone task), `task_definition`, `container`, `verdict`
(`protected`, `at-risk`, `ok`), `reasons` (one line each, worst first), `oom_kills`, then details.
EMF (outputs/emf.py): one line per container with dimensions Cluster, Service, Container and the
metrics OomKills, AtRisk, Protected, ContainerMemoryBytes and PlannedHeapBytes, plus one fleet line
without dimensions (NodeContainers, AtRisk, Protected, OomKills) that names the window the stopped
tasks were counted in (`window_start`, `window_end`; the timestamp is its end). Pure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sidecar.fleet.assess import Assessment, Verdict
from sidecar.fleet.evidence import Exit
from sidecar.notices import Severity
from sidecar.outputs.emf import render_emf
from sidecar.units import mib


@dataclass(frozen=True, slots=True)
class Summary:
    clusters: int
    services: int
    standalone_tasks: int
    stopped_tasks: int
    task_definitions: int
    api_calls: int
    http_attempts: int
    elapsed_s: float
    window: str
    errors: tuple[str, ...]


def short(arn: str) -> str:
    """`arn:aws:ecs:...:cluster/prod` -> `prod`; `...:task-definition/api:7` -> `api:7`."""
    return arn.rsplit("/", 1)[-1] if arn.startswith("arn:") else arn


def record(a: Assessment) -> dict[str, Any]:
    """The JSON object for one Node container."""
    plan, budget, evidence = a.sizing.plan, a.sizing.budget, a.evidence
    out: dict[str, Any] = {
        "cluster": short(a.subject.cluster),
        "service": a.subject.service,
        "task_definition": a.subject.task_definition,
        "container": a.container,
        "verdict": a.verdict.value,
        "reasons": [f"{f.severity.label}: {f.text}" for f in a.findings],
        "oom_kills": a.oom_kills,
    }
    if a.subject.task is not None:
        out["task"] = a.subject.task
    out.update(
        {
            "findings": [{"code": f.code, "severity": f.severity.label, "text": f.text} for f in a.findings],
            "recognised_by": list(a.recognition.evidence),
            "launch_type": a.subject.launch_type,
            "memory_mib": a.sizing.memory_mib,
            "memory_arithmetic": budget.arithmetic,
            "node_sees": a.node_sees,
            "node": a.sizing.profile.label,
            "plan": None
            if plan is None
            else {
                "heap_mib": plan.heap_mib,
                "semi_space_mib": plan.semi_space_mib,
                "fit_mib": plan.fit_mib,
                "processes": plan.processes,
                "node_options": " ".join(plan.flags),
                "rule": plan.binding,
            },
            "sidecar": None
            if a.wiring.init is None
            else {
                "init_container": a.wiring.init.init,
                "env_file": a.wiring.env_file,
                "mode": a.wiring.mode.value if a.wiring.mode is not None else None,
                "missing": list(a.wiring.problems),
            },
            "stopped_tasks": {
                "tasks": evidence.stopped_tasks if evidence else 0,
                **{kind.value: (evidence.count(kind) if evidence else 0) for kind in Exit},
            },
        }
    )
    return out


def render_json(assessments: Sequence[Assessment]) -> str:
    return json.dumps([record(a) for a in assessments], indent=2) + "\n"


def render_table(assessments: Sequence[Assessment], summary: Summary, *, detail: Severity = Severity.INFO) -> str:
    """One row per Node container, its reasons (at least `detail`) beneath it, then the totals."""
    header = ("CLUSTER", "SERVICE / TASK", "CONTAINER", "VERDICT", "OOM", "MEMORY", "NODE SEES", "SIDECAR PLAN")
    rows = []
    for a in assessments:
        plan = a.sizing.plan
        rows.append(
            (
                short(a.subject.cluster),
                a.subject.service or short(a.subject.task or ""),
                a.container,
                a.verdict.value,
                str(a.oom_kills),
                f"{a.sizing.memory_mib} MiB" if a.sizing.memory_mib is not None else "no limit",
                "own limit" if a.node_sees.startswith("its own") else "host memory",
                " ".join(plan.flags) if plan is not None and plan.flags else "-",
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)).rstrip()]
    for a, row in zip(assessments, rows, strict=True):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        lines += [f"    - {f.severity.label}: {f.text}" for f in a.findings if f.severity >= detail]
    counts = {v: sum(1 for a in assessments if a.verdict is v) for v in Verdict}
    lines.append("")
    lines.append(
        f"{_n(len(assessments), 'Node container')} in {_n(summary.services, 'service')}"
        + (f" and {_n(summary.standalone_tasks, 'standalone task')}" if summary.standalone_tasks else "")
        + f" of {_n(summary.clusters, 'cluster')}: {counts[Verdict.AT_RISK]} at-risk, {counts[Verdict.PROTECTED]} "
        f"protected, {counts[Verdict.OK]} ok; {_n(sum(a.oom_kills for a in assessments), 'OOM kill')} in "
        f"{_n(summary.stopped_tasks, 'stopped task')} (last {summary.window})"
    )
    lines.append(
        f"{_n(summary.api_calls, 'API call')} ({_n(summary.http_attempts, 'HTTP request')}), "
        f"{_n(summary.task_definitions, 'task definition')}, {summary.elapsed_s:.1f} s"
    )
    lines += [f"could not read: {error}" for error in summary.errors]
    return "\n".join(lines) + "\n"


def render_emf_lines(
    assessments: Sequence[Assessment],
    namespace: str,
    timestamp_ms: int,
    *,
    window: tuple[datetime, datetime] | None = None,
) -> str:
    """One EMF JSON line per Node container, then one for the fleet (with `window`, when given)."""
    lines = []
    for a in assessments:
        plan = a.sizing.plan
        metrics: dict[str, tuple[float | int, str]] = {
            "OomKills": (a.oom_kills, "Count"),
            "AtRisk": (int(a.verdict is Verdict.AT_RISK), "Count"),
            "Protected": (int(a.verdict is Verdict.PROTECTED), "Count"),
        }
        if a.sizing.budget.memory_bytes is not None:
            metrics["ContainerMemoryBytes"] = (a.sizing.budget.memory_bytes, "Bytes")
        if plan is not None and plan.heap_mib is not None:
            metrics["PlannedHeapBytes"] = (mib(plan.heap_mib), "Bytes")
        dimensions = {
            "Cluster": short(a.subject.cluster),
            "Service": a.subject.service or short(a.subject.task or ""),
            "Container": a.container,
        }
        line = {"event": "audit_finding", **record(a)}
        line.update(render_emf(namespace, dimensions, metrics, timestamp_ms))
        lines.append(json.dumps(line))
    fleet = {
        "NodeContainers": (len(assessments), "Count"),
        "AtRisk": (sum(a.verdict is Verdict.AT_RISK for a in assessments), "Count"),
        "Protected": (sum(a.verdict is Verdict.PROTECTED for a in assessments), "Count"),
        "OomKills": (sum(a.oom_kills for a in assessments), "Count"),
    }
    summary: dict[str, Any] = {"event": "audit_summary"}
    if window is not None:
        summary |= {"window_start": f"{window[0]:%Y-%m-%dT%H:%M:%SZ}", "window_end": f"{window[1]:%Y-%m-%dT%H:%M:%SZ}"}
    lines.append(json.dumps({**summary, **render_emf(namespace, {}, fleet, timestamp_ms)}))
    return "\n".join(lines) + "\n"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
