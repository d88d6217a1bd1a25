"""What a passed gate is remembered by: the record stamped into each published feature partition
(``_validation.json``: both gates' results, warnings with their shares, the raw day's coverage),
its summary for an Asset event, and the records of a training window for a model's lineage."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, NotRequired, TypedDict

from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.data.expectations import GateResult

VALIDATION_RECORD = "_validation.json"  # beside the data of every published feature partition


class GateRecord(TypedDict):
    """One gate's outcome as ``_validation.json`` keeps it (under ``raw`` and ``features``).

    ``scope`` is ``partition`` (one day), ``range <first>..<last>`` (many days in one pass) or
    ``released`` (a raw day accepted as it is, its release record in ``released``); ``coverage`` is
    the raw day's.
    """

    suite: str
    passed: bool
    evaluated: int | None
    warnings: list[str]
    scope: str
    coverage: NotRequired[dict[str, Any]]
    released: NotRequired[dict[str, Any]]


class RawGateOutcome(TypedDict):
    """Hand-off from `gate_raw` to `build_features` and `gate_features` (one XCom per key, JSON as is):
    the day gated and the raw gate's record, stamped later into the day's feature partition."""

    dt: str
    record: GateRecord


def warning_label(w: dict[str, Any]) -> str:
    """A warning in a few words: the expectation and column, and how much was null or out of range."""
    label = f"{w['expectation']}({w['target']})"
    observed = str(w.get("observed", ""))
    share = observed[observed.rfind("(") + 1 : -1] if observed.endswith("%)") else None
    return f"{label}: {share} of rows" if share else label


def gate_record(result: GateResult, scope: str = "partition") -> GateRecord:
    """What a passed gate is remembered by: suite, expectations evaluated, warnings, its scope and
    (raw) the partition's coverage."""
    record = GateRecord(
        suite=result.suite,
        passed=result.success,
        evaluated=result.statistics.get("evaluated_expectations"),
        warnings=[warning_label(w) for w in result.warnings],
        scope=scope,
    )
    if result.coverage is not None:
        record["coverage"] = result.coverage
    return record


def stamp_validation(lake: Lake, staged: str, dt: date, raw: GateRecord, features: GateRecord) -> str:
    """Record both gates' results inside the staged partition, so they publish (and retire) with it."""
    return lake.write_json(
        staged,
        VALIDATION_RECORD,
        {
            "dt": dt.isoformat(),
            "raw": raw,
            "features": features,
            "validated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )


def gate_summary(record: dict[str, Any] | None) -> dict[str, Any]:
    """Both gates' outcome for a day in a few words (an Asset event's extra): passed, warnings, coverage."""
    if not record:
        return {"gates": "no record"}
    warnings = len(record["raw"]["warnings"]) + len(record["features"]["warnings"])
    coverage = (record["raw"].get("coverage") or {}).get("share")
    passed = record["raw"]["passed"] and record["features"]["passed"]
    return {
        "gates": ("passed" if passed else "failed") + (f", {warnings} warning(s)" if warnings else ""),
        "raw_coverage": coverage,
    }


def validation_lineage(lake: Lake, spec: PipelineSpec, dates: list[date]) -> dict[str, Any]:
    """The recorded gate results of the feature partitions ``dates``: a summary (with the days released as
    they are, and why) and the per-day records."""
    records = {
        d.isoformat(): lake.read_json(f"{lake.partition('features', spec.name, d)}/{VALIDATION_RECORD}") for d in dates
    }
    unrecorded = sorted(d for d, r in records.items() if r is None)
    passed = sorted(d for d, r in records.items() if r is not None and r["raw"]["passed"] and r["features"]["passed"])
    warnings = {
        d: r["raw"]["warnings"] + r["features"]["warnings"]
        for d, r in records.items()
        if r is not None and (r["raw"]["warnings"] or r["features"]["warnings"])
    }
    shares = [r["raw"]["coverage"]["share"] for r in records.values() if r is not None and r["raw"].get("coverage")]
    released = {
        d: r["raw"]["released"]["reason"] for d, r in records.items() if r is not None and r["raw"].get("released")
    }
    summary = {
        "raw_suite": spec.data.raw_suite,
        "features_suite": spec.data.features_suite,
        "partitions": len(dates),
        "passed_both_gates": len(passed),
        "unrecorded": unrecorded,
        "warnings": warnings,
        "released": released,
        "coverage": {
            "mean": round(sum(shares) / len(shares), 4),
            "min": min(shares),
            "days_below_full": sum(s < 1 for s in shares),
        }
        if shares
        else None,
    }
    return {"summary": summary, "records": records}
