"""The data-quality gates of a pipeline: raw partitions on pandas, staged features on Spark.

A raw partition is compared with its own day (timestamps inside the interval, none in the
future) and with recent history: its row count and distinct keys against the last
``HISTORY_DAYS`` published partitions, and each series' daily total against that series' recent
daily mean (a derived column, ``_target_jump_ratio``, that the suite bounds). A partition that
fails is moved, never deleted, to quarantine with its validation result and report, and the
gate raises :class:`GateFailed` with a message that names every failed expectation.
"""

from __future__ import annotations

import logging
import statistics
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ml_tasks.lake import Lake, LakeError
from ml_tasks.quarantine import quarantine
from ml_tasks.spec import PipelineSpec
from ml_tasks.validation import GateResult, load_suite, read_error_result, validate

log = logging.getLogger(__name__)
HISTORY_DAYS = 7
JUMP_COLUMN = "_target_jump_ratio"
VALIDATION_RECORD = "_validation.json"  # beside the data of every published feature partition


class GateFailed(RuntimeError):
    """Data failed its suite; the message names the failed expectations and where the data went."""


def interval_parameters(dt: date, now: datetime | None = None, naive: bool = False) -> dict[str, Any]:
    """Suite parameters for one daily partition: its first and last hour, and 'now' (all UTC).

    ``naive`` gives them without a time zone, to compare with a frame from :func:`utc_naive`.
    """
    start = pd.Timestamp(dt, tz="UTC")
    params = {
        "interval_start": start,
        "interval_last_hour": start + pd.Timedelta(hours=23),
        "now": pd.Timestamp(now or datetime.now(timezone.utc)).tz_convert("UTC"),
    }
    return {k: v.tz_localize(None) for k, v in params.items()} if naive else params


