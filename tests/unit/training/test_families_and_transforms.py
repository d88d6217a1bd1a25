"""Every family and target transform: exact inverses, baselines that are what they say, MLflow round trips.

The feature days are built from real series arithmetic (two series whose level drifts upwards
day after day, a daily cycle and noise), with lags and rolling means computed from the series
itself, so a difference or a scaled target means what it means in production.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_tasks.core.settings import load_settings
from ml_tasks.core.spec import load_spec
from ml_tasks.features.columns import feature_names
from ml_tasks.training.baselines import BaseRateTrainer, LinearBaselineTrainer, NaiveTrainer
from ml_tasks.training.model_code import target_transform as tt
from ml_tasks.training.trainers import LightGBMTrainer, NeuralTrainer
from ml_tasks.training.transforms import candidate_transforms

from .series_data import DAYS, log_and_load


def test_transforms_invert_exactly_on_a_known_series(spec):
    frame = pd.DataFrame(
        {
            "lag_24h": [8.0, 15.0, np.nan],
            "lag_168h": [1.0, 2.0, 30.0],
            "rolling_mean_24h": [9.0, 14.0, 20.0],
            "rolling_std_24h": [1.0, 2.0, 3.0],
            "rolling_mean_168h": [5.0, -5.0, np.nan],
            "lag_48h": [7.0, 16.0, 20.0],
            "rolling_std_168h": [1.0, 1.0, 1.0],
        }
    )
    y = np.array([10.0, 12.0, 33.0])
    by_name = {tt.describe(t): t for t in candidate_transforms(spec)}
    assert list(by_name) == ["none", "difference(lag_24h)", "difference(lag_168h)", "scale(rolling_mean_168h)"]

    diff = by_name["difference(lag_24h)"]
    # The base is the lag one horizon ago; where it is missing, the weekly lag stands in.
    assert tt.transform_target(frame, y, diff).tolist() == [2.0, -3.0, 3.0]
    moved = tt.transform_frame(frame, diff)
    assert moved["lag_48h"].tolist() == [-1.0, 1.0, -10.0] and moved["rolling_std_24h"].tolist() == [1.0, 2.0, 3.0]

    scale = {**by_name["scale(rolling_mean_168h)"], "offset": 1.0}
    # Level: |rolling mean| + offset; the third row falls back to the next level column (the 24 h mean).
    assert tt.transform_target(frame, y, scale).tolist() == pytest.approx([10 / 6, 12 / 6, 33 / 21])
    assert tt.transform_frame(frame, scale)["rolling_std_24h"].tolist() == pytest.approx([1 / 6, 2 / 6, 3 / 21])

    for transform in [diff, scale, by_name["difference(lag_168h)"], tt.NONE]:
        learned = tt.transform_target(frame, y, transform)
        assert tt.invert(frame, learned, transform) == pytest.approx(y, abs=1e-12)
        rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
        assert tt.invert_rows(rows, learned, transform) == pytest.approx(y, abs=1e-12)


def test_a_row_with_no_base_or_level_at_all_takes_the_training_mean_and_still_inverts(spec):
    """A new series has no lags yet: its base (or level) is the training target's mean, never NaN."""
    by_name = {tt.describe(t): t for t in candidate_transforms(spec)}
    frame = pd.DataFrame(
        {
            c: [np.nan, 4.0]
            for c in (
                "lag_24h",
                "lag_48h",
                "lag_168h",
                "rolling_mean_24h",
                "rolling_std_24h",
                "rolling_mean_168h",
                "rolling_std_168h",
            )
        }
    )
    frame["store_id"] = ["new", "S1"]
    y = np.array([7.0, 5.0])
    for name in ("difference(lag_24h)", "scale(rolling_mean_168h)"):
        transform = tt.fitted(by_name[name], np.array([2.0, 4.0, 6.0]))  # training mean 4
        assert transform["fill"] == 4.0
        learned = tt.transform_target(frame, y, transform)
        assert np.isfinite(learned).all() and tt.invert(frame, learned, transform) == pytest.approx(y)
        rows = [
            {"store_id": 3, "lag_24h": None, "rolling_mean_168h": None},
            {"store_id": 4, "lag_24h": 4.0, "rolling_mean_168h": 4.0},
        ]
        moved = tt.transform_rows(rows, transform)
        assert [r["store_id"] for r in moved] == [3, 4]  # keys keep their type (no 3.0 for 3)
        assert moved[1]["lag_24h"] == pytest.approx(0.0 if name.startswith("difference") else 4.0 / (4.0 + 0.4))


