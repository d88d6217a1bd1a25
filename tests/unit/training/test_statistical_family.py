"""The ``statsforecast`` family: AutoETS per series, forecasting each day from what its rows' lags carry.

On the drifting series of `test_families_and_transforms` (a rising level, a daily cycle): its
forecasts are statsforecast's own on the true history up to each day's origin, they never use a
value from the day itself or later, they survive the MLflow round trip, and a series the model never
saw, or hours nobody reported, still get a forecast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_tasks.core.settings import load_settings
from ml_tasks.core.spec import load_spec
from ml_tasks.features.columns import feature_names
from ml_tasks.training.model_code import ets_forecast as ets
from ml_tasks.training.statistical import StatsForecastTrainer

from .series_data import DAYS, log_and_load, series_features


@pytest.fixture
def rows(spec):
    return series_features(spec, np.random.default_rng(0))


@pytest.fixture
def fitted(lake, spec, rows):
    for day, frame in rows.groupby("dt"):
        lake.write_partition(frame.drop(columns=["dt"]), "features", spec.name, day)
    model = StatsForecastTrainer(spec, feature_names(spec))
    facts = model.fit(lake, DAYS[:9])
    return model, facts, rows[rows["dt"] >= DAYS[9]].reset_index(drop=True)


def test_forecasts_are_statsforecasts_own_from_each_days_origin(fitted, rows):
    model, facts, holdout = fitted
    assert facts["series_fit"] == 2 and facts["series_naive_budget"] == facts["series_naive_too_short"] == 0
    predicted = model.predict(holdout)
    for store in ("S1", "S2"):
        truth = rows[rows["store_id"] == store].set_index("ts")["units"]
        series = model.meta["series"][f"{store}|I1"]
        ets_model = ets.ets_model(series["model"])
        start = pd.Timestamp(series["start"], tz="UTC")
        for day in DAYS[9:]:
            origin = pd.Timestamp(day, tz="UTC")  # a day-ahead pipeline: the end of the day before
            y = truth[(truth.index >= start) & (truth.index < origin)].to_numpy()
            expected = ets_model.forward(y, h=24)["mean"]
            at = ((holdout["store_id"] == store) & (holdout["dt"] == day)).to_numpy()
            assert predicted[at] == pytest.approx(np.maximum(expected, 0), rel=1e-6, abs=1e-6)
    naive = np.abs(holdout["lag_24h"] - holdout["units"]).mean()
    assert np.abs(predicted - holdout["units"]).mean() < 0.5 * naive  # the level moves; ETS follows it


def test_a_day_is_forecast_from_before_its_origin_only(fitted):
    model, _, holdout = fitted
    before = model.predict(holdout)
    later = holdout.copy()
    last = later["dt"] == DAYS[-1]
    later.loc[last, ["lag_24h", "lag_48h", "lag_168h"]] *= 3  # values of the last two days and a week ago
    after = model.predict(later)
    earlier_days = (holdout["dt"] < DAYS[-2]).to_numpy()
    assert after[earlier_days] == pytest.approx(before[earlier_days])  # day D-2 and before: unchanged
    assert not np.allclose(after[last.to_numpy()], before[last.to_numpy()])


def test_round_trip_through_mlflow_with_only_feature_rows(fitted, settings):
    model, _, holdout = fitted
    assert model.inputs[:3] == ["ts", "store_id", "item_id"]
    loaded = _log_and_load_inputs(settings, model, holdout)
    assert np.asarray(loaded.predict(holdout[model.inputs])) == pytest.approx(model.predict(holdout), rel=1e-6)
    with pytest.raises(Exception, match="ts"):
        loaded.predict(holdout[model.features])
    # an online request's rows: times as ISO strings, as JSON carries them
    rows = holdout[model.inputs].head(30).assign(ts=lambda f: f["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert np.asarray(loaded.predict(rows)) == pytest.approx(model.predict(holdout.head(30)), rel=1e-6)


def _log_and_load_inputs(settings, model, frame):
    features = model.features
    model.features = model.inputs  # what candidate.log_candidate logs for this family
    try:
        return log_and_load(settings, model, frame)
    finally:
        model.features = features


def test_unknown_series_and_unreported_hours_still_get_a_forecast(fitted):
    model, _, holdout = fitted
    new = holdout[holdout["store_id"] == "S1"].head(24).assign(store_id="S9")
    assert model.predict(new) == pytest.approx(new["lag_24h"].to_numpy())  # never seen: the naive forecast
    gappy = holdout.drop(index=holdout.index[(holdout["ts"].dt.hour % 5 == 0).to_numpy()])
    gappy_prediction = model.predict(gappy)
    assert np.isfinite(gappy_prediction).all()
    full = pd.Series(model.predict(holdout), index=holdout.index).loc[gappy.index].to_numpy()
    assert np.abs(gappy_prediction - full).mean() < 0.5 * np.abs(full - holdout.loc[gappy.index, "units"]).mean()


def test_classification_pipelines_cannot_take_the_family():
    churn = load_spec("churn", load_settings().specs_dir)
    with pytest.raises(ValueError, match="statsforecast family forecasts a number"):
        StatsForecastTrainer(churn, feature_names(churn))


def test_after_the_searched_series_the_rest_take_the_common_form(lake, spec, rows, monkeypatch):
    from ml_tasks.training import statistical

    for day, frame in rows.groupby("dt"):
        lake.write_partition(frame.drop(columns=["dt"]), "features", spec.name, day)
    monkeypatch.setattr(statistical, "SEARCHED", 1)
    calls = []
    real = statistical.StatsForecastTrainer._fit_one
    monkeypatch.setattr(
        statistical.StatsForecastTrainer,
        "_fit_one",
        staticmethod(lambda y, season, forms: calls.append(dict(forms)) or real(y, season, forms)),
    )
    model = StatsForecastTrainer(spec, feature_names(spec))
    facts = model.fit(lake, DAYS[:9])
    first = model.meta["series"]["S1|I1"]["model"]["components"]
    assert calls == [{}, {first: 1}]  # the second series is fit knowing the first one's form
    assert model.meta["series"]["S2|I1"]["model"]["components"] == first and facts["ets_forms"] == f"{first}:2"
