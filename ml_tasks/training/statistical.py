"""The statistical family, ``statsforecast``: exponential smoothing fit per series (Nixtla's AutoETS).

AutoETS chooses, per series, the error, trend and seasonal form (a day's season for hourly data, a
week's for daily; statsforecast's ETS takes seasons of at most 24 steps, so half-hourly or weekly
series are fit without one) and its parameters by AICc on the newest ``training.statsforecast.history_days``
of the training days (default: all of them, as the other families), each series on a
regular grid (a missing step takes the last value before it). With many series, those after the
first 30 take the form most of those chose and only fit its parameters. Fitting stops at the
family's time budget; series left unfit then, and any too short or that statsforecast refuses,
forecast with the naive lag instead, and the run's facts count them.
Forecasts are made as `model_code/ets_forecast.py` explains: from each row's origin, with the
history its lags carry, so every caller passes plain feature rows (with keys and timestamp).
"""

from __future__ import annotations

import logging
import time
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ml_tasks.core import cadence
from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.features.columns import history_columns, lag_name, naive_columns
from ml_tasks.features.store import load_features
from ml_tasks.training.model_code import ets_forecast as ets
from ml_tasks.training.model_code import target_transform as tt
from ml_tasks.training.model_code.ets_model import ets_predict
from ml_tasks.training.trainers import log_pyfunc

log = logging.getLogger(__name__)
SEARCHED = 30  # series that get AutoETS's full search of forms; the rest take the most common form
MAX_SEASON = 24  # the longest season statsforecast's ETS fits


def season_length(spec: PipelineSpec) -> int:
    """ETS's one seasonal period: the cadence's shortest (24 hourly, 7 daily), or none when too long."""
    period = cadence.seasonal_periods(spec.features.step_seconds)[0]
    return period if period <= MAX_SEASON else 1