def utc_naive(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """The frame with a time-zone-aware ``column`` converted to naive UTC, for validation only.

    Great Expectations checks column types against NumPy dtypes, which have no time zone; naive
    input is taken to be UTC already. Strings and other types are left alone for the suite to
    reject.
    """
    if column in df.columns and isinstance(df[column].dtype, pd.DatetimeTZDtype):
        df = df.copy()
        df[column] = df[column].dt.tz_convert("UTC").dt.tz_localize(None)
    return df


def _row_count(lake: Lake, path: str) -> int:
    import pyarrow.parquet as pq

    total = 0
    for f in lake.parquet_files(path):
        with lake.fs.open(f, "rb") as fh:
            total += pq.ParquetFile(fh).metadata.num_rows
    return total


def history(lake: Lake, spec: PipelineSpec, dt: date, days: int = HISTORY_DAYS) -> dict[str, Any]:
    """Volume and per-series statistics of the last ``days`` published raw partitions before ``dt``."""
    past = [d for d in lake.partitions("raw", spec.name) if d < dt][-days:]
    keys, target = list(spec.data.keys), spec.data.target
    counts, distinct, totals = [], {k: [] for k in keys}, []
    for d in past:
        try:
            counts.append(_row_count(lake, lake.partition("raw", spec.name, d)))
            frame = lake.read_partition("raw", spec.name, d, columns=[*keys, target])
        except Exception as exc:  # a bad old partition must not block today's gate
            log.warning("skipping raw %s in the gate's history: %s", d, exc)
            continue
        for k in keys:
            distinct[k].append(frame[k].nunique())
        totals.append(frame.groupby(keys)[target].sum())
    series_mean = pd.concat(totals, axis=1).mean(axis=1) if totals else pd.Series(dtype=float)
    return {"days": past, "row_counts": counts, "distinct": distinct, "series_daily_mean": series_mean}


def history_parameters(hist: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """Bounds from history: half to double the median row count, 80% of the usual distinct keys."""
    params: dict[str, Any] = {"min_rows": 1, "max_rows": None}
    if hist["row_counts"]:
        median = statistics.median(hist["row_counts"])
        params.update(min_rows=max(1, int(0.5 * median)), max_rows=int(2 * median) + 1)
    for k in keys:
        seen = hist["distinct"].get(k) or []
        params[f"min_distinct_{k}"] = max(1, int(0.8 * statistics.median(seen))) if seen else 1
    return params


def with_jump_ratio(df: pd.DataFrame, spec: PipelineSpec, series_daily_mean: pd.Series) -> pd.DataFrame:
    """Add ``_target_jump_ratio``: each series' total today over its recent daily mean (+1 smoothing).

    Series without history get NaN (a new series is not a jump); so does data whose keys or
    target are missing or not numeric (other expectations report those).
    """
    keys, target = list(spec.data.keys), spec.data.target
    out = df.copy()
    out[JUMP_COLUMN] = float("nan")
    if series_daily_mean.empty or not set([*keys, target]) <= set(df.columns):
        return out
    if not pd.api.types.is_numeric_dtype(df[target]):
        return out
    today = df.groupby(keys)[target].transform("sum")
    index = pd.MultiIndex.from_frame(df[keys]) if len(keys) > 1 else pd.Index(df[keys[0]])
    usual = series_daily_mean.reindex(index).to_numpy()
    out[JUMP_COLUMN] = (today.to_numpy() + 1.0) / (usual + 1.0)
    return out


def gate_raw_partition(lake: Lake, expectations_dir: Path, spec: PipelineSpec, dt: date,
                       now: datetime | None = None) -> GateResult:
    """Validate one raw partition; on failure quarantine it and raise :class:`GateFailed`."""
    source = lake.partition("raw", spec.name, dt)
    if not lake.fs.exists(source):
        raise LakeError(f"pipeline {spec.name!r}: raw partition for {dt} not found at {source}")
    suite = load_suite(expectations_dir, spec.data.raw_suite)
    keys = list(spec.data.keys)
    try:
        df = lake.read_partition("raw", spec.name, dt)
    except Exception as exc:  # unreadable data is a gate failure, not a crash
        result = read_error_result(spec.data.raw_suite, f"cannot read {source} as Parquet: {type(exc).__name__}: {exc}")
    else:
        hist = history(lake, spec, dt)
        params = {**interval_parameters(dt, now, naive=True), **history_parameters(hist, keys)}
        frame = utc_naive(with_jump_ratio(df, spec, hist["series_daily_mean"]), spec.data.timestamp)
        result = validate(frame, suite, params, keys=[*keys, spec.data.timestamp])
    if not result.success:
        where = quarantine(lake, spec.name, dt, "raw", source, result)
        raise GateFailed(f"raw partition {source} failed the gate and was moved to {where}\n{result.summary()}\n"
                         f"report: {where}/report.html")
    return result


def gate_staged_features(lake: Lake, expectations_dir: Path, spec: PipelineSpec, dt: date, staged: str,
                         spark) -> GateResult:
    """Validate staged feature rows on Spark (no collection); on failure quarantine them and raise."""
    suite = load_suite(expectations_dir, spec.data.features_suite)
    with lake.spark_inputs([staged]) as paths:
        result = validate(spark.read.parquet(*paths), suite, interval_parameters(dt))
    if not result.success:
        where = quarantine(lake, spec.name, dt, "features", staged, result)
        raise GateFailed(f"features for {spec.name} dt={dt} failed the gate and were moved to {where}\n"
                         f"{result.summary()}\nreport: {where}/report.html")
    return result


def gate_record(result: GateResult, scope: str = "partition") -> dict[str, Any]:
    """What a passed gate is remembered by: suite, expectations evaluated, warnings, and its scope."""
    return {"suite": result.suite, "passed": result.success,
            "evaluated": result.statistics.get("evaluated_expectations"),
            "warnings": [f"{w['expectation']}({w['target']})" for w in result.warnings], "scope": scope}


def stamp_validation(lake: Lake, staged: str, dt: date, raw: dict[str, Any], features: dict[str, Any]) -> str:
    """Record both gates' results inside the staged partition, so they publish (and retire) with it."""
    return lake.write_json(staged, VALIDATION_RECORD, {
        "dt": dt.isoformat(), "raw": raw, "features": features,
        "validated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})


def validation_lineage(lake: Lake, spec: PipelineSpec, dates: list[date]) -> dict[str, Any]:
    """The recorded gate results of the feature partitions ``dates``: a summary and the per-day records."""
    records = {d.isoformat(): lake.read_json(f"{lake.partition('features', spec.name, d)}/{VALIDATION_RECORD}")
               for d in dates}
    unrecorded = sorted(d for d, r in records.items() if r is None)
    passed = sorted(d for d, r in records.items()
                    if r is not None and r["raw"]["passed"] and r["features"]["passed"])
    warnings = {d: r["raw"]["warnings"] + r["features"]["warnings"] for d, r in records.items()
                if r is not None and (r["raw"]["warnings"] or r["features"]["warnings"])}
    summary = {"raw_suite": spec.data.raw_suite, "features_suite": spec.data.features_suite,
               "partitions": len(dates), "passed_both_gates": len(passed),
               "unrecorded": unrecorded, "warnings": warnings}
    return {"summary": summary, "records": records}
