"""`audit`: which Node containers of the fleet are at risk of an OOM kill, which are protected.

The data path: the ECS API (inventory.py) -> per Node container: recognition, wiring, the init
job's own budget and plan (sizing.py), the stopped tasks' evidence -> verdict (assess.py) ->
table, JSON or EMF (report.py). The table and JSON count the stopped tasks of the last `--since`;
EMF counts those of the last whole period (`metric_window`) and stamps its lines with the period's
end, so hourly runs with `--since 1h` count each stopped task in one datapoint. Exit status: 0; 10
when a finding at or above `--fail-on` exists; 11 when part of the fleet could not be read (the
report covers the rest); 2 for bad arguments.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from sidecar.errors import FINDINGS_EXIT, FleetApiError, SettingsError, SourceError
from sidecar.fleet.assess import Assessment, Subject, Verdict, assess_container
from sidecar.fleet.client import CallCounter, make_client
from sidecar.fleet.evidence import Evidence, GroupKey, collect_evidence, counted
from sidecar.fleet.images import ImageLookup, ImageReader
from sidecar.fleet.inventory import Inventory, fetch_inventory
from sidecar.fleet.progress import Progress
from sidecar.fleet.recognize import recognize
from sidecar.fleet.report import Summary, render_emf_lines, render_json, render_table, short
from sidecar.fleet.sizing import Sizing, parse_definition, size_container
from sidecar.fleet.wiring import Wiring, check_wiring
from sidecar.notices import Severity

INCOMPLETE_EXIT = FleetApiError.exit_code  # part of the fleet could not be read
FAIL_ON = {"critical": Severity.CRITICAL, "warning": Severity.WARNING, "info": Severity.INFO, "never": None}
_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class AuditOptions:
    clusters: tuple[str, ...] = ()
    standalone: bool = False
    since: str = "24h"
    fail_on: str = "critical"
    output: str = "table"  # table | json | emf
    namespace: str = "NodeHeapSidecar"
    concurrency: int = 8
    region: str | None = None
    endpoint_url: str | None = None
    retry_mode: str = "standard"
    max_attempts: int = 8
    progress: bool = True


def parse_duration(text: str, where: str = "--since") -> timedelta:
    """`24h`, `90m`, `2d`, `1h30m` -> a timedelta; SettingsError otherwise."""
    value = text.strip().lower()
    parts = _DURATION.findall(value)
    if not value or "".join(n + u for n, u in parts) != value or not parts:
        raise SettingsError([f"{where}={text!r}: expected a duration such as 24h, 90m or 2d"])
    return timedelta(seconds=sum(int(n) * _UNIT_S[u] for n, u in parts))


def metric_window(now: datetime, period: timedelta) -> tuple[datetime, datetime]:
    """The last whole period at or before `now`: `[end - period, end)`, `end` a multiple of `period` since
    1970-01-01 UTC (the top of the hour for 1h, midnight UTC for 1d).

    Windows of consecutive periods tile time, so a stopped task (by `stoppedAt`) is counted in one of
    them; a run that starts late, or a second run in the same period, gets the same window again.
    """
    seconds = int(period.total_seconds())
    end = datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, UTC)
    return end - period, end


def run_audit(
    options: AuditOptions,
    stdout: TextIO,
    stderr: TextIO,
    *,
    now: datetime,
    stderr_tty: bool,
    images: ImageReader | None = None,
) -> int:
    """Read the fleet, judge every Node container, print the report; the exit status says what was found."""
    window = parse_duration(options.since)
    if options.output == "emf" and window < timedelta(seconds=1):
        raise SettingsError([f"--since={options.since!r}: expected at least 1s with --emf"])
    if options.concurrency < 1:
        raise SettingsError([f"--concurrency={options.concurrency}: expected at least 1"])
    counter = CallCounter()
    client = make_client(
        region=options.region,
        endpoint_url=options.endpoint_url,
        retry_mode=options.retry_mode,
        max_attempts=options.max_attempts,
        pool_size=options.concurrency + 2,
        counter=counter,
    )
    started = time.monotonic()
    progress = Progress(stderr if options.progress else None, tty=stderr_tty)
    inventory = fetch_inventory(
        client,
        clusters=options.clusters,
        standalone=options.standalone,
        concurrency=options.concurrency,
        progress=progress,
    )
    since, until = metric_window(now, window) if options.output == "emf" else (now - window, None)
    label = options.since if until is None else f"{options.since} ending {_iso(until)}"
    lookups = images.read(_images_of(inventory)) if images is not None else {}
    assessments, problems = assess_inventory(inventory, since=since, until=until, window=label, lookups=lookups)
    errors = tuple(inventory.errors + problems)
    summary = Summary(
        clusters=len(inventory.clusters),
        services=len(inventory.services),
        standalone_tasks=len(inventory.standalone),
        stopped_tasks=sum(1 for t in inventory.stopped_tasks if counted(t, since, until)),
        task_definitions=len(inventory.task_definitions),
        api_calls=counter.calls,
        http_attempts=counter.attempts,
        elapsed_s=time.monotonic() - started,
        window=options.since,
        errors=errors,
    )
    if options.output == "json":
        stdout.write(render_json(assessments))
    elif until is not None:
        stdout.write(
            render_emf_lines(assessments, options.namespace, int(until.timestamp() * 1000), window=(since, until))
        )
    else:
        stdout.write(render_table(assessments, summary))
    if until is not None:
        stderr.write(f"audit: stopped tasks counted by stoppedAt in [{_iso(since)}, {_iso(until)})\n")
    if options.output != "table":
        stderr.write(
            f"audit: {len(assessments)} Node containers, {summary.api_calls} API calls "
            f"({', '.join(f'{op} {n}' for op, n in sorted(counter.operations.items()))}), {summary.elapsed_s:.1f} s\n"
        )
        stderr.writelines(f"audit: could not read: {error}\n" for error in errors)
    if errors:
        return INCOMPLETE_EXIT
    threshold = FAIL_ON[options.fail_on]
    if threshold is not None and any(a.worst is not None and a.worst >= threshold for a in assessments):
        return FINDINGS_EXIT
    return 0


def assess_inventory(
    inventory: Inventory,
    *,
    since: datetime,
    until: datetime | None = None,
    window: str,
    lookups: Mapping[str, ImageLookup] | None = None,
) -> tuple[list[Assessment], list[str]]:
    """Every Node container of every service (and standalone task), worst verdict first. Pure.

    Stopped tasks count from `since`, and before `until` by `stoppedAt` when it is given (evidence.py).
    `lookups` are the images' configs (images.py): what each container runs, and its Node version.
    """
    lookups = lookups or {}
    subjects: list[tuple[Subject, GroupKey]] = [
        (Subject(s.cluster_arn, s.name, None, s.task_definition, s.launch_type), (s.cluster_arn, f"service:{s.name}"))
        for s in inventory.services
    ]
    subjects += [
        (Subject(t.cluster_arn, None, t.task_arn, t.task_definition, t.launch_type), (t.cluster_arn, t.group))
        for t in inventory.standalone
    ]
    definition_of = {key: inventory.task_definitions.get(subject.task_definition) for subject, key in subjects}
    evidence = collect_evidence(
        inventory.stopped_tasks, since=since, until=until, stop_timeout=_stop_timeouts(definition_of)
    )
    problems: list[str] = []
    cache: dict[tuple[str, str], tuple[Wiring, Sizing]] = {}
    assessments: list[Assessment] = []
    for subject, key in subjects:
        raw = inventory.task_definitions.get(subject.task_definition)
        if raw is None:
            continue  # its DescribeTaskDefinition failed: already one line in the errors
        containers = [c for c in raw.get("containerDefinitions") or [] if isinstance(c, Mapping)]
        try:
            parsed = parse_definition(raw)
        except SourceError as exc:
            problems.append(f"{short(subject.task_definition)}: {exc}")
            continue
        for container in containers:
            image = container.get("image")
            recognition = recognize(container, lookups.get(image) if isinstance(image, str) else None)
            if not recognition.is_node:
                continue
            name = str(container.get("name"))
            if (subject.task_definition, name) not in cache:
                wiring = check_wiring(containers, name)
                version = _version_text(recognition.node_version)
                sizing = size_container(parsed, name, view=wiring.init, node_version=version)
                cache[subject.task_definition, name] = (wiring, sizing)
            wiring, sizing = cache[subject.task_definition, name]
            found: Evidence | None = evidence.get(key, {}).get(name)
            assessments.append(
                assess_container(
                    subject,
                    containers,
                    name,
                    recognition=recognition,
                    sizing=sizing,
                    wiring=wiring,
                    evidence=found,
                    window=window,
                )
            )
    rank = {Verdict.AT_RISK: 0, Verdict.PROTECTED: 1, Verdict.OK: 2}
    assessments.sort(
        key=lambda a: (
            rank[a.verdict],
            -(a.worst or 0),
            -a.oom_kills,
            short(a.subject.cluster),
            a.subject.service or "",
            a.container,
        )
    )
    return assessments, problems


def _images_of(inventory: Inventory) -> list[str]:
    """Every image of the task definitions the fleet runs, each once."""
    return list(
        dict.fromkeys(
            container["image"]
            for raw in inventory.task_definitions.values()
            for container in raw.get("containerDefinitions") or []
            if isinstance(container, Mapping) and isinstance(container.get("image"), str)
        )
    )


def _version_text(version: tuple[int, int | None] | None) -> str | None:
    return None if version is None else ".".join(str(part) for part in version if part is not None)


def _stop_timeouts(definition_of: Mapping[GroupKey, dict[str, Any] | None]) -> Any:
    def lookup(key: GroupKey, container: str) -> int | None:
        raw = definition_of.get(key)
        for item in (raw or {}).get("containerDefinitions") or []:
            if isinstance(item, Mapping) and item.get("name") == container and isinstance(item.get("stopTimeout"), int):
                return int(item["stopTimeout"])
        return None

    return lookup


def _iso(when: datetime) -> str:
    return f"{when:%Y-%m-%dT%H:%M:%SZ}"


def audit_clusters(values: Sequence[str] | None) -> tuple[str, ...]:
    """`--cluster a --cluster b,c` -> ("a", "b", "c")."""
    return tuple(part.strip() for value in values or () for part in value.split(",") if part.strip())
