"""The decay check's lower confidence bound: decay is declared only when the window's error is shown
above the tolerance, so one noisy day of a small pipeline does not start a retrain."""

from __future__ import annotations

import numpy as np
import pytest

from ml_tasks.core.operation_specs import DriftSpec
from ml_tasks.monitoring.decay import window_lower_bound
from ml_tasks.training.evaluation import classification_metrics, regression_metrics

LEVEL = DriftSpec.model_fields["decay_level"].default  # what the shipped specs use


def _churn_day(rng, rows: int, shift: float = 0.0):
    """One scored day of a calibrated classifier: labels drawn from its probabilities (+ shift)."""
    p = np.clip(rng.beta(0.6, 10.0, rows), 1e-4, 0.999)
    y = (rng.random(rows) < np.clip(p + shift, 0, 1)).astype(float)
    return y, p


def test_one_noisy_day_of_an_unchanged_model_is_not_declared_decayed():
    # 600 customers scored once, the model as good as on its holdout: the point estimate of the log
    # loss lands past 1.2x the expected loss on some days by chance alone; the lower bound must not.
    rng = np.random.default_rng(7)
    expected = classification_metrics(*_churn_day(rng, 200_000))["log_loss"]  # the holdout's, in effect
    point_fired = bound_fired = 0
    for day in range(200):
        y, p = _churn_day(rng, 600)
        point = classification_metrics(y, p)["log_loss"]
        point_fired += point > 1.2 * expected
        bound_fired += window_lower_bound("log_loss", y, p, None, np.arange(600), LEVEL, seed=day) > 1.2 * expected
    assert point_fired >= 10, point_fired  # the noise the bound is for is really there
    assert bound_fired <= 2, (bound_fired, point_fired)


def test_real_decay_on_a_full_window_is_still_declared():
    rng = np.random.default_rng(3)
    y, p = _churn_day(rng, 7 * 600, shift=0.08)  # the model now underestimates churn by 8 points
    expected = classification_metrics(*_churn_day(rng, 200_000))["log_loss"]
    low = window_lower_bound("log_loss", y, p, None, np.arange(len(y)), LEVEL)
    assert low > 1.2 * expected, (low, expected)


@pytest.mark.parametrize("metric", ["mae", "rmse", "wape", "mase"])
def test_the_bound_is_below_the_point_estimate_and_meets_it_as_the_level_falls(metric):
    rng = np.random.default_rng(1)
    series, hours = 30 * 7, 24  # a demand window: series x day clusters of 24 hours
    y = rng.poisson(20, series * hours).astype(float)
    pred = y + rng.normal(0, 4, len(y)) + np.repeat(rng.normal(0, 2, series), hours)  # errors shared per cluster
    naive = y + rng.normal(0, 6, len(y))
    naive[:50] = np.nan  # rows without a week-old hour
    clusters = np.repeat(np.arange(series), hours)
    point = regression_metrics(y, pred, naive)[metric]
    strict = window_lower_bound(metric, y, pred, naive, clusters, 0.99)
    usual = window_lower_bound(metric, y, pred, naive, clusters, 0.95)
    median = window_lower_bound(metric, y, pred, naive, clusters, 0.5)
    assert strict < usual < point
    assert median == pytest.approx(point, rel=0.02)


def test_clusters_not_rows_set_the_width():
    # the same rows: errors shared within each of 10 clusters give a wider interval than 2,400
    # independent rows would
    rng = np.random.default_rng(5)
    y = np.zeros(2400)
    pred = np.repeat(rng.gamma(2.0, 1.0, 10), 240) + rng.normal(0, 0.01, 2400)
    per_row = window_lower_bound("mae", y, pred, None, np.arange(2400), 0.95)
    per_cluster = window_lower_bound("mae", y, pred, None, np.repeat(np.arange(10), 240), 0.95)
    assert per_cluster < per_row < float(np.mean(np.abs(pred)))


def test_a_single_cluster_gives_the_point_estimate():
    y, pred = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 5.0])
    assert window_lower_bound("mae", y, pred, None, np.zeros(3), 0.95) == pytest.approx(1.0)


def test_series_levels_are_not_uncertainty_when_the_same_series_are_in_the_window():
    # 30 series of very different sizes, 7 days each: resampling days within each series gives
    # a narrower bound than resampling series x day clusters across series, and a series seen on
    # one day only is still resampled (with the other single-day ones)
    rng = np.random.default_rng(11)
    level = np.repeat(rng.gamma(1.0, 10.0, 30), 7 * 24)
    y = rng.poisson(level).astype(float)
    pred = level
    clusters = np.repeat(np.arange(30 * 7), 24)
    series = np.repeat(np.arange(30), 7 * 24)
    pooled = window_lower_bound("mae", y, pred, None, clusters, 0.95)
    stratified = window_lower_bound("mae", y, pred, None, clusters, 0.95, strata=series)
    point = float(np.mean(np.abs(y - pred)))
    assert pooled < stratified < point
    # every key on one day only (a pipeline's first scored day): the keys are resampled together
    first_day = slice(0, None, 7 * 24)
    singles = np.arange(30)
    once = window_lower_bound("mae", y[first_day], pred[first_day], None, singles, 0.95, strata=singles)
    assert once < float(np.mean(np.abs(y - pred)[first_day]))
