import numpy as np
import pytest

from ml_tasks.evaluation import regression_metrics


def test_metrics_on_a_hand_computed_example():
    m = regression_metrics([1, 2, 3, 4], [1, 3, 3, 2], y_naive=[2, 2, 2, 2])
    assert m["mae"] == pytest.approx(0.75)
    assert m["rmse"] == pytest.approx(np.sqrt(5 / 4))
    assert m["wape"] == pytest.approx(3 / 10)
    assert m["naive_mae"] == pytest.approx(1.0)
    assert m["mase"] == pytest.approx(0.75)


def test_mase_ignores_rows_without_a_naive_forecast():
    m = regression_metrics([1, 2, 10], [1, 2, 0], y_naive=[0, 3, np.nan])
    assert m["mase"] == pytest.approx(0.0)


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="equally long"):
        regression_metrics([1, 2], [1])
