"""A Decision rendered for people and machines: the env file's text, the `decision` log event, EMF, and
`explain`. Pure rendering: nothing here decides."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sidecar import __version__
from sidecar.outputs.emf import render_emf
from sidecar.outputs.envfile import render_env_file
from sidecar.sizing.budget import COUNTED_AS
from sidecar.sizing.candidates import Kind
from sidecar.sizing.decide import Decision
from sidecar.sources.report import SourceReport
from sidecar.text import size_text
from sidecar.units import MIB, floor_mib


def env_file_text(decision: Decision) -> str:
    """The env file for a decision: its flags, headed by comments saying where they came from."""
    return render_env_file(decision.plan.flags if decision.plan is not None else (), _comments(decision))


def _comments(decision: Decision) -> list[str]:
    lines = [f"node-heap-sidecar {__version__}, generated - do not edit (the decision is logged as event decision)"]
    ident = decision.identity
    if ident.family:
        lines.append(f"task {ident.family} revision {ident.revision}, container {decision.target}")
    if decision.plan is None:
        lines.append(f"no heap flag - {decision.budget.arithmetic}")
        return lines
    plan = decision.plan
    lines.append(f"memory {plan.memory_mib} MiB from {decision.budget.arithmetic}")
    lines.append(
        f"old space {plan.heap_mib} MiB per isolate x {plan.processes} ({plan.binding}), "
        f"semi-space {plan.semi_space_mib} MiB, {plan.profile.label}"
    )
    lines.append("kept back " + ", ".join(f"{c.name} {c.mib} MiB" for c in plan.components if c.mib))
    lines.append(f"use  . {decision.env_file} && exec node app.js   or   node --env-file {decision.env_file} app.js")
    return lines


def decision_record(decision: Decision, reports: Sequence[SourceReport] = ()) -> dict[str, Any]:
    """Every key figure and how it was reached, as flat-ish JSON (the canonical `decision` line)."""
    budget, plan = decision.budget, decision.plan
    chosen = budget.chosen
    record: dict[str, Any] = {
        "status": decision.status.value,
        "container": decision.target,
        "container_reason": decision.target_reason,
        **asdict(decision.identity),
        "memory_mib": decision.memory_mib,
        "memory_origin": chosen.candidate.origin.value if chosen else None,
        "memory_where": chosen.candidate.where if chosen else None,
        "memory_rule": chosen.reason if chosen else None,
        "memory_arithmetic": budget.arithmetic,
        "sidecars": [
            {
                "container": v.candidate.container,
                "counted_mib": floor_mib(v.candidate.value_bytes or 0),
                "counted_as": v.candidate.kind.value,
                "guess": v.candidate.kind is Kind.SIDECAR_FOOTPRINT,
                "origin": v.candidate.origin.value,
                "where": v.candidate.where,
                "reason": v.reason,
            }
            for v in budget.sidecars
        ],
        "sidecars_not_counted": [{"container": name, "reason": why} for name, why in decision.not_beside],
        "heap_mib": plan.heap_mib if plan else None,
        "heap_rule": plan.binding if plan else None,
        "fit_mib": plan.fit_mib if plan else None,
        "semi_space_mib": plan.semi_space_mib if plan else None,
        "semi_space_rule": plan.semi_space_rule if plan else None,
        "node_semi_space_mib": plan.node_semi_space_mib if plan else None,
        "young_mib": plan.young_mib if plan else None,
        "processes": plan.processes if plan else None,
        "kept_back_mib": plan.kept_back_mib if plan else None,
        "kept_back": [{"name": c.name, "mib": c.mib, "origin": c.origin} for c in plan.components] if plan else [],
        "smallest_memory_mib": plan.smallest_memory_mib if plan else None,
        "node_options_added": " ".join(plan.flags) if plan else "",
        "task_cpu_vcpus": decision.task_cpu_vcpus,
        "container_cpu_units": decision.container_cpu_units,
        "node_version": decision.node_version,
        "node_version_origin": decision.node_version_origin,
        "node_profile": plan.profile.label if plan else None,
        "app_heap_flags": decision.pins.text or None,
        "app_heap_flags_origin": decision.pins_origin,
        "env_file": str(decision.env_file),
        "sources": [
            {"source": r.source, "status": r.status.value, "detail": r.detail, "elapsed_ms": r.elapsed_ms}
            for r in reports
        ],
        "candidates": [
            {
                "kind": v.candidate.kind.value,
                "origin": v.candidate.origin.value,
                "container": v.candidate.container,
                "value_bytes": v.candidate.value_bytes,
                "where": v.candidate.where,
                "outcome": v.outcome.value,
                "reason": v.reason,
            }
            for v in budget.judgements
        ],
        "warnings": [{"code": n.code, "text": n.text} for n in decision.notices],
    }
    return record


def emf_members(decision: Decision, namespace: str, timestamp_ms: int) -> dict[str, Any]:
    """The EMF part of the decision event: memory, heap and what was kept back, in bytes."""
    plan = decision.plan
    if decision.budget.memory_bytes is None or plan is None:
        return {}
    metrics: dict[str, tuple[float | int, str]] = {
        "ContainerMemoryBytes": (decision.budget.memory_bytes, "Bytes"),
        "KeptBackBytes": (plan.kept_back_mib * MIB, "Bytes"),
        "Processes": (plan.processes, "Count"),
    }
    if plan.heap_mib is not None:
        metrics["HeapLimitBytes"] = (plan.heap_mib * MIB, "Bytes")
    dimensions = {
        "Cluster": decision.identity.cluster,
        "TaskFamily": decision.identity.family,
        "Container": decision.target,
    }
    return render_emf(namespace, dimensions, metrics, timestamp_ms)


def render_explain(decision: Decision, reports: Sequence[SourceReport] = ()) -> str:
    """The decision as a readable report (what `python -m sidecar explain` prints)."""
    out: list[str] = [f"node-heap-sidecar {__version__}: explain (nothing is written)", ""]
    ident = decision.identity
    if ident.task_arn:
        out.append(f"Task       {ident.task_arn}")
        family = f"{ident.family}:{ident.revision}" if ident.family else "family unknown"
        out.append(
            f"           {ident.launch_type or 'launch type unknown'}, cluster {ident.cluster or 'unknown'}, {family}"
        )
    out.append(f"Container  {decision.target or '(unknown)'}  ({decision.target_reason})")
    out += ["", "Sources"]
    for r in reports:
        out.append(f"  {r.source:<17} {r.status.value:<8} {r.detail} ({r.elapsed_ms} ms)")
    out += ["", "Memory candidates"]
    for v in decision.budget.judgements:
        c = v.candidate
        value = size_text(c.value_bytes)
        who = f" [{c.container}]" if c.container else ""
        out.append(f"  {v.outcome.value:<13} {value:>12}  {c.kind.value}{who} from {c.origin.value}")
        out.append(f"  {'':<13} {'':>12}  {c.where}: {v.reason}")
    if decision.budget.sidecars or decision.not_beside:
        out += ["", "Beside Node (what each container is counted for, and why)"]
        for v in decision.budget.sidecars:
            c = v.candidate
            out.append(f"  {c.container or '':<24} {size_text(c.value_bytes or 0):>12}  {COUNTED_AS[c.kind]}")
            out.append(f"  {'':<24} {'':>12}  {c.where}")
        for name, why in decision.not_beside:
            out.append(f"  {name:<24} {'not counted':>12}  {why}")
    out += [
        "",
        f"Memory     {size_text(decision.budget.memory_bytes, none='none')}",
    ]
    out.append(f"           {decision.budget.arithmetic}")
    out.append(f"CPU        {_cpu(decision)}")
    plan = decision.plan
    if plan is not None:
        out += ["", f"Heap plan  {plan.profile.label} ({decision.node_version_origin})"]
        for component in plan.components:
            out.append(f"  - {component.name:<32} {component.mib:>7} MiB   {component.origin}")
        heap = "unknown" if plan.heap_mib is None else f"{plan.heap_mib} MiB"
        out.append(f"  = {'old space per isolate':<32} {heap:>11}   {plan.binding}")
        out.append(f"    {'semi-space':<32} {plan.semi_space_mib or 'V8 default'!s:>7} MiB   {plan.semi_space_rule}")
        if decision.pins.text:
            out.append(f"  app's own heap flags: {decision.pins.text} ({decision.pins_origin})")
        out.append(f"Flags      {' '.join(plan.flags) or '(none)'}")
    if decision.notices:
        out += ["", "Warnings"]
        out += [f"  {n.code}: {n.text}" for n in decision.notices]
    out += ["", f"Env file   {decision.env_file} would contain:"]
    out += [f"  | {line}" for line in env_file_text(decision).splitlines()]
    return "\n".join(out) + "\n"


def _cpu(decision: Decision) -> str:
    task = "task: not reported" if decision.task_cpu_vcpus is None else f"task {decision.task_cpu_vcpus:g} vCPU"
    units = decision.container_cpu_units
    container = "" if units is None else f", container {units} CPU units ({units / 1024:.3g} vCPU, a share)"
    if units is not None and units <= 2:  # what the agent reports for a container without CPU units
        container = f", container {units} CPU units (none set)"
    return f"{task}{container} (task metadata Limits.CPU; logged, no flag follows it)"
