"""Tuning within a budget: the search keeps what beats the spec on the backtest, prunes, and gives up cleanly."""

from __future__ import annotations

import math
import time

import pytest

from ml_tasks.training.tuning import search_space, tune


def _folds_scored_by_learning_rate(best_rate: float = 0.05, folds: int = 2, pause: float = 0.0):
    """A backtest whose error grows with the distance of learning_rate from ``best_rate`` (in log)."""
    calls = []

    def run_folds(params, report):
        error = abs(math.log(params["learning_rate"] / best_rate))
        for fold in range(folds):
            time.sleep(pause)
            report(fold, error)
        calls.append(params)
        return error, {"folds": folds, "params": params}

    return run_folds, calls


def test_the_search_keeps_the_best_trial_when_it_beats_the_spec_parameters():
    run_folds, _ = _folds_scored_by_learning_rate()
    logged = []
    result = tune(
        "lightgbm",
        trials=12,
        minutes=1,
        seed=0,
        baseline_score=1.0,
        run_folds=run_folds,
        log_trial=lambda n, params, outcome: logged.append(outcome["state"]),
    )
    assert result.params is not None and result.score < 1.0
    assert result.folds["params"] == result.params  # the folds the candidate reports are the kept trial's
    assert abs(math.log(result.params["learning_rate"] / 0.05)) == pytest.approx(result.score)
    assert len(logged) == result.trials == 12 and result.completed + result.pruned == 12
    assert result.summary()["kept"] == "tuned"


def test_the_spec_parameters_stay_when_no_trial_beats_them():
    run_folds, _ = _folds_scored_by_learning_rate()
    result = tune("lightgbm", trials=4, minutes=1, seed=0, baseline_score=0.0, run_folds=run_folds)
    assert result.params is None and "does not beat the spec's parameters" in result.reason
    assert result.summary()["kept"] == "spec"


def test_a_search_out_of_budget_falls_back_to_the_spec_parameters():
    run_folds, calls = _folds_scored_by_learning_rate(pause=0.2)
    result = tune("lightgbm", trials=50, minutes=0.001, seed=0, baseline_score=1.0, run_folds=run_folds)
    assert result.params is None and result.completed == 0 and "no trial finished within the budget" in result.reason
    assert result.trials == 1 and not calls  # the budget, not the trial count, ended it, at the first fold


def test_trials_already_worse_than_the_median_at_a_fold_are_pruned():
    run_folds, calls = _folds_scored_by_learning_rate(folds=3)
    result = tune("lightgbm", trials=20, minutes=1, seed=1, baseline_score=10.0, run_folds=run_folds)
    assert result.pruned > 0 and len(calls) == result.completed < 20


def test_a_trial_that_fails_is_recorded_and_the_search_goes_on():
    def run_folds(params, report):
        if params["num_leaves"] > 30:
            raise ValueError("out of memory (injected)")
        report(0, 1.0 / params["num_leaves"])
        return 1.0 / params["num_leaves"], None

    states = []
    result = tune(
        "lightgbm",
        trials=10,
        minutes=1,
        seed=0,
        baseline_score=1.0,
        run_folds=run_folds,
        log_trial=lambda n, p, outcome: states.append(outcome["state"]),
    )
    assert "failed" in states and result.params is not None and result.params["num_leaves"] <= 30


@pytest.mark.parametrize("kind", ["lightgbm", "lightning"])
def test_each_tunable_family_has_a_search_space_of_its_spec_keys(kind):
    import optuna

    from ml_tasks.core.training_specs import LightGBMSpec, LightningSpec

    params = search_space(
        kind,
        optuna.trial.FixedTrial(
            {
                "learning_rate": 0.05,
                "num_leaves": 31,
                "n_estimators": 300,
                "min_child_samples": 20,
                "subsample": 0.8,
                "colsample_bytree": 0.9,
                "width": 64,
                "lr": 0.01,
                "weight_decay": 1e-5,
                "dropout": 0.1,
                "embedding_dim": 8,
            }
        ),
    )
    fields = (LightGBMSpec if kind == "lightgbm" else LightningSpec).model_fields
    assert set(params) <= set(fields)
    with pytest.raises(ValueError, match="no search space"):
        search_space("naive", None)
