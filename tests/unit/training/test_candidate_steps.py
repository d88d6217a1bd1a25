"""The pure steps of training a candidate: the window's folds, threshold choice, holdout evaluation."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from ml_tasks.training.backtest import backtest_means, choose_threshold
from ml_tasks.training.candidate import evaluate_holdout
from ml_tasks.training.plan import TrainingPlan, TrainingWindow

DAYS = [date(2026, 3, 1) + timedelta(days=i) for i in range(30)]


def test_a_plan_round_trips_to_the_window_it_fixed():
    window = TrainingWindow(DAYS[:23], DAYS[23:])
    plan = TrainingPlan(
        parent_run_id="r",
        tags={},
        train_dates=[d.isoformat() for d in window.train_dates],
        holdout_dates=[d.isoformat() for d in window.holdout_dates],
    )
    assert TrainingWindow.of(plan) == window


def test_folds_roll_forward_before_the_holdout_and_keep_enough_training_days():
    window = TrainingWindow(DAYS[:23], DAYS[23:])
    folds = window.folds(n=3, size=7)
    # 23 training days: folds end at 9, 16 and 23; the first would train on 2 days (< 7) and is dropped
    assert [(len(train), test[0], test[-1]) for train, test in folds] == [
        (9, DAYS[9], DAYS[15]),
        (16, DAYS[16], DAYS[22]),
    ]
    for train, test in folds:
        assert max(train) < min(test)


def test_backtest_means_ignore_nan_folds_and_are_empty_without_folds():
    folds = [
        {"mae": 1.0, "rmse": 2.0, "wape": 0.1, "mase": np.nan},
        {"mae": 3.0, "rmse": 4.0, "wape": 0.3, "mase": 0.8},
    ]
    assert backtest_means("regression", folds) == pytest.approx({"mae": 2.0, "rmse": 3.0, "wape": 0.2, "mase": 0.8})
    assert backtest_means("regression", []) == {}


def test_regression_has_no_threshold():
    assert choose_threshold("regression", [], np.array([1.0]), np.array([1.0])) == (0.5, None)


def test_the_threshold_is_tuned_on_out_of_fold_predictions_when_there_are_folds():
    y = np.array([0, 0, 1, 1])
    folds = [(y, np.array([0.1, 0.2, 0.3, 0.4]))]  # the folds separate at 0.25..0.3
    holdout_y, holdout_p = np.array([0, 1]), np.array([0.8, 0.9])  # the holdout would pick ~0.9
    threshold, tuned_on = choose_threshold("classification", folds, holdout_y, holdout_p)
    assert tuned_on == "backtest folds" and 0.2 < threshold <= 0.3
    threshold, tuned_on = choose_threshold("classification", [], holdout_y, holdout_p)
    assert tuned_on.startswith("holdout (optimistic") and threshold > 0.8


def test_holdout_metrics_overall_and_per_segment(demand_spec):
    holdout = pd.DataFrame(
        {"store_id": ["s1", "s1", "s2", "s2"], "units": [10.0, 20.0, 30.0, 40.0], "lag_168h": [12.0, 18.0, 20.0, 40.0]}
    )
    prediction = np.array([11.0, 19.0, 33.0, 37.0])
    metrics, segments = evaluate_holdout(demand_spec, holdout, prediction, 0.5)
    assert metrics["mae"] == pytest.approx(2.0)
    assert metrics["mase"] == pytest.approx(2.0 / 3.5)  # naive errors 2, 2, 10, 0
    assert segments["s1"]["mae"] == pytest.approx(1.0) and segments["s2"]["mae"] == pytest.approx(3.0)
