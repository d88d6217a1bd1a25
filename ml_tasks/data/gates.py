"""The raw gate of a pipeline, and the calibration both gates share (the features gate is
:mod:`ml_tasks.data.features_gate`).

A raw partition is compared with its own day (timestamps inside the interval, none in the
future) and with recent history: its row count and distinct keys against the last
``HISTORY_DAYS`` published partitions, and each series' daily total against that series' recent
daily mean (a derived column, ``_target_jump_ratio``, that the suite bounds). A partition that
fails is moved, never deleted, to quarantine with its validation result and report, and the
gate raises :class:`GateFailed` with a message that names every failed expectation.

Real data has gaps and nulls, so suites are calibrated per partition before they run
(:func:`calibrate`): an expectation on a raw column that no feature, key or target uses only
warns; a null-share expectation with a profiled rate (``meta.null_share``) gets a ``mostly``
from a binomial bound for the partition's row count (a 24-row day and a 500k-row day cannot
share one fixed ``mostly``); and a lag or window feature may be as null as the raw data's gaps
explain (a missing hour or a quarantined neighbour day never quarantines another day). Each
raw partition's coverage (rows present vs expected per series and day) is measured and recorded
with the gate's result; a collapse of it fails the volume check.
"""

from __future__ import annotations

import logging
import statistics
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_tasks.core import cadence, events
from ml_tasks.core.lake import Lake, LakeError
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.data.expectations import GateResult, build_suite, read_error_result, read_suite, validate
from ml_tasks.data.quarantine import quarantine
from ml_tasks.features.columns import history_columns, raw_input_columns

log = logging.getLogger(__name__)
HISTORY_DAYS = 7
JUMP_COLUMN = "_target_jump_ratio"
NULL_FLOOR = 0.01  # a column may always be this often null before chance alone explains no more
NULL_ALPHA = 1e-3  # chance that a partition with nulls at the usual rate fails its null-share check
UNUSED_NOTE = " [warning only: no feature, key or target uses this column]"
GAPPY_NOTE = " [warning only: the models take missing values of this input; only a collapse blocks]"
INPUT_COLLAPSE = 0.5  # share of a day's rows an input the models take with gaps may miss before it blocks


class GateFailed(RuntimeError):
    """Data failed its suite; the message names the failed expectations and where the data went."""


def interval_parameters(
    dt: date, now: datetime | None = None, naive: bool = False, step: int = cadence.HOUR
) -> dict[str, Any]:
    """Suite parameters for one daily partition of a cadence of ``step`` seconds: its first slot,
    its last (``interval_last_slot``: 23:30 half-hourly, 23:00 hourly, any time of the day for daily
    data; any time of the day with ``step`` 0, for events; ``interval_last_hour`` is the same, for
    suites written before other cadences), and 'now' (all UTC).

    ``naive`` gives them without a time zone, to compare with a frame from :func:`utc_naive`.
    """
    start = pd.Timestamp(dt, tz="UTC")
    last = start + (cadence.last_slot(step) if step > 0 else pd.Timedelta(days=1) - pd.Timedelta(microseconds=1))
    params = {
        "interval_start": start,
        "interval_last_slot": last,
        "interval_last_hour": last,
        "now": pd.Timestamp(now or datetime.now(UTC)).tz_convert("UTC"),
    }
    return {k: v.tz_localize(None) for k, v in params.items()} if naive else params


def raw_step(spec: PipelineSpec) -> int:
    """The step raw rows keep: the cadence's, or 0 for events (any time of the day; slots come later)."""
    return 0 if spec.data.events else spec.features.step_seconds


