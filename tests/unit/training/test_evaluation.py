import numpy as np
import pytest

from ml_tasks.training.evaluation import regression_metrics


def test_metrics_on_a_hand_computed_example():
    m = regression_metrics([1, 2, 3, 4], [1, 3, 3, 2], naives=[2, 2, 2, 2])
    assert m["mae"] == pytest.approx(0.75)
    assert m["rmse"] == pytest.approx(np.sqrt(5 / 4))
    assert m["wape"] == pytest.approx(3 / 10)
    assert m["naive_mae"] == pytest.approx(1.0)
    assert m["mase"] == pytest.approx(0.75)


def test_mase_ignores_rows_without_a_naive_forecast():
    m = regression_metrics([1, 2, 10], [1, 2, 0], naives=[0, 3, np.nan])
    assert m["mase"] == pytest.approx(0.0)


def test_mase_divides_by_the_strongest_naive_on_the_rows_every_naive_has():
    from ml_tasks.training.evaluation import best_naive

    y = [10.0, 12.0, 14.0, 16.0, 99.0]
    prediction = [11.0, 12.0, 15.0, 16.0, 0.0]  # errors 1, 0, 1, 0 on the common rows
    naives = {
        "lag_24h": np.array([9.0, 13.0, 13.0, 17.0, 1.0]),  # errors 1 each: MAE 1
        "lag_168h": np.array([6.0, 16.0, 10.0, 20.0, np.nan]),
    }  # errors 4 each: MAE 4; no row 5
    m = regression_metrics(y, prediction, naives=naives)
    assert m["naive_mae_lag_24h"] == pytest.approx(1.0) and m["naive_mae_lag_168h"] == pytest.approx(4.0)
    assert best_naive(m) == "lag_24h" and m["naive_mae"] == pytest.approx(1.0)
    assert m["mase"] == pytest.approx(0.5)  # against the weekly naive alone it would read 0.125
    assert m["mae"] == pytest.approx((1 + 0 + 1 + 0 + 99) / 5)  # MAE itself is over every row


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="equally long"):
        regression_metrics([1, 2], [1])


def test_classification_metrics_on_a_hand_checkable_example():
    from ml_tasks.training.evaluation import classification_metrics

    y = [0, 0, 0, 1, 1]
    p = [0.1, 0.2, 0.6, 0.7, 0.9]
    m = classification_metrics(y, p, threshold=0.65)
    assert m["roc_auc"] == pytest.approx(1.0) and m["pr_auc"] == pytest.approx(1.0)
    assert m["f1"] == pytest.approx(1.0) and m["precision"] == m["recall"] == pytest.approx(1.0)
    assert m["brier"] == pytest.approx(np.mean((np.array(p) - np.array(y)) ** 2))
    assert m["prevalence"] == pytest.approx(0.4) and m["threshold"] == 0.65
    assert classification_metrics(y, p, threshold=0.5)["precision"] == pytest.approx(2 / 3)


def test_the_tuned_threshold_maximises_f1_and_calibration_error_sees_overconfidence():
    from ml_tasks.training.evaluation import calibration_error, tune_threshold

    y = np.array([0] * 90 + [1] * 10)
    p = np.concatenate([np.linspace(0.0, 0.3, 90), np.linspace(0.25, 0.4, 10)])
    cut = tune_threshold(y, p)
    assert 0.25 <= cut <= 0.3  # the cut-off that keeps all positives with the fewest negatives
    assert calibration_error(y, np.full(100, 0.1)) == pytest.approx(0.0)
    assert calibration_error(y, np.full(100, 0.9)) == pytest.approx(0.8)
