"""Day-ahead forecasts of exponential smoothing (statsforecast's ETS) per series, from plain JSON.

Shared by the ``statsforecast`` family's trainer and its pyfunc (stored beside the model as code).
What a fitted model keeps, per series: the ETS form and parameters statsforecast chose on the
training days, and those days' values (the *tail*) from which its state is rebuilt. Nothing is
pickled: the metadata is JSON, and ``AutoETS.forward`` applies the stored parameters to a series.

A feature row needs no extra input to be forecast. Its timestamp fixes its *origin*, the start of
its day less ``horizon - 1 day`` (the end of the day before, for a day-ahead pipeline): only values
before the origin are used, which is what the row's own lags promise. The history up to the origin
is the tail, then the target values the rows' lag columns carry (``lag_24h`` of an hour is the value
a day before it). An hour nobody reported is filled with the model's own forecast, which is the
same as not updating the state on it. A series the model never saw, or one whose history is too
short, takes the row's naive forecast (its first present naive lag, else the training mean).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

MAX_GAPS = 48  # gaps filled by forecasting across each; any beyond carry the last value forward
MIN_POINTS = 4  # fewer known values before the origin: the naive forecast instead


def series_ids(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """One id per row: its keys joined by ``|`` (``series`` when there are none)."""
    if not keys:
        return pd.Series("series", index=frame.index)
    return frame[keys].astype("string").fillna("<null>").agg("|".join, axis=1)


def timestamps(frame: pd.DataFrame, column: str) -> pd.Series:
    """The rows' times as naive UTC."""
    return pd.to_datetime(frame[column], utc=True).dt.tz_localize(None)


def ets_model(stored: dict[str, Any]):
    """An ``AutoETS`` whose fitted state is ``stored`` (``m``, ``components``, ``par``, ``n_params``)."""
    from statsforecast.models import AutoETS

    model = AutoETS(season_length=int(stored["m"]))
    model.model_ = {
        "m": int(stored["m"]),
        "components": stored["components"],
        "par": np.asarray(stored["par"], dtype=float),
        "n_params": int(stored["n_params"]),
        "fit": None,
    }
    return model


def stored_form(fitted_model: dict[str, Any]) -> dict[str, Any]:
    """What of a fitted ``AutoETS.model_`` is kept: the form, its parameters and initial state."""
    return {
        "m": int(fitted_model["m"]),
        "components": str(fitted_model["components"]),
        "par": [float(v) for v in np.asarray(fitted_model["par"], dtype=float)],
        "n_params": int(fitted_model["n_params"]),
    }


def forecast_path(model, y: np.ndarray, h: int) -> np.ndarray:
    """``h`` steps after ``y``; NaNs inside ``y`` are first filled with the model's own forecasts."""
    y = np.asarray(y, dtype=float).copy()
    missing = np.flatnonzero(np.isnan(y))
    filled = 0
    while missing.size:
        start = int(missing[0])
        if filled >= MAX_GAPS or start < MIN_POINTS:
            y = pd.Series(y).ffill().bfill().to_numpy()
            break
        end = start
        while end + 1 < len(y) and np.isnan(y[end + 1]):
            end += 1
        y[start : end + 1] = model.forward(y[:start], h=end + 1 - start)["mean"]
        filled += 1
        missing = np.flatnonzero(np.isnan(y))
    return np.asarray(model.forward(y, h=h)["mean"], dtype=float)


def harvested(frame: pd.DataFrame, times: pd.Series, lags: dict[str, int], step: pd.Timedelta) -> pd.Series:
    """The target values the rows' lag columns carry, by the time they were observed (later rows win)."""
    parts = []
    for column, lag in lags.items():
        if column in frame.columns:
            values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            parts.append(pd.Series(values, index=(times - lag * step).to_numpy()))
    if not parts:
        return pd.Series(dtype=float)
    out = pd.concat(parts).dropna()
    return out[~out.index.duplicated(keep="last")].sort_index()


def history(series: dict[str, Any], points: pd.Series, origin: pd.Timestamp, step: pd.Timedelta) -> np.ndarray:
    """The series on its grid from the tail's start to the step before ``origin`` (NaN where unknown)."""
    start = pd.Timestamp(series["start"])
    tail = np.asarray(series["values"], dtype=float)
    n = int((origin - start) / step)
    if n <= 0:
        return np.empty(0)
    y = np.full(n, np.nan)
    known = min(n, len(tail))
    y[:known] = tail[:known]
    if n > len(tail) and len(points):
        after = points[(points.index >= start + len(tail) * step) & (points.index < origin)]
        positions = ((after.index - start) / step).astype(int)
        y[positions] = after.to_numpy()
    return y


def forecast(meta: dict[str, Any], frame: pd.DataFrame, fallback: np.ndarray) -> np.ndarray:
    """Each row's forecast made at its origin; ``fallback`` (the naive forecast) where ETS cannot."""
    step = pd.Timedelta(seconds=meta["step_seconds"])
    frame = frame.reset_index(drop=True)
    times = timestamps(frame, meta["timestamp"])
    ids = series_ids(frame, meta["keys"])
    origins = times.dt.floor("D") + pd.Timedelta(days=1) - pd.Timedelta(seconds=meta["horizon_seconds"])
    out = np.asarray(fallback, dtype=float).copy()
    positions = pd.Series(np.arange(len(frame)), index=frame.index)
    for sid, rows in positions.groupby(ids.to_numpy(), sort=False):
        series = meta["series"].get(sid)
        if series is None:
            continue
        index = rows.index
        points = harvested(frame.loc[index], times.loc[index], meta["lags"], step)
        model = ets_model(series["model"])
        for origin, at in rows.groupby(origins.loc[index].to_numpy(), sort=False):
            origin = pd.Timestamp(origin)
            y = history(series, points, origin, step)
            if np.count_nonzero(~np.isnan(y)) < MIN_POINTS:
                continue
            ahead = ((times.loc[at.index] - origin) / step).astype(int).to_numpy()
            with np.errstate(all="ignore"):
                path = forecast_path(model, y, int(ahead.max()) + 1)
            values = path[np.clip(ahead, 0, None)]
            ok = np.isfinite(values) & (ahead >= 0)
            out[at.to_numpy()[ok]] = values[ok]
    if meta.get("clip_at_zero"):
        out = np.maximum(out, 0.0)
    return out
