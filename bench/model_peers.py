"""The forecasters a champion is measured against, each on exactly the champion's holdout rows.

Every peer forecasts each holdout day from the history up to the day before (rolling origin, one
day ahead for hourly data, one step for daily), trained on the champion's training window:

- statsforecast MSTL (the cadence's seasonal periods), refit for every day on the window that
  ends the day before, and AutoETS fit once on the training window, its state carried forward
  through each day's actuals (``cross_validation`` with ``refit=False``, ``input_size`` = the
  window). Refitting AutoETS every day was tried on the temperatures: weaker (MAE 0.0898 against
  0.0860) and 23 times slower; MSTL's daily refit costs the same as carrying it forward and did
  slightly better (0.0952 against 0.0963);
- mlforecast LightGBM on the same lags, rolling means, calendar and known-ahead columns, without
  and with the target differenced (at the horizon, at the weekly period), trained once on the
  window (``cross_validation(refit=False)``);
- a plain LightGBM (library defaults) on the platform's own feature rows;
- the naive forecasts of the cadence (the feature rows' lags).

Series are put on a regular grid for the statistical and mlforecast peers (a missing hour's value
and known-ahead columns carried forward from the last seen), since their lags count positions; the
rows compared are only the champion's own.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

SEASONS = {"hourly": [24, 168], "daily": [7, 365]}
DIFFERENCES = {"hourly": (24, 168), "daily": (1, 7)}  # one horizon (a day) and one week back
FREQ = {"hourly": "h", "daily": "D"}


def regular_grid(
    raw: pd.DataFrame, keys: list[str], timestamp: str, target: str, exog: list[str], frequency: str, end: pd.Timestamp
) -> pd.DataFrame:
    """``unique_id, ds, y, <exog>`` on a full grid per series up to ``end`` (the holdout's last step, so
    every peer's rolling origins fall on day boundaries): no missing step, no repeated one. A missing
    value is carried forward from the last one seen (never filled from the future)."""
    frame = raw[[*keys, timestamp, target, *exog]].copy()
    frame["ds"] = pd.to_datetime(frame[timestamp], utc=True).dt.tz_localize(None).dt.floor(FREQ[frequency])
    frame["unique_id"] = frame[keys].astype(str).agg("|".join, axis=1) if keys else "series"
    frame = frame.drop_duplicates(["unique_id", "ds"], keep="last").rename(columns={target: "y"})
    out = []
    for uid, part in frame.groupby("unique_id"):
        part = part.set_index("ds").sort_index()
        grid = pd.date_range(part.index.min(), end, freq=FREQ[frequency])
        part = part.reindex(grid)
        part["y"] = part["y"].astype(float).ffill()
        for c in exog:
            part[c] = part[c].ffill().bfill()
        out.append(part.assign(unique_id=uid).rename_axis("ds").reset_index()[["unique_id", "ds", "y", *exog]])
    grid = pd.concat(out, ignore_index=True)
    for c in exog:
        if grid[c].dtype == object:
            grid[c] = grid[c].astype("category")
    return grid


def statistical_peers(
    grid: pd.DataFrame, frequency: str, horizon: int, train_steps: int, holdout_steps: int
) -> tuple[pd.DataFrame, dict[str, float]]:
    """MSTL (refit every ``horizon`` steps on the window before) and AutoETS (fit once, carried forward)
    forecasts of the holdout."""
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoETS

    seasons = [s for s in SEASONS[frequency] if 2 * s <= train_steps]
    seconds = {}
    out = None
    for name, model, refit in (
        ("statsforecast MSTL", MSTL(season_length=seasons, alias="peer"), True),
        ("statsforecast AutoETS", AutoETS(season_length=seasons[0], alias="peer"), False),
    ):
        started = time.perf_counter()
        cv = StatsForecast(models=[model], freq=FREQ[frequency], n_jobs=1).cross_validation(
            h=horizon,
            df=grid[["unique_id", "ds", "y"]],
            n_windows=holdout_steps // horizon,
            step_size=horizon,
            input_size=train_steps,
            refit=refit,
        )
        seconds[name] = time.perf_counter() - started
        cv = cv[["unique_id", "ds", "peer"]].rename(columns={"peer": name})
        out = cv if out is None else out.merge(cv, on=["unique_id", "ds"])
    return out, seconds


def mlforecast_peers(
    grid: pd.DataFrame,
    frequency: str,
    horizon: int,
    lags: list[int],
    windows: list[int],
    train_steps: int,
    holdout_steps: int,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """mlforecast LightGBM with the platform's lags and windows, plain and with differenced targets."""
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean, RollingStd
    from mlforecast.target_transforms import Differences

    calendar = ["hour", "dayofweek"] if frequency == "hourly" else ["dayofweek", "month", "dayofyear"]
    variants = {
        "mlforecast LightGBM": None,
        **{f"mlforecast LightGBM, differences({d})": [Differences([d])] for d in DIFFERENCES[frequency]},
    }
    seconds, out = {}, None
    for name, transforms in variants.items():
        forecaster = MLForecast(
            models={"peer": lgb.LGBMRegressor(random_state=seed, verbose=-1, n_jobs=2)},
            freq=FREQ[frequency],
            lags=lags,
            lag_transforms={horizon: [t(w) for w in windows for t in (RollingMean, RollingStd)]},
            date_features=calendar,
            target_transforms=transforms,
        )
        started = time.perf_counter()
        cv = forecaster.cross_validation(
            df=grid,
            n_windows=holdout_steps // horizon,
            h=horizon,
            step_size=horizon,
            static_features=[],
            refit=False,
            input_size=train_steps,
        )
        seconds[name] = time.perf_counter() - started
        cv = cv[["unique_id", "ds", "peer"]].rename(columns={"peer": name})
        out = cv if out is None else out.merge(cv, on=["unique_id", "ds"])
    return out, seconds


def plain_lightgbm(
    train: pd.DataFrame, holdout: pd.DataFrame, features: list[str], categorical: list[str], target: str, seed: int = 0
) -> tuple[np.ndarray, float]:
    """LightGBM with library defaults on the platform's feature rows (categories as pandas categories)."""
    import lightgbm as lgb

    train, holdout = train.copy(), holdout.copy()
    for c in categorical:
        cats = sorted(train[c].dropna().astype(str).unique())
        train[c] = pd.Categorical(train[c].astype(str), categories=cats)
        holdout[c] = pd.Categorical(holdout[c].astype(str), categories=cats)
    started = time.perf_counter()
    model = lgb.LGBMRegressor(random_state=seed, verbose=-1, n_jobs=2).fit(train[features], train[target])
    return model.predict(holdout[features]), time.perf_counter() - started
