"""A day's story: everything that happened to one day of a pipeline's data, in order.

Each step that changes a day writes one small record under ``history/<pipeline>/dt=<day>/``
(one object per event, named by its UTC time, so nothing is ever appended or rewritten, which
object stores do not do atomically):

- ``landed``: `conveyor land` wrote the raw day (rows, files), and what the new data replaced
  (a raw day not built yet, a quarantined day, published features);
- ``quarantined``: a gate moved the day to quarantine (stage, failed expectations);
- ``released``: someone accepted the quarantined day as it is (who, why);
- ``published``: the day's features went live (by which run, the gates' warnings).

The Conveyor view's day page shows the story beside the models trained on the day.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from ml_tasks.core.lake import Lake
from ml_tasks.data.gate_records import VALIDATION_RECORD, gate_summary

ZONE = "history"


def note(lake: Lake, pipeline: str, dt: date, event: str, **details: Any) -> dict[str, Any]:
    """Record one event of a day; returns the record."""
    now = datetime.now(UTC)
    record = {"at": now.isoformat(timespec="seconds"), "event": event, **details}
    folder = lake.partition(ZONE, pipeline, dt)
    lake.fs.makedirs(folder, exist_ok=True)
    lake.write_json(folder, f"{now:%Y%m%dT%H%M%S%f}-{event}-{uuid.uuid4().hex[:6]}.json", record)
    return record


def story(lake: Lake, pipeline: str, dt: date) -> list[dict[str, Any]]:
    """A day's events, oldest first (empty for a day landed before the history was kept)."""
    folder = lake.partition(ZONE, pipeline, dt)
    if not lake.fs.exists(folder):
        return []
    names = sorted(p for p in lake.fs.ls(folder, detail=False) if p.endswith(".json"))
    return [r for r in (lake.read_json(p) for p in names) if r]


def publish_features(lake: Lake, pipeline: str, staged: str, dt: date, by: str) -> str:
    """Publish a staged features day (an atomic rename) and record it in the day's story."""
    path = lake.publish(staged, "features", pipeline, dt)
    summary = gate_summary(lake.read_json(f"{path}/{VALIDATION_RECORD}"))
    note(lake, pipeline, dt, "published", by=by, **summary)
    return path
