"""Acting on the quarantine: releasing a raw day as it is, and the newest day that is still arriving.

Releasing. A real day can fail the raw gate: a hurricane that closed the service, a strike, a
holiday nobody profiled. `conveyor quarantine release PIPELINE DAY --reason ...` (or the Release
button on the day's page in the Conveyor view) accepts it as it is: the day's raw data moves back
from quarantine to the raw zone together with a release record (``_release.json``: who, when, why,
the expectations it failed), in one rename, and its features are built and published. The raw
gate is not asked again about a released day (its failures were accepted and are recorded); the
features gate is. The record goes into the feature partition's ``_validation.json`` (``raw.released``),
so `conveyor lineage` and the model's validation tag name every released day a model trained on.
A day landed again after its release replaces the partition, record included: the new data faces
the gate like any other.

Still arriving. The newest landed day of a pipeline, when it fails only because rows or series are
fewer than usual, is most likely still arriving (a partial export, an evening not yet delivered):
it is not quarantined but left pending in the raw zone, to be gated again when more data lands
(the daily DAG's sensor waits for it until the pipeline's deadline, then alerts).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.data import day_history
from ml_tasks.data.expectations import GateResult
from ml_tasks.data.gate_records import GateRecord
from ml_tasks.data.quarantine import RELEASED_MARK, REPLACED_MARK

ARRIVAL_WAIT_HOURS = 6.0  # how long after its end a day may still arrive, without features.deadline_hours
RELEASE_RECORD = "_release.json"  # inside a released raw partition, beside its data
# Failures that mean "fewer rows or series than usual": what a day that is still arriving shows.
ARRIVAL_CHECKS = {"expect_table_row_count_to_be_between", "expect_column_unique_value_count_to_be_between"}


class ReleaseError(ValueError):
    """The day cannot be released; the message says why and what to do instead."""


def still_arriving(result: GateResult) -> bool:
    """Whether every blocking failure of a raw gate result is a shortfall of rows or series."""
    return bool(result.failures) and all(f["expectation"] in ARRIVAL_CHECKS for f in result.failures)


def arrival_deadline(spec: PipelineSpec, dt: date) -> datetime:
    """Until when the daily DAG waits for a day that is still arriving: ``features.deadline_hours``
    (else ``ARRIVAL_WAIT_HOURS``) after the day ends (UTC)."""
    hours = spec.features.deadline_hours or ARRIVAL_WAIT_HOURS
    return datetime.combine(dt, datetime.min.time(), tzinfo=UTC) + timedelta(days=1, hours=hours)


def release_raw(lake: Lake, spec: PipelineSpec, dt: date, reason: str, by: str) -> dict[str, Any]:
    """Move a quarantined raw day back into the raw zone with its release record; returns the record."""
    if not reason.strip():
        raise ReleaseError("give a --reason: it is recorded with the day and shown wherever the day is")
    quarantined = f"{lake.partition('quarantine', spec.name, dt)}/raw"
    fs = lake.fs
    if not fs.exists(f"{quarantined}/data") or any(
        fs.exists(f"{quarantined}/{m}") for m in (RELEASED_MARK, REPLACED_MARK)
    ):
        days = sorted(d.isoformat() for d in lake.partitions("quarantine", spec.name))
        raise ReleaseError(
            f"{spec.name} {dt}: no quarantined raw data to release (days in quarantine: {days or 'none'}; "
            f"`conveyor quarantine {spec.name}` lists them with their stage)"
        )
    if lake.exists("raw", spec.name, dt):
        raise ReleaseError(
            f"{spec.name} {dt}: raw/{spec.name}/dt={dt} exists already (the day was landed again after "
            f"it was quarantined); its own gate decides about the new data"
        )
    with fs.open(f"{quarantined}/validation.json") as fh:
        gated = json.load(fh)
    record = {
        "dt": dt.isoformat(),
        "released_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "by": by,
        "reason": reason.strip(),
        "quarantined_at": gated.get("quarantined_at"),
        "failed": [f"{f['expectation']}({f['target']})" for f in gated.get("failures", [])],
    }
    lake.write_json(f"{quarantined}/data", RELEASE_RECORD, record)
    lake.publish(f"{quarantined}/data", "raw", spec.name, dt)  # its manifest copied last: whole or not a day
    lake.write_json(quarantined, RELEASED_MARK, record)
    day_history.note(lake, spec.name, dt, "released", by=by, reason=record["reason"], failed=record["failed"])
    return record


def release_record(lake: Lake, spec: PipelineSpec, dt: date) -> dict[str, Any] | None:
    """The release record of a raw day, or None when the day was not released."""
    return lake.read_json(f"{lake.partition('raw', spec.name, dt)}/{RELEASE_RECORD}")


def released_gate_record(spec: PipelineSpec, record: dict[str, Any]) -> GateRecord:
    """What the raw gate's record of a released day says: not passed, released, and why."""
    return GateRecord(
        suite=spec.data.raw_suite,
        passed=False,
        released=record,
        evaluated=None,
        warnings=[f"released as it is by {record['by']}: {record['reason']}"],
        scope="released",
    )