class StatsForecastTrainer:
    kind = "statsforecast"

    def __init__(
        self, spec: PipelineSpec, features: list[str], transform: dict | None = None, params: dict | None = None
    ):
        if spec.task != "regression":
            raise ValueError(
                f"pipeline {spec.name!r}: the statsforecast family forecasts a number; "
                f"task {spec.task!r} needs lightgbm, lightning or the baselines"
            )
        self.spec, self.features = spec, features
        d = spec.data
        self.inputs = list(dict.fromkeys([d.timestamp, *d.keys, *features]))  # what the pyfunc is given
        self.meta: dict = {}
        self.history_days = spec.training.statsforecast.history_days  # None: every training day

    @classmethod
    def transforms(cls, spec: PipelineSpec) -> list[dict]:
        return [tt.NONE]

    def _series(self, train: pd.DataFrame, end: pd.Timestamp) -> dict[str, pd.Series]:
        """Each series' target on its grid over the newest ``history_days`` before ``end``."""
        d = self.spec.data
        step = pd.Timedelta(seconds=self.spec.features.step_seconds)
        frame = pd.DataFrame(
            {
                "id": ets.series_ids(train, d.keys).to_numpy(),
                "t": ets.timestamps(train, d.timestamp).to_numpy(),
                "y": pd.to_numeric(train[d.target], errors="coerce").to_numpy(dtype=float),
            }
        )
        if self.history_days:
            frame = frame[frame["t"] >= end - pd.Timedelta(days=self.history_days)]
        frame = frame[frame["t"] < end].dropna(subset=["y"])
        out = {}
        for sid, part in frame.groupby("id", sort=True):
            values = part.groupby("t")["y"].last()
            grid = pd.date_range(values.index.min().floor(step), end - step, freq=step)
            out[str(sid)] = values.reindex(grid).ffill()
        return out

    @staticmethod
    def _fit_one(y: np.ndarray, season: int, forms: dict[str, int]):
        """AutoETS on ``y``: the full search of forms for the first ``SEARCHED`` series, then the form
        most of those chose (about eight times faster; the full search again if it cannot fit ``y``)."""
        from statsforecast.models import AutoETS

        m = season if len(y) >= 3 * season else 1
        common = max(forms, key=forms.__getitem__) if sum(forms.values()) >= SEARCHED else None
        with np.errstate(all="ignore"):
            if common is not None and (common[2] == "N") == (m == 1):
                try:
                    return AutoETS(season_length=m, model=common[:3], damped=common[3] == "D").fit(y)
                except Exception:  # e.g. a multiplicative form on a series with zeros
                    pass
            return AutoETS(season_length=m).fit(y)

    def fit(self, lake: Lake, dates: list[date], logger=None) -> dict:
        spec, d = self.spec, self.spec.data
        train = load_features(lake, spec, dates)
        y_all = pd.to_numeric(train[d.target], errors="coerce")
        end = pd.Timestamp(max(dates) + timedelta(days=1))
        budget = spec.training.statsforecast.minutes * 60
        started, left = time.perf_counter(), {"too_short": 0, "refused": 0, "budget": 0}
        fitted: dict[str, dict[str, Any]] = {}
        forms: dict[str, int] = {}  # how many series chose each ETS form (components)
        season = season_length(spec)
        for sid, values in self._series(train, end).items():
            y = values.to_numpy(dtype=float)
            if time.perf_counter() - started > budget:
                left["budget"] += 1
                continue
            if len(y) < 2 * ets.MIN_POINTS:
                left["too_short"] += 1
                continue
            try:
                model = self._fit_one(y, season, forms)
            except Exception as exc:  # a constant or degenerate series: statsforecast says why
                log.info("statsforecast: series %s not fit (%s); it takes the naive forecast", sid, exc)
                left["refused"] += 1
                continue
            form = ets.stored_form(model.model_)
            fitted[sid] = {"start": values.index[0].isoformat(), "values": [float(v) for v in y], "model": form}
            forms[form["components"]] = forms.get(form["components"], 0) + 1
        target_lags = (
            {lag_name(spec, lag): lag for lag in spec.features.lags} if d.target in history_columns(spec) else {}
        )
        self.meta = {
            "keys": list(d.keys),
            "timestamp": d.timestamp,
            "frequency": spec.features.frequency,
            "step_seconds": spec.features.step_seconds,
            "horizon_seconds": spec.features.horizon_seconds,
            "lags": target_lags,
            "naive_columns": naive_columns(spec),
            "fill": float(y_all.mean()) if y_all.notna().any() else 0.0,
            "clip_at_zero": bool(y_all.min() >= 0) if y_all.notna().any() else False,
            "series": fitted,
        }
        seconds = time.perf_counter() - started
        log.info(
            "statsforecast: %d series fit in %.1f s (forms %s); naive instead for %s", len(fitted), seconds, forms, left
        )
        return {
            "train_rows": len(train),
            "series_fit": len(fitted),
            "fit_seconds": round(seconds, 2),
            **{f"series_naive_{k}": v for k, v in left.items()},
            "ets_forms": ",".join(f"{k}:{v}" for k, v in sorted(forms.items(), key=lambda kv: -kv[1])),
        }

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return ets_predict(self.meta, frame)

    def params(self) -> dict:
        s = self.spec.training.statsforecast
        return {
            "statsforecast.model": "AutoETS",
            "statsforecast.season": season_length(self.spec),
            "statsforecast.history_days": self.history_days or "all",
            "statsforecast.minutes": s.minutes,
        }

    def log_model(self, example: pd.DataFrame, signature):
        from mlflow.models import ModelSignature
        from mlflow.types.schema import AnyType, ColSpec, Schema

        # MLflow's datetime type takes only naive times; the lake's (and a JSON request's) are kept as given
        ts = self.spec.data.timestamp
        inputs = Schema([ColSpec(AnyType(), ts) if c.name == ts else c for c in signature.inputs.inputs])
        signature = ModelSignature(inputs, signature.outputs)
        return log_pyfunc(
            "ets_model.py",
            {"metadata": self.meta},
            ["ets_forecast.py", "target_transform.py"],
            signature,
            packages=("statsforecast",),
        )
