"""The ensemble candidate: the two best learned families' weighted mean, only when the backtest says so.

Trained for real (LightGBM and the statistical family on the drifting series of
`test_families_and_transforms`), registered through `train_challenger` as the DAG's tasks would.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from ml_tasks.core.lake import Lake
from ml_tasks.features.store import load_features
from ml_tasks.training import ensemble
from ml_tasks.training.plan import plan_training

from .series_data import series_features


def test_weights_are_chosen_on_the_folds_and_need_the_same_rows():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    a = {"fold0_y": y, "fold0_p": y + 1.0, "holdout": y}
    b = {"fold0_y": y, "fold0_p": y - 1.0, "holdout": y}
    weight, scores = ensemble.best_weight(a, b)
    assert weight == 0.5 and scores[0.5] == 0.0 and scores[0.25] == pytest.approx(0.5)
    assert ensemble.best_weight(a, {"fold0_y": y[:3], "fold0_p": y[:3]}) is None  # other rows: no ensemble
    assert (
        ensemble.members(
            [{"kind": "naive", "backtest_mean": {"mae": 0.1}}, {"kind": "lightgbm", "backtest_mean": {"mae": 0.3}}],
            "mae",
        )
        == []
    )


def _promoted_series(spec) -> pd.DataFrame:
    """The drifting series of `_series_features` with a promotion lifting sales by 2 units in the
    hours it runs (known ahead): exponential smoothing cannot see it, the trees can, so their errors
    differ, which is where a mean of the two can beat both."""
    rows = series_features(spec, np.random.default_rng(1))
    rows["units"] = rows["units"] + 2.0 * rows["promo"]
    by_series = rows.sort_values("ts").groupby("store_id")["units"]
    for lag in spec.features.lags:
        rows[f"lag_{lag}h"] = by_series.shift(lag)
    return rows


@pytest.fixture
def young(spec, lake, settings):
    for day, frame in _promoted_series(spec).groupby("dt"):
        lake.write_partition(frame.drop(columns=["dt"]), "features", spec.name, day)
    training = spec.training.model_copy(
        update={
            "models": ["lightgbm", "statsforecast"],
            "window_days": 12,
            "holdout_days": 2,
            "backtest_folds": 2,
            "min_train_rows": 100,
            "tuning": spec.training.tuning.model_copy(update={"trials": 0}),
        }
    )
    return spec.model_copy(update={"training": training})


def test_the_ensemble_competes_when_it_beats_both_and_is_the_weighted_mean(young, settings):
    import mlflow

    from ml_tasks.registry.artifacts import load_verified
    from ml_tasks.registry.registration import register_best
    from ml_tasks.training.candidate import train_model

    plan = plan_training(settings, young)
    results = [train_model(settings, young, plan, kind) for kind in young.candidate_families]
    built = ensemble.ensemble_candidate(settings, young, plan, results)
    singles = {r["kind"]: r["backtest_mean"]["mae"] for r in results}
    pair = ensemble.members(results, "mae")
    assert built is not None, (
        singles,
        ensemble.best_weight(*[ensemble._predictions(r["run_id"]) for r in pair]),
    )  # trees and exponential smoothing err differently on these series
    assert set(built["fit"]["members"]) == {"lightgbm", "statsforecast"}
    assert built["backtest_mean"]["mae"] < min(singles["lightgbm"], singles["statsforecast"])
    assert ensemble.ensemble_candidate(settings, young, plan, results)["run_id"] == built["run_id"]  # a retry

    registered = register_best(settings, young, plan, results)
    assert registered["model"] == "ensemble" and set(registered["candidates"]) == {*singles, "ensemble"}
    # loaded as serving and scoring load it: from the files checked against the digest of registration,
    # members included
    loaded = load_verified(settings, young.name, registered["version"])
    frame = load_features(Lake.from_settings(settings), young, [date.fromisoformat(d) for d in plan["holdout_dates"]])
    members = {
        r["kind"]: mlflow.pyfunc.load_model(r["model_uri"]).predict(frame)
        for r in results
        if r["kind"] in built["fit"]["members"]
    }
    expected = sum(w * np.asarray(members[k], dtype=float) for k, w in built["fit"]["members"].items())
    assert np.asarray(loaded.predict(frame)) == pytest.approx(expected, rel=1e-6)
