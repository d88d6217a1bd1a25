"""The demand features written in pandas: the single-process peer of the Spark job.

Same definitions as ``spark_jobs.demand_features`` and ``bench/features_duckdb.py``: a lag is
the value exactly N hours earlier, a rolling window covers (t - horizon - width, t - horizon],
the price ratio divides by the mean price over the 168 hours ending a horizon earlier (1.0 when
there is none). Two formulations, both over a dense hourly grid per series (a missing hour is a
NaN row, so a range of hours is a range of rows): pandas' own grouped ``rolling`` and ``shift``,
and plain numpy running sums. (A time-based ``rolling("24h")`` joined on the shifted timestamp,
the first version of this peer, loses the window of an hour whose own row is missing.)
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from ml_tasks.core.spec import PipelineSpec


def read_raw(raw_files: list[Path]) -> pd.DataFrame:
    cols = ["store_id", "item_id", "ts", "units", "price", "promo", "is_holiday"]
    df = pd.concat((pd.read_parquet(f, columns=cols) for f in raw_files), ignore_index=True)
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    df["store_id"], df["item_id"] = df["store_id"].astype(str), df["item_id"].astype(str)
    df["units"], df["price"] = df["units"].astype(float), df["price"].astype(float)
    return df.sort_values(["store_id", "item_id", "ts"], ignore_index=True)


def _dense(raw: pd.DataFrame, keys: list[str]):
    """Every hour of each series from its first to its last row: (grid frame, row -> grid position)."""
    import numpy as np

    hours = raw["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[h]").astype("int64")
    series = raw.groupby(keys, sort=False).ngroup().to_numpy()
    by_series = pd.Series(hours).groupby(series)
    lo, span = by_series.min().to_numpy(), by_series.max().to_numpy() - by_series.min().to_numpy() + 1
    start = np.concatenate([[0], np.cumsum(span)[:-1]])
    pos = start[series] + (hours - lo[series])
    grid = pd.DataFrame({"series": np.repeat(np.arange(len(span)), span)})
    for col in ("units", "price"):
        values = np.full(len(grid), np.nan)
        values[pos] = raw[col].to_numpy(float)
        grid[col] = values
    return grid, pos


def build_features(raw: pd.DataFrame, spec: PipelineSpec, first: date, last: date) -> pd.DataFrame:
    """pandas' own rolling windows over a dense hourly grid: per series ``rolling(width)`` over rows
    (a missing hour is a NaN row, so rows are hours), then ``shift`` by the horizon or the lag."""
    keys = list(spec.data.keys)
    h = spec.features.horizon_seconds // 3600
    grid, pos = _dense(raw, keys)
    by_series = grid.groupby("series", sort=False)
    out = {}
    for lag in [s // 3600 for s in spec.features.lag_seconds]:
        out[f"lag_{lag}h"] = by_series["units"].shift(lag)
    for width in [s // 3600 for s in spec.features.window_seconds]:
        rolling = by_series["units"].rolling(width, min_periods=1)
        out[f"rolling_mean_{width}h"] = rolling.mean().reset_index(level=0, drop=True)
        out[f"rolling_std_{width}h"] = rolling.std(ddof=1).reset_index(level=0, drop=True)
    out["_mean_price_168h"] = by_series["price"].rolling(168, min_periods=1).mean().reset_index(level=0, drop=True)
    features = pd.DataFrame(out).sort_index()
    shifted = [c for c in features if not c.startswith("lag_")]
    features[shifted] = features[shifted].groupby(grid["series"], sort=False).shift(h)
    df = raw.copy()
    for col in features:
        df[col] = features[col].to_numpy()[pos]
    df["price_ratio_168h"] = (df["price"] / df.pop("_mean_price_168h")).fillna(1.0)
    df["hour"] = df["ts"].dt.hour
    df["day_of_week"] = df["ts"].dt.dayofweek
    df["is_weekend"] = (df["day_of_week"] >= 5).astype(int)
    day = df["ts"].dt.date
    return df[(day >= first) & (day <= last)].reset_index(drop=True)


def build_features_grid(raw: pd.DataFrame, spec: PipelineSpec, first: date, last: date) -> pd.DataFrame:
    """The same features vectorised over one dense hourly grid (numpy, no per-series Python loop).

    Each series gets a contiguous block of hours from its first to its last row; a row's lag is the
    grid value ``lag`` hours back (NaN before the block or in a missing hour) and a window's sum,
    sum of squares and count are differences of running sums across the block, clamped at its
    start. Assumes timestamps on whole hours, as the demo's are; ``raw`` sorted as ``read_raw`` sorts.
    """
    import numpy as np

    keys = list(spec.data.keys)
    h = spec.features.horizon_seconds // 3600
    hours = raw["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[h]").astype("int64")
    series = raw.groupby(keys, sort=False).ngroup().to_numpy()
    lo = pd.Series(hours).groupby(series).transform("min").to_numpy()
    span = pd.Series(hours).groupby(series).max().to_numpy() - pd.Series(hours).groupby(series).min().to_numpy() + 1
    start = np.concatenate([[0], np.cumsum(span)[:-1]])  # each series' first grid index
    block_start = start[series]
    pos = block_start + (hours - lo)
    size = int(span.sum())

    def grid(values: np.ndarray) -> np.ndarray:
        out = np.full(size, np.nan)
        out[pos] = values
        return out

    def back(values: np.ndarray, k: int) -> np.ndarray:
        """``values`` at each row's grid position minus ``k``, NaN before its series' block."""
        idx = pos - k
        found = values[np.clip(idx, 0, size - 1)]
        return np.where(idx >= block_start, found, np.nan)

    def window_sum(running: np.ndarray, width: int) -> np.ndarray:
        """Sum over grid rows (i - h - width, i - h], clamped to the series' block; 0 when empty."""
        base = np.concatenate([[0.0], running])  # base[j] = sum of the first j grid values
        hi = np.clip(pos - h + 1, block_start, None)
        lo_ = np.clip(pos - h - width + 1, block_start, None)
        return base[hi] - base[np.minimum(lo_, hi)]

    units, price = grid(raw["units"].to_numpy(float)), grid(raw["price"].to_numpy(float))
    present = ~np.isnan(units)
    cs, cq, cn = (np.cumsum(np.where(present, x, 0.0)) for x in (units, units * units, present.astype(float)))
    df = raw.copy()
    for lag in [s // 3600 for s in spec.features.lag_seconds]:
        df[f"lag_{lag}h"] = back(units, lag)
    with np.errstate(invalid="ignore", divide="ignore"):
        for width in [s // 3600 for s in spec.features.window_seconds]:
            n, s, q = window_sum(cn, width), window_sum(cs, width), window_sum(cq, width)
            df[f"rolling_mean_{width}h"] = np.where(n > 0, s / n, np.nan)
            df[f"rolling_std_{width}h"] = np.where(n > 1, np.sqrt(np.maximum((q - s * s / n) / (n - 1), 0.0)), np.nan)
        has_price = ~np.isnan(price)
        pn = window_sum(np.cumsum(has_price.astype(float)), 168)
        ps = window_sum(np.cumsum(np.where(has_price, price, 0.0)), 168)
        df["price_ratio_168h"] = (
            pd.Series(df["price"].to_numpy() / np.where(pn > 0, ps / pn, np.nan)).fillna(1.0).to_numpy()
        )
    df["hour"] = df["ts"].dt.hour
    df["day_of_week"] = df["ts"].dt.dayofweek
    df["is_weekend"] = (df["day_of_week"] >= 5).astype(int)
    day = df["ts"].dt.date
    return df[(day >= first) & (day <= last)].reset_index(drop=True)


FORMULATIONS = {"dense_groupby_rolling": build_features, "numpy_grid": build_features_grid}
