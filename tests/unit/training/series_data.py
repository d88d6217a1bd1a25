"""Shared feature data of the family tests: two drifting hourly series with lags and rolling means
computed from the series itself, and an MLflow round trip of a fitted family."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

DAYS = [date(2026, 3, 9) + timedelta(days=i) for i in range(12)]
LOOKBACK = 8  # days of series before the first feature day (the weekly lag and window need 7 + 1)


def series_features(spec, rng: np.random.Generator) -> pd.DataFrame:
    """Hourly feature rows of two drifting series: lags and windows end ``horizon`` hours before the row."""
    hours = pd.date_range(
        pd.Timestamp(DAYS[0] - timedelta(days=LOOKBACK), tz="UTC"),
        pd.Timestamp(DAYS[-1], tz="UTC") + pd.Timedelta(hours=23),
        freq="h",
    )
    t = np.arange(len(hours))
    frames = []
    for store, base in (("S1", 20.0), ("S2", 60.0)):
        units = base + 0.15 * t + 6 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1.0, len(t))
        y = pd.Series(np.clip(units, 0, None))
        frame = pd.DataFrame({"store_id": store, "item_id": "I1", "ts": hours, "units": y})
        for lag in spec.features.lags:
            frame[f"lag_{lag}h"] = y.shift(lag)
        past = y.shift(spec.features.horizon)
        for w in spec.features.windows:
            frame[f"rolling_mean_{w}h"] = past.rolling(w, min_periods=1).mean()
            frame[f"rolling_std_{w}h"] = past.rolling(w, min_periods=2).std()
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["hour"], out["day_of_week"] = out["ts"].dt.hour, out["ts"].dt.dayofweek
    out["is_weekend"] = (out["day_of_week"] >= 5).astype(int)
    out["is_holiday"], out["promo"] = 0, rng.integers(0, 2, len(out))
    out["price"] = rng.normal(5, 0.5, len(out))
    out["price_ratio_168h"] = 1.0
    out["dt"] = out["ts"].dt.date
    return out[out["dt"] >= DAYS[0]].reset_index(drop=True)


def log_and_load(settings, model, frame):
    import mlflow
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_experiment("round-trip")  # this test's own store: no experiment id left by another test
    features = model.features
    with mlflow.start_run():
        signature = infer_signature(frame[features].head(5), pd.Series(model.predict(frame.head(5)), name="prediction"))
        info = model.log_model(frame[features].head(5), signature)
    return mlflow.pyfunc.load_model(info.model_uri)
