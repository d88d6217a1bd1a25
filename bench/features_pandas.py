"""The demand features written in pandas: the single-process peer of the Spark job.

Same definitions as ``spark_jobs.demand_features`` and ``bench/features_duckdb.py``: a lag is
the value exactly N hours earlier, a rolling window covers (t - horizon - width, t - horizon],
the price ratio divides by the mean price over the 168 hours ending a horizon earlier (1.0 when
there is none). Time-based windows per series, then a join on the shifted timestamp.
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


def _shifted(frame: pd.DataFrame, keys: list[str], hours: int, columns: dict[str, pd.Series]) -> pd.DataFrame:
    """Values computed at time s, keyed so that they join rows at time s + hours."""
    out = frame[keys].copy()
    out["ts"] = frame["ts"] + pd.Timedelta(hours=hours)
    for name, values in columns.items():
        out[name] = values.to_numpy()
    return out


def build_features(raw: pd.DataFrame, spec: PipelineSpec, first: date, last: date) -> pd.DataFrame:
    keys = list(spec.data.keys)
    h = spec.features.horizon_hours
    df = raw.copy()
    indexed = df.set_index("ts")
    by_series = indexed.groupby(keys, sort=False)
    for lag in spec.features.lags_hours:
        df = df.merge(_shifted(raw, keys, lag, {f"lag_{lag}h": raw["units"]}), on=[*keys, "ts"], how="left")
    for width in spec.features.rolling_hours:
        rolling = by_series["units"].rolling(f"{width}h")
        stats = {f"rolling_mean_{width}h": rolling.mean().reset_index(drop=True),
                 f"rolling_std_{width}h": rolling.std(ddof=1).reset_index(drop=True)}
        df = df.merge(_shifted(raw, keys, h, stats), on=[*keys, "ts"], how="left")
    mean_price = by_series["price"].rolling("168h").mean().reset_index(drop=True)
    df = df.merge(_shifted(raw, keys, h, {"_mean_price_168h": mean_price}), on=[*keys, "ts"], how="left")
    df["price_ratio_168h"] = (df["price"] / df.pop("_mean_price_168h")).fillna(1.0)
    df["hour"] = df["ts"].dt.hour
    df["day_of_week"] = df["ts"].dt.dayofweek
    df["is_weekend"] = (df["day_of_week"] >= 5).astype(int)
    day = df["ts"].dt.date
    return df[(day >= first) & (day <= last)].reset_index(drop=True)
