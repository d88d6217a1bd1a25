"""Quarantine: where data that failed a gate goes, with its reasons, and how to find it again.

Layout: ``quarantine/<pipeline>/dt=<day>/<stage>/`` holding ``data/`` (the moved files, never
deleted), ``validation.json`` (the full result) and ``report.html`` (for people).
"""

from __future__ import annotations

import html
import json
from datetime import UTC, date, datetime
from typing import Any

from ml_tasks.core.lake import Lake
from ml_tasks.data import day_history
from ml_tasks.data.expectations import GateResult

STAGES = ("raw", "features")
RELEASED_MARK = "released.json"  # inside an entry whose data was released back to the raw zone
REPLACED_MARK = "replaced.json"  # inside an entry whose day was landed again
REPORT_STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}th{background:#f3f3f3}"
    "tr.blocking td:first-child{color:#b00;font-weight:bold}tr.warning td:first-child{color:#a60}"
)


def render_report(result: GateResult, where: str) -> str:
    """A small standalone HTML page people can open from the quarantine folder."""
    cols = ("expectation", "target", "observed", "expected", "examples", "notes")

    def rows(items, label):
        return "".join(
            f"<tr class='{label}'><td>{label}</td>"
            + "".join(f"<td>{html.escape(str(f.get(k, '')))}</td>" for k in cols)
            + "</tr>"
            for f in items
        )

    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Gate report: {html.escape(result.suite)}</title>
<style>{REPORT_STYLE}</style></head>
<body><h1>Quarantined: {html.escape(where)}</h1><p>Suite <b>{html.escape(result.suite)}</b>:
{len(result.failures)} blocking failure(s), {len(result.warnings)} warning(s),
{result.statistics.get("evaluated_expectations", "?")} expectations evaluated.</p>
<table><tr><th></th><th>expectation</th><th>column</th><th>observed</th><th>expected</th><th>examples</th>
<th>why it exists</th></tr>
{rows(result.failures, "blocking")}{rows(result.warnings, "warning")}</table>
<p>Fix the data, land it again under the raw zone, and clear the failed task in Airflow to process it.</p>
</body></html>"""


def quarantine(lake: Lake, pipeline: str, dt: date, stage: str, source: str | None, result: GateResult) -> str:
    """Move ``source`` (if given) to the quarantine zone with its validation JSON and report.

    The record and report are written first, the data moved last, so the day is findable in exactly
    one place at every moment: until the move it is in ``source`` (an entry whose data has not
    arrived is not listed, see :func:`is_complete`), after it in the quarantine with its reasons.
    A retry after a crash in between completes that entry rather than starting another.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
    fs = lake.fs
    target = f"{lake.partition('quarantine', pipeline, dt)}/{stage}"
    if fs.exists(target) and is_complete(lake, target):
        # An earlier quarantine of the same day and stage: keep it beside, never overwrite data.
        lake.move(target, f"{target}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}")
    fs.makedirs(target, exist_ok=True)
    record = {
        "pipeline": pipeline,
        "dt": dt.isoformat(),
        "stage": stage,
        "quarantined_at": datetime.now(UTC).isoformat(),
        "source": source if source is not None and fs.exists(source) else None,
        "summary": result.summary(),
        "failures": result.failures,
        "warnings": result.warnings,
        "validation": result.validation,
    }
    with fs.open(f"{target}/report.html", "w") as fh:
        fh.write(render_report(result, f"{pipeline} dt={dt} ({stage})"))
    with fs.open(f"{target}/validation.json", "w") as fh:
        json.dump(record, fh, indent=2, default=str)
    if record["source"] is not None:
        lake.move(source, f"{target}/data")
    day_history.note(
        lake,
        pipeline,
        dt,
        "quarantined",
        stage=stage,
        failed=[f"{f['expectation']}({f['target']})" for f in result.failures],
    )
    return target


def is_complete(lake: Lake, entry: str) -> bool:
    """Whether a quarantine entry holds what it quarantined: its record, and its data unless it had none
    (an entry without its data was cut short before the move: the day is still at its source)."""
    fs = lake.fs
    if not fs.exists(f"{entry}/validation.json"):
        return False
    with fs.open(f"{entry}/validation.json") as fh:
        source = json.load(fh).get("source")
    return source is None or fs.exists(f"{entry}/data")


def list_quarantine(lake: Lake, pipeline: str) -> list[dict[str, Any]]:
    """Quarantined partitions with their stage and reason, oldest first (released or replaced ones are not)."""
    out = []
    for dt in lake.partitions("quarantine", pipeline):
        base = lake.partition("quarantine", pipeline, dt)
        for entry in sorted(lake.fs.ls(base, detail=False)):
            stage = entry.rstrip("/").rsplit("/", 1)[-1]
            record = f"{base}/{stage}/validation.json"
            if (
                not stage.startswith(STAGES)
                or not is_complete(lake, f"{base}/{stage}")
                or any(lake.fs.exists(f"{base}/{stage}/{mark}") for mark in (RELEASED_MARK, REPLACED_MARK))
            ):
                continue  # not a (finished) quarantine entry, or one released back to the raw zone or landed again
            with lake.fs.open(record) as fh:
                data = json.load(fh)
            reasons = [f"{f['expectation']}({f['target']})" for f in data.get("failures", [])]
            out.append(
                {
                    "dt": dt.isoformat(),
                    "stage": stage,
                    "quarantined_at": data.get("quarantined_at", ""),
                    "reasons": reasons,
                    "summary": data.get("summary", ""),
                    "report": f"{base}/{stage}/report.html",
                }
            )
    return out


def supersede(lake: Lake, pipeline: str, dt: date, record: dict[str, Any]) -> list[str]:
    """Mark a day's quarantine entries as replaced by newly landed data (their files stay, for the
    record); `conveyor quarantine` and the view stop listing them. Returns their stages."""
    stages = []
    for entry in list_quarantine(lake, pipeline):
        if entry["dt"] == dt.isoformat():
            lake.write_json(entry["report"].rsplit("/", 1)[0], REPLACED_MARK, record)
            stages.append(entry["stage"].split("-")[0])
    return stages
