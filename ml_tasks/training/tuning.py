"""Tuning a family's parameters within a budget: an Optuna search on the rolling-origin backtest.

``training.tuning: {trials: N, minutes: M}`` in a spec runs, for each learned family, a TPE search
(seeded) over :func:`search_space` and the family's target transforms together (the transform is
one more choice of the search). A trial is scored by
the backtest folds before the holdout, never the holdout; after each fold it reports its error and
a median pruner stops a trial that is already worse than the median of earlier trials at that
fold. Every trial is an MLflow child run of the family's run. The tuned parameters are kept only
when their backtest beats the spec's parameters on the same folds; when the budget runs out
before any trial finished, the spec's parameters stay (and the model card says so); a trial still
running when the budget ends is stopped at its next fold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
TUNABLE = ("lightgbm", "lightning")


def search_space(kind: str, trial) -> dict[str, Any]:
    """The parameters a trial tries, as overrides of the spec's ``training.<family>`` section."""
    if kind == "lightgbm":
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.005, 0.3, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, 255, log=True),
            "n_estimators": trial.suggest_int("n_estimators", 50, 1000, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 5, 200, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "subsample_freq": 1,
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        }
    if kind == "lightning":
        width = trial.suggest_categorical("width", [32, 64, 128, 256])
        return {
            "lr": trial.suggest_float("lr", 1e-3, 3e-2, log=True),
            "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
            "hidden": [width, width // 2],
            "embedding_dim": trial.suggest_categorical("embedding_dim", [4, 8, 16]),
        }
    raise ValueError(f"family {kind!r} has no search space (tunable: {', '.join(TUNABLE)})")


@dataclass
class TuningResult:
    """What the search found. ``params`` is None when the spec's parameters stay (``reason`` says why)."""

    params: dict[str, Any] | None
    score: float
    baseline_score: float
    trials: int = 0
    completed: int = 0
    pruned: int = 0
    seconds: float = 0.0
    reason: str = ""
    folds: Any = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The part that goes into the model card and the run's parameters."""
        return {
            "trials": self.trials,
            "completed": self.completed,
            "pruned": self.pruned,
            "seconds": round(self.seconds, 1),
            "backtest_spec_params": round(self.baseline_score, 6),
            "backtest_tuned": round(self.score, 6) if np.isfinite(self.score) else None,
            "kept": "tuned" if self.params else "spec",
            "reason": self.reason,
            "params": self.params,
        }


def tune(
    kind: str,
    trials: int,
    minutes: float,
    seed: int,
    baseline_score: float,
    run_folds: Callable[[dict[str, Any], Callable[[int, float], None]], tuple[float, Any]],
    log_trial: Callable[[int, dict[str, Any], dict[str, Any]], None] | None = None,
    transforms: list[str] | None = None,
) -> TuningResult:
    """Search ``kind``'s parameters (and, given ``transforms``, its target transform) for at most
    ``trials`` trials and ``minutes`` minutes.

    ``run_folds(params, report)`` fits and scores the backtest folds with ``params`` (with a
    ``transform`` key when ``transforms`` are searched), calling ``report(fold, error)`` after each
    (which raises to prune), and returns (mean error, folds). ``baseline_score`` is the spec's
    parameters' mean error on the same folds (with the best transform).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.monotonic()
    deadline = started + minutes * 60
    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    )
    found: dict[int, tuple[dict[str, Any], Any]] = {}  # trial number -> (params, folds) of finished trials
    history: list[dict[str, Any]] = []

    def objective(trial) -> float:
        params = search_space(kind, trial)
        if transforms and len(transforms) > 1:
            params["transform"] = trial.suggest_categorical("transform", transforms)

        def report(fold: int, error: float) -> None:
            if time.monotonic() >= deadline:  # a trial still running when the budget ends is not used
                raise optuna.TrialPruned(f"out of budget at fold {fold}")
            trial.report(error, fold)
            if trial.should_prune():
                raise optuna.TrialPruned(f"fold {fold}: {error:.4g}")

        outcome: dict[str, Any] = {"number": trial.number, "params": params}
        try:
            score, folds = run_folds(params, report)
        except optuna.TrialPruned:
            outcome["state"] = "pruned"
            raise
        except Exception as exc:  # a trial whose parameters fail is recorded; the search goes on
            outcome.update(state="failed", error=f"{type(exc).__name__}: {exc}"[:300])
            raise
        else:
            outcome.update(state="complete", score=score)
            found[trial.number] = (params, folds)
            return score
        finally:
            history.append(outcome)
            if log_trial is not None:
                log_trial(trial.number, params, outcome)

    def out_of_time(study, trial) -> None:
        if time.monotonic() >= deadline:
            study.stop()

    study.optimize(objective, n_trials=trials, timeout=minutes * 60, callbacks=[out_of_time], catch=(Exception,))
    states = [t.state for t in study.trials]
    completed = sum(s == optuna.trial.TrialState.COMPLETE for s in states)
    result = TuningResult(
        None,
        float("nan"),
        baseline_score,
        trials=len(states),
        completed=completed,
        pruned=sum(s == optuna.trial.TrialState.PRUNED for s in states),
        seconds=time.monotonic() - started,
        history=history,
    )
    if not completed:
        result.reason = f"no trial finished within the budget ({minutes:g} min): the spec's parameters stay"
        return result
    best = study.best_trial
    assert best.value is not None, "a completed single-objective trial always has a value"
    result.score = float(best.value)
    if not result.score < baseline_score:
        result.reason = (
            f"the best trial's backtest error {result.score:.4g} does not beat the spec's parameters' "
            f"{baseline_score:.4g}: they stay"
        )
        return result
    result.params, result.folds = found[best.number]
    result.reason = f"trial {best.number}: backtest error {result.score:.4g} vs the spec's {baseline_score:.4g}"
    log.info("%s tuning: %s", kind, result.reason)
    return result
