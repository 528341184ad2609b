"""The init job, end to end: gather, decide, write the env file atomically, log the decision.

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
from sidecar.job.decide import check_policy, decide_all
from sidecar.job.gather import gather
from sidecar.job.report import decision_record, emf_members, render_explain
from sidecar.outputs import log
from sidecar.outputs.envfile import write_env_file
from sidecar.outputs.log import one_line
from sidecar.settings import VARS, Settings


def run(settings: Settings, stdout: TextIO) -> int:
    """The init job: detect, decide, write atomically, log. Returns the exit code."""
    log.configure(stdout, settings.log_format)
    logger = log.get_logger()
    try:
        logger.info("settings_loaded", version=__version__, **_settings_fields(settings))
        gathered = gather(settings)
        for report in gathered.reports:
            logger.info(
                "source_read",
                source=report.source,
                status=report.status,
                detail=report.detail,
                elapsed_ms=report.elapsed_ms,
            )
        decisions = decide_all(gathered, settings)
        records = []
        for decision in decisions:
            bound = logger.bind(task_arn=decision.identity.get("task_arn"), container=decision.target)
            for notice in decision.notices:
                bound.warning(notice.code, text=notice.text)
            records.append((bound, decision, decision_record(decision)))
        try:
            for decision in decisions:  # every file or none: policy first, for all of them
                check_policy(decision)
        except SidecarError:
            for bound, _, record in records:
                bound.info("decision", **record)
            raise
        for bound, decision, _ in records:
            write_env_file(Path(decision.env_file), decision.env_text)
            bound.info("env_file_written", path=decision.env_file, size_bytes=len(decision.env_text))
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
    """The one line on stderr that goes with a failing exit code."""
    print(f"node-heap-sidecar: {one_line(message)}", file=sys.stderr)


def report_bug(exc: BaseException, logger: Any) -> int:
    """Exit code 1, with the traceback in one `run_failed` event and one line on stderr."""
    error = f"a bug: {type(exc).__name__}: {exc}"
    logger.error("run_failed", error=error, exit_code=1, exc_info=exc)
    say(error)
    return 1


def explain(settings: Settings, stdout: TextIO, *, as_json: bool) -> int:
    try:
        decisions = decide_all(gather(settings), settings)
    except SidecarError as exc:
        say(str(exc))
        return exc.exit_code
    if as_json:
        records = [{**decision_record(d), "env_text": d.env_text} for d in decisions]
        stdout.write(json.dumps(records[0] if len(records) == 1 else records, indent=2) + "\n")
    else:
        stdout.write("\n".join(render_explain(d) for d in decisions))
    return 0


def _settings_fields(settings: Settings) -> dict[str, Any]:
    fields = {}
    for var in VARS:
        value = getattr(settings, var.field)
        fields[var.field] = (
            value.value if hasattr(value, "value") else (str(value) if isinstance(value, Path) else value)
        )
    return fields