def test_the_naive_baseline_is_the_best_lag_with_the_next_where_it_is_missing(series_lake, spec):
    naive = NaiveTrainer(spec, feature_names(spec))
    facts = naive.fit(series_lake, DAYS[:9])
    # A drifting series with a daily cycle: yesterday's hour is closer than last week's.
    assert naive.columns == ["lag_24h", "lag_168h"] and facts["naive"] == "lag_24h"
    frame = series_lake.read_range("features", spec.name, DAYS[9:])
    frame.loc[:3, "lag_24h"] = np.nan
    frame.loc[2:3, "lag_168h"] = np.nan
    expected = frame["lag_24h"].fillna(frame["lag_168h"]).fillna(naive.fill).to_numpy()
    assert naive.predict(frame) == pytest.approx(expected)
    assert naive.predict(frame)[2] == pytest.approx(naive.fill)  # no lag at all: the training mean


FAMILY_TRANSFORMS = [
    (LightGBMTrainer, name)
    for name in ("none", "difference(lag_24h)", "difference(lag_168h)", "scale(rolling_mean_168h)")
] + [(NeuralTrainer, "none"), (NeuralTrainer, "scale(rolling_mean_168h)"), (NaiveTrainer, "none")]


@pytest.mark.parametrize(
    ("trainer", "transform"), FAMILY_TRANSFORMS, ids=[f"{t.kind}-{name}" for t, name in FAMILY_TRANSFORMS]
)
def test_each_family_and_transform_round_trips_through_mlflow(series_lake, settings, spec, trainer, transform):
    options = {tt.describe(t): t for t in trainer.transforms(spec)}
    model = trainer(spec, feature_names(spec), options[transform])
    model.fit(series_lake, DAYS[:9])
    holdout = series_lake.read_range("features", spec.name, DAYS[9:])
    expected = model.predict(holdout)
    assert np.isfinite(expected).all()
    loaded = log_and_load(settings, model, holdout)
    assert np.asarray(loaded.predict(holdout[model.features])) == pytest.approx(expected, rel=1e-5, abs=1e-4)
    rows = holdout[model.features].head(20).astype(object).where(holdout[model.features].head(20).notna(), None)
    online = loaded.unwrap_python_model().predict_rows(rows.to_dict("records"))
    assert np.asarray(online) == pytest.approx(expected[:20], rel=1e-5, abs=1e-4)


def test_a_level_the_trees_never_saw_is_forecast_by_a_differenced_model(series_lake, spec):
    """Trees cannot extrapolate a level; differencing at the horizon can (the reason transforms exist)."""
    features = feature_names(spec)
    holdout = series_lake.read_range("features", spec.name, DAYS[9:])
    errors = {}
    for name in ("none", "difference(lag_24h)"):
        options = {tt.describe(t): t for t in LightGBMTrainer.transforms(spec)}
        model = LightGBMTrainer(spec, features, options[name])
        model.fit(series_lake, DAYS[:9])
        errors[name] = float(np.mean(np.abs(model.predict(holdout) - holdout["units"])))
    assert errors["difference(lag_24h)"] < 0.5 * errors["none"], errors


def _churn_frame(spec, rng, days) -> pd.DataFrame:
    features = feature_names(spec)
    rows = []
    for day in days:
        frame = pd.DataFrame({"customer_id": [f"c{i}" for i in range(300)]})
        frame["ts"] = pd.Timestamp(day, tz="UTC")
        for col in features:
            frame[col] = rng.normal(0, 1, len(frame))
        frame["plan"] = rng.choice(["basic", "pro", None], len(frame))
        frame["region"] = rng.choice(["n", "s"], len(frame))
        logit = -2.0 + 1.5 * frame["logins_lag_24h"] + (frame["plan"] == "basic") * 1.0
        frame["churned"] = (rng.random(len(frame)) < 1 / (1 + np.exp(-logit))).astype(int)
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def test_classification_baselines_are_the_base_rate_and_a_logistic_regression(lake, settings):
    from sklearn.linear_model import LogisticRegression

    from ml_tasks.training.model_code import linear_design

    spec = load_spec("churn", load_settings().specs_dir)
    rng = np.random.default_rng(1)
    for day in DAYS[:6]:
        lake.write_partition(_churn_frame(spec, rng, [day]), "features", spec.name, day)
    holdout = _churn_frame(spec, rng, [DAYS[6]])
    train = lake.read_range("features", spec.name, DAYS[:6])

    base = BaseRateTrainer(spec, feature_names(spec))
    base.fit(lake, DAYS[:6])
    assert base.predict(holdout) == pytest.approx(np.full(len(holdout), train["churned"].mean()))

    logistic = LinearBaselineTrainer(spec, feature_names(spec))
    logistic.fit(lake, DAYS[:6])
    reference = LogisticRegression(C=1.0, max_iter=2000).fit(
        linear_design.design(logistic.meta, train), train["churned"]
    )
    expected = reference.predict_proba(linear_design.design(logistic.meta, holdout))[:, 1]
    assert logistic.predict(holdout) == pytest.approx(expected, abs=1e-9)
    assert {c for c, _ in logistic.meta["categorical"]} == {"plan", "region"}

    for model in (base, logistic):
        loaded = log_and_load(settings, model, holdout)
        assert np.asarray(loaded.predict(holdout[feature_names(spec)])) == pytest.approx(model.predict(holdout))
