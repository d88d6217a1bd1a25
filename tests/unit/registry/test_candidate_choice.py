"""Which candidate is registered: the best on the rolling-origin backtest, never picked on the holdout."""

import numpy as np
import pytest

from ml_tasks.registry.registration import choose_candidate, versus_baseline


def _candidate(kind, holdout, backtest, **metrics):
    return {
        "kind": kind,
        "run_id": kind,
        "model_uri": f"runs:/{kind}/model",
        "metrics": {"mae": holdout, **metrics},
        "backtest_mean": {"mae": backtest} if backtest is not None else {},
        "segments": {},
        "fit": {},
    }


def test_a_family_that_wins_the_holdout_by_luck_but_loses_the_backtest_is_not_chosen():
    lucky = _candidate("lightning", holdout=0.90, backtest=1.30)
    steady = _candidate("lightgbm", holdout=0.95, backtest=1.00)
    chosen, by = choose_candidate([lucky, steady], "mae")
    assert chosen["kind"] == "lightgbm" and by == "backtest mae"


def test_a_tie_within_the_margin_goes_to_the_simpler_family():
    logistic, lightgbm = _candidate("logistic", 0.99, 0.1904), _candidate("lightgbm", 1.00, 0.1901)
    chosen, by = choose_candidate(
        [lightgbm, logistic], "mae", order=["base_rate", "logistic", "lightgbm"], margin=0.005
    )
    assert chosen["kind"] == "logistic" and "simplest within 0.5% of the lowest" in by
    clearly = _candidate("lightgbm", 1.00, 0.1850)  # 2.8% better: the complex model earns its place
    assert choose_candidate([clearly, logistic], "mae", ["logistic", "lightgbm"], 0.005)[0]["kind"] == "lightgbm"


def test_the_holdout_decides_only_without_any_backtest_and_says_so():
    chosen, by = choose_candidate([_candidate("a", 2.0, None), _candidate("b", 1.0, None)], "mae")
    assert chosen["kind"] == "b" and by == "holdout mae (no backtest folds)"
    chosen, _ = choose_candidate([_candidate("a", 2.0, np.nan), _candidate("b", 1.0, 3.0)], "mae")
    assert chosen["kind"] == "b"  # a family whose backtest failed to score is never preferred


def test_the_baseline_of_a_forecast_is_the_strongest_naive_on_the_same_rows():
    best = _candidate("lightgbm", 0.8, 0.9, naive_mae_lag_24h=1.0, naive_mae_lag_168h=2.0, naive_mae=1.0, mase=0.8)
    assert versus_baseline("regression", "mae", best, [best]) == {
        "name": "naive lag_24h",
        "loss": 1.0,
        "metric": "mae",
        "ratio": 0.8,
    }
    assert versus_baseline("regression", "mae", _candidate("x", 1.0, 1.0), []) is None  # no naive lags


def test_a_classifier_is_compared_with_the_better_of_base_rate_and_logistic_regression():
    def clf(kind, loss):
        return {"kind": kind, "metrics": {"log_loss": loss}, "backtest_mean": {"log_loss": loss}}

    best, results = clf("lightgbm", 0.20), [clf("base_rate", 0.30), clf("logistic", 0.25)]
    results.append(best)
    out = versus_baseline("classification", "log_loss", best, results)
    assert out["name"] == "logistic" and out["ratio"] == pytest.approx(0.8)
