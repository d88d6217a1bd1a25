"""How the statistical family scales with the number of series: fit and one day's forecasts.

Synthetic hourly series (a level per series, a daily cycle, noise; eight weeks each) are written to
a scratch lake as feature partitions with the demand spec's columns, and the platform's own
`StatsForecastTrainer` fits them and forecasts the next day, as the nightly training and the daily
scoring would. Printed per series count: seconds to fit, milliseconds per series, how many series
got their own AutoETS search, and seconds for one day's forecasts of every series.
"""

from __future__ import annotations

import tempfile
import time
from datetime import date, timedelta

import numpy as np
import pandas as pd

DAYS = 56


def synthetic_features(series: int, start: date, days: int, seed: int = 0) -> pd.DataFrame:
    """``series`` hourly series with the demand spec's key, target and target-lag columns."""
    rng = np.random.default_rng(seed)
    hours = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=days * 24, freq="h")
    t = np.arange(len(hours))
    frames = []
    for i in range(series):
        y = pd.Series(
            rng.uniform(5, 50) * (1 + 0.3 * np.sin(2 * np.pi * (t + rng.integers(24)) / 24))
            + rng.normal(0, 1.0, len(t))
        ).clip(lower=0)
        frame = pd.DataFrame({"ts": hours, "store_id": f"s{i % 50}", "item_id": f"i{i}", "units": y})
        for lag in (24, 48, 168):
            frame[f"lag_{lag}h"] = y.shift(lag)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def statistical_scale(counts: list[int]) -> list[dict]:
    from ml_tasks.core.lake import Lake
    from ml_tasks.core.settings import load_settings
    from ml_tasks.core.spec import load_spec
    from ml_tasks.features.columns import feature_names
    from ml_tasks.training import statistical
    from ml_tasks.training.statistical import StatsForecastTrainer

    spec = load_spec("demand", load_settings().specs_dir)
    out = []
    for n in counts:
        with tempfile.TemporaryDirectory(prefix=f"bench-scale-{n}-") as tmp:
            lake = Lake.from_settings(load_settings(home=tmp))
            start = date(2026, 1, 1)
            rows = synthetic_features(n, start, DAYS + 1)
            dates = [start + timedelta(days=i) for i in range(DAYS + 1)]
            for d, frame in rows.groupby(rows["ts"].dt.date):
                lake.write_partition(frame, "features", spec.name, d)
            trainer = StatsForecastTrainer(spec, feature_names(spec))
            started = time.perf_counter()
            facts = trainer.fit(lake, dates[:-1])
            fit = time.perf_counter() - started
            day = rows[rows["ts"].dt.date == dates[-1]]
            started = time.perf_counter()
            predicted = trainer.predict(day)
            score = time.perf_counter() - started
            mae = float(np.mean(np.abs(predicted - day["units"].to_numpy())))
            naive = float(np.mean(np.abs(day["lag_24h"].to_numpy() - day["units"].to_numpy())))
            out.append(
                {
                    "series": n,
                    "fit_seconds": round(fit, 1),
                    "ms_per_series": round(1000 * fit / n, 1),
                    "searched": min(n, statistical.SEARCHED),
                    "series_fit": facts["series_fit"],
                    "naive_instead": n - facts["series_fit"],
                    "one_day_forecast_seconds": round(score, 1),
                    "mae_vs_day_ago_naive": round(mae / naive, 3),
                }
            )
    return out
