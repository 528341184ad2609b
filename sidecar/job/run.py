"""The init job, end to end: settings -> gather (sources) -> decide (sizing) -> env file + log (outputs).

`run` is the container's entrypoint (exit codes in the README); `explain` shares `gather` and
`decide`, prints the decision and writes nothing.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from sidecar import __version__
from sidecar.errors import SidecarError
from sidecar.job.gather import gather
from sidecar.outputs import log
from sidecar.outputs.atomic import check_writable
from sidecar.outputs.envfile import write_env_file
from sidecar.outputs.log import one_line
from sidecar.outputs.report import decision_record, emf_members, env_file_text, render_explain
from sidecar.settings import VARS, Settings
from sidecar.sizing.decide import check_policy, decide_all


def run(settings: Settings, stdout: TextIO) -> int:
    """The init job: detect, decide, write atomically, log. Returns the exit code."""
    log.configure(stdout, settings.log_format)
    logger = log.get_logger()
    try:
        logger.info("settings_loaded", version=__version__, **_settings_fields(settings))
        for warning in settings.warnings:
            logger.warning(warning.code, text=warning.text)
            say(f"warning: {warning.text}")
        check_writable(Path(settings.env_file))  # a missing or read-only volume fails before anything is read
        gathered = gather(settings)
        for report in gathered.reports:
            logger.info(
                "source_read",
                source=report.source,
                status=report.status.value,
                detail=report.detail,
                elapsed_ms=report.elapsed_ms,
            )
        decisions = decide_all(gathered.observed, settings)
        records = []
        for decision in decisions:
            bound = logger.bind(task_arn=decision.identity.task_arn, container=decision.target)
            for notice in decision.notices:
                bound.warning(notice.code, text=notice.text)
            records.append((bound, decision, decision_record(decision, gathered.reports)))
        try:
            for decision in decisions:  # every file or none: policy first, for all of them
                check_policy(decision)
        except SidecarError:
            for bound, _, record in records:
                bound.info("decision", **record)
            raise
        for bound, decision, _ in records:
            text = env_file_text(decision)
            write_env_file(Path(decision.env_file), text)
            bound.info("env_file_written", path=str(decision.env_file), size_bytes=len(text))
        for bound, decision, record in records:
            emf = emf_members(decision, settings.metrics_namespace, int(time.time() * 1000))
            bound.info("decision", **record, **emf)
        return 0
    except SidecarError as exc:
        logger.error("run_failed", error=str(exc), exit_code=exc.exit_code)
        say(str(exc))
        return exc.exit_code
    except Exception as exc:  # a bug: say so in CloudWatch, with the traceback (no locals), and fail
        return report_bug(exc, logger)


def say(message: str) -> None:
    """The one line on stderr that goes with a failing exit code (or a warning)."""
    print(f"node-heap-sidecar: {one_line(message)}", file=sys.stderr)


def report_bug(exc: BaseException, logger: Any) -> int:
    """Exit code 1, with the traceback in one `run_failed` event and one line on stderr."""
    error = f"a bug: {type(exc).__name__}: {exc}"
    logger.error("run_failed", error=error, exit_code=1, exc_info=exc)
    say(error)
    return 1


def explain(settings: Settings, stdout: TextIO, *, as_json: bool) -> int:
    for warning in settings.warnings:
        say(f"warning: {warning.text}")
    try:
        gathered = gather(settings)
        decisions = decide_all(gathered.observed, settings)
    except SidecarError as exc:
        say(str(exc))
        return exc.exit_code
    if as_json:
        records = [{**decision_record(d, gathered.reports), "env_text": env_file_text(d)} for d in decisions]
        stdout.write(json.dumps(records[0] if len(records) == 1 else records, indent=2) + "\n")
    else:
        stdout.write("\n".join(render_explain(d, gathered.reports) for d in decisions))
    return 0


def _settings_fields(settings: Settings) -> dict[str, Any]:
    fields = {}
    for var in VARS:
        value = getattr(settings, var.field)
        fields[var.field] = (
            value.value if hasattr(value, "value") else (str(value) if isinstance(value, Path) else value)
        )
    return fields
