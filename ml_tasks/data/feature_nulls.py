"""How null a day's lag and window features may be because of gaps in the raw data alone.

The features gate allows each lag and window feature the null share that missing raw rows
explain (a missing hour or a quarantined neighbour day never quarantines another day); this
module works that share out from the raw partitions' row counts, for any cadence.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from ml_tasks.core.cadence import DAY
from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.data.expectations import read_suite
from ml_tasks.features.columns import history_columns, lag_name


def raw_rows_by_day(lake: Lake, spec: PipelineSpec, days: list[date]) -> dict[date, int]:
    """Row counts of published raw partitions from Parquet footers (0 for a day with none or an unreadable one)."""
    available = set(lake.partitions("raw", spec.name))

    def rows(d: date) -> int:
        try:
            return lake.row_count(lake.partition("raw", spec.name, d)) if d in available else 0
        except Exception:  # unreadable: the gate reports it; here it just has no usable rows
            return 0

    return {d: rows(d) for d in days}


def raw_null_shares(expectations_dir: Path, spec: PipelineSpec) -> dict[str, float]:
    """Null shares the raw suite profiled per column (``meta.null_share``); lags of a column that
    is itself sometimes null are null that often too."""
    try:
        data = read_suite(expectations_dir, spec.data.raw_suite)
    except (FileNotFoundError, ValueError):
        return {}
    return {
        e["kwargs"]["column"]: float(e["meta"]["null_share"])
        for e in data.get("expectations", [])
        if e.get("type") == "expect_column_values_to_not_be_null" and "null_share" in (e.get("meta") or {})
    }


def explained_null_shares(
    spec: PipelineSpec, dt: date, rows_by_day: dict[date, int], column_nulls: dict[str, float] | None = None
) -> dict[str, float]:
    """How null each lag and window feature of day ``dt`` may be because of raw gaps alone.

    A lag's source rows lie ``lag`` earlier: its explained null share is the share of the
    source day's rows missing from the raw zone, against a full day (the most rows any day of
    the look-back has; which slots are missing is not known here, so a day with 18 of 24 hours
    explains a quarter of the lags that reach into it; a lag that is not whole days reaches into
    two days, in proportion). A window is null only when every raw
    day it spans is empty. A lag of a column that is itself null at a profiled rate
    (``column_nulls``, from the raw suite) is null that much more often. ``rows_by_day`` must cover
    the look-back (see :func:`features_lookback_days`).
    """
    f = spec.features
    span = [dt - timedelta(days=k) for k in range(features_lookback_days(spec) + 1)]
    full = max([rows_by_day.get(d, 0) for d in span] + [1])

    def missing(day: date) -> float:
        return max(0.0, 1.0 - rows_by_day.get(day, 0) / full)

    out: dict[str, float] = {}
    for col in history_columns(spec):
        prefix = "" if col == spec.data.target else f"{col}_"
        base = (column_nulls or {}).get(col, 0.0)
        for lag, seconds in zip(f.lags, f.lag_seconds, strict=True):
            whole, part = divmod(seconds, DAY)
            later, earlier = dt - timedelta(days=whole), dt - timedelta(days=whole + 1)
            gone = (1 - part / DAY) * missing(later) + (part / DAY) * missing(earlier)
            out[lag_name(spec, lag, col)] = gone + (1 - gone) * base
        for width, seconds in zip(f.windows, f.window_seconds, strict=True):
            first = -(-(f.horizon_seconds + seconds) // DAY)
            last = f.horizon_seconds // DAY
            spanned = [dt - timedelta(days=k) for k in range(last, first + 1)]
            empty = 1.0 if all(rows_by_day.get(d, 0) == 0 for d in spanned) else 0.0
            for stat in ("mean", "std"):
                out[f"{prefix}rolling_{stat}_{f.span(width)}"] = empty
    return out


def features_lookback_days(spec: PipelineSpec) -> int:
    """Days of raw data before a day that its lags and windows reach into, plus one."""
    f = spec.features
    return -(-max([*f.lag_seconds, *(f.horizon_seconds + w for w in f.window_seconds)]) // DAY) + 1