def spanning(first: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
    """Interval parameters of a range of days: the first day's start and 'now', the last day's last slot."""
    return {**first, "interval_last_slot": last["interval_last_slot"], "interval_last_hour": last["interval_last_hour"]}


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


@lru_cache(maxsize=65_536)
def null_share_bound(expected: float, rows: int) -> float:
    """The highest null share a partition of ``rows`` rows may show when values are missing at
    rate ``expected`` (at least :data:`NULL_FLOOR`): the binomial ``1 - NULL_ALPHA`` quantile.

    24 rows at 1% may show 3 nulls (12.5%); 500,000 rows at 1% may show about 1.04%.
    """
    from scipy.stats import binom

    if rows <= 0:
        return 1.0
    p = min(1.0, max(float(expected), NULL_FLOOR))
    return float(min(1.0, binom.ppf(1 - NULL_ALPHA, rows, p) / rows))


def _columns_of(expectation: dict[str, Any]) -> list[str]:
    kwargs = expectation.get("kwargs", {})
    return [c for c in [kwargs.get("column"), *(kwargs.get("column_list") or [])] if c]


def calibrate(
    data: dict[str, Any],
    spec: PipelineSpec,
    rows: int,
    stage: str = "raw",
    explained_nulls: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The suite data adjusted to one partition (a copy; the file is not changed).

    - raw stage: expectations on columns that no feature, key or target uses become warnings;
    - a not-null expectation on a column with an expected null share (``meta.null_share`` from
      profiling, or ``explained_nulls`` for lag and window features) gets ``mostly`` =
      ``1 - null_share_bound(share, rows)``;
    - a range profiled from the data (``meta.outside_share``: how often values fell outside it)
      gets its ``mostly`` the same way;
    - raw stage: a not-null expectation on an input the models take with gaps (a known-ahead
      column, a history column other than the target) only warns, with its null share; a copy
      that blocks only a collapse (more than ``INPUT_COLLAPSE`` of the day's rows null) is added.
    """
    import copy

    out = copy.deepcopy(data)
    used = {*raw_input_columns(spec), JUMP_COLUMN}
    gappy = {*spec.features.known_ahead, *history_columns(spec)} - {spec.data.target}
    collapses = []
    for e in out.get("expectations", []):
        columns = _columns_of(e)
        if stage == "raw" and columns and not used & set(columns) and e.get("severity") != "warning":
            e["severity"] = "warning"
            e["meta"] = {**e.get("meta", {}), "notes": e.get("meta", {}).get("notes", "") + UNUSED_NOTE}
        if e.get("type") == "expect_column_values_to_be_between" and "outside_share" in (e.get("meta") or {}):
            e["kwargs"]["mostly"] = round(1.0 - null_share_bound(e["meta"]["outside_share"], rows), 6)
        if e.get("type") != "expect_column_values_to_not_be_null" or not columns:
            continue
        share = (explained_nulls or {}).get(columns[0], (e.get("meta") or {}).get("null_share"))
        if share is not None:
            e["kwargs"]["mostly"] = round(1.0 - null_share_bound(share, rows), 6)
        if stage == "raw" and columns[0] in gappy and e.get("severity") != "warning":
            e["severity"] = "warning"
            e["meta"] = {**e.get("meta", {}), "notes": e.get("meta", {}).get("notes", "") + GAPPY_NOTE}
            collapses.append(
                {
                    "type": e["type"],
                    "kwargs": {"column": columns[0], "mostly": 1.0 - INPUT_COLLAPSE},
                    "meta": {
                        "notes": f"more than {INPUT_COLLAPSE:.0%} of the day's {columns[0]} is "
                        f"missing: the input collapsed (a feed down), not a gap"
                    },
                }
            )
    out["expectations"] = [*out.get("expectations", []), *collapses]
    return out


def history(lake: Lake, spec: PipelineSpec, dt: date, days: int = HISTORY_DAYS) -> dict[str, Any]:
    """Volume and per-series statistics of the last ``days`` published raw partitions before ``dt``
    (row counts and distinct keys of the raw rows; series and their totals of the series view, which
    for an events pipeline is its slots)."""
    past = [d for d in lake.partitions("raw", spec.name) if d < dt][-days:]
    keys, target = list(spec.data.keys), spec.data.target
    columns = (
        list(dict.fromkeys([*keys, spec.data.timestamp, *events.sources(spec.data.aggregations)]))
        if spec.data.events
        else [*keys, target]
    )
    counts, distinct, totals, series = [], {k: [] for k in keys}, [], []
    for d in past:
        try:
            counts.append(lake.row_count(lake.partition("raw", spec.name, d)))
            frame = lake.read_partition("raw", spec.name, d, columns=columns)
        except Exception as exc:  # a bad old partition must not block today's gate
            log.warning("skipping raw %s in the gate's history: %s", d, exc)
            continue
        for k in keys:
            distinct[k].append(frame[k].nunique())
        view = events.series_view(frame, spec)
        series.append(len(view.drop_duplicates(keys)) if keys else 1)
        if pd.api.types.is_numeric_dtype(view[target]):
            totals.append(series_totals(view, keys, target))
    series_mean = pd.concat(totals, axis=1).mean(axis=1) if totals else pd.Series(dtype=float)
    return {
        "days": past,
        "row_counts": counts,
        "distinct": distinct,
        "series_daily_mean": series_mean,
        "series_counts": series,
    }


def row_series(frame: pd.DataFrame, keys: list[str]) -> pd.MultiIndex:
    """Each row's series as a tuple of its keys as text (``("all",)`` without keys)."""
    if not keys:
        return pd.MultiIndex.from_arrays([["all"] * len(frame)])
    return pd.MultiIndex.from_frame(frame[keys].astype(str))


def series_totals(frame: pd.DataFrame, keys: list[str], target: str) -> pd.Series:
    """The target's total per series, indexed as :func:`row_series` names them."""
    return pd.to_numeric(frame[target], errors="coerce").groupby(row_series(frame, keys)).sum()


def jump_ratios(frame: pd.DataFrame, keys: list[str], today: pd.Series, usual: pd.Series) -> np.ndarray:
    """Each row's series total today over its usual daily total (+1 smoothing; NaN without history)."""
    index = row_series(frame, keys)
    return (today.reindex(index).to_numpy(dtype=float) + 1.0) / (usual.reindex(index).to_numpy(dtype=float) + 1.0)


def coverage(frame: pd.DataFrame, spec: PipelineSpec, usual_series: list[int] | None = None) -> dict[str, Any]:
    """Rows present vs expected for one raw day: every series seen today or usually (the median of
    recent days), times the rows one series has in a day (24 hourly, 1 daily)."""
    keys, per_day = list(spec.data.keys), spec.features.rows_per_day
    present = frame.drop_duplicates(keys) if keys and set(keys) <= set(frame.columns) else frame.head(1)
    series = max(len(present), int(statistics.median(usual_series)) if usual_series else 0, 1)
    rows = len(frame)
    per_series = frame.groupby(keys).size() if keys and set(keys) <= set(frame.columns) else pd.Series([rows])
    return {
        "rows": rows,
        "series": series,
        "expected_rows": series * per_day,
        "share": round(min(1.0, rows / (series * per_day)), 4),
        "min_series_share": round(min(1.0, float(per_series.min()) / per_day), 4) if rows else 0.0,
    }


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
    """Add ``_target_jump_ratio``: each series' total today over its recent daily mean (+1 smoothing),
    totals taken on the series view (an events pipeline's slots).

    Series without history get NaN (a new series is not a jump); so does data whose keys or
    target are missing or not numeric (other expectations report those).
    """
    keys, target = list(spec.data.keys), spec.data.target
    out = df.copy()
    out[JUMP_COLUMN] = float("nan")
    view = events.series_view(df, spec)
    if series_daily_mean.empty or not set([*keys, target]) <= set(view.columns):
        return out
    if not pd.api.types.is_numeric_dtype(view[target]):
        return out
    out[JUMP_COLUMN] = jump_ratios(df, keys, series_totals(view, keys, target), series_daily_mean)
    return out


def raw_suite_for(expectations_dir: Path, spec: PipelineSpec, rows: int, data: dict | None = None):
    """The raw suite calibrated for a partition of ``rows`` rows (see :func:`calibrate`)."""
    data = data if data is not None else read_suite(expectations_dir, spec.data.raw_suite)
    return build_suite(calibrate(data, spec, rows, "raw"))


def check_raw_partition(
    lake: Lake,
    expectations_dir: Path,
    spec: PipelineSpec,
    dt: date,
    now: datetime | None = None,
    suite_data: dict | None = None,
) -> GateResult:
    """Validate one raw partition and measure its coverage; moves nothing (see :func:`gate_raw_partition`)."""
    source = lake.partition("raw", spec.name, dt)
    if not lake.exists("raw", spec.name, dt):
        raise LakeError(f"pipeline {spec.name!r}: raw partition for {dt} not found at {source}")
    keys = list(spec.data.keys)
    try:
        df = lake.read_partition("raw", spec.name, dt)
    except Exception as exc:  # unreadable data is a gate failure, not a crash
        return read_error_result(spec.data.raw_suite, f"cannot read {source} as Parquet: {type(exc).__name__}: {exc}")
    hist = history(lake, spec, dt)
    params = {**interval_parameters(dt, now, naive=True, step=raw_step(spec)), **history_parameters(hist, keys)}
    frame = utc_naive(with_jump_ratio(df, spec, hist["series_daily_mean"]), spec.data.timestamp)
    result = validate(
        frame, raw_suite_for(expectations_dir, spec, len(df), suite_data), params, keys=[*keys, spec.data.timestamp]
    )
    result.coverage = coverage(events.series_view(df, spec), spec, hist["series_counts"])
    return result


def quarantine_raw(lake: Lake, spec: PipelineSpec, dt: date, result: GateResult) -> GateFailed:
    """Move a raw partition that failed its gate to quarantine; the error to raise or report."""
    source = lake.partition("raw", spec.name, dt)
    where = quarantine(lake, spec.name, dt, "raw", source, result)
    return GateFailed(
        f"raw partition {source} failed the gate and was moved to {where}\n{result.summary()}\n"
        f"report: {where}/report.html"
    )


def gate_raw_partition(
    lake: Lake, expectations_dir: Path, spec: PipelineSpec, dt: date, now: datetime | None = None
) -> GateResult:
    """Validate one raw partition; on failure quarantine it and raise :class:`GateFailed`."""
    result = check_raw_partition(lake, expectations_dir, spec, dt, now)
    if not result.success:
        raise quarantine_raw(lake, spec, dt, result)
    return result
