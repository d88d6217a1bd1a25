"""Registering a challenger: the best candidate that finished becomes a new model version.

`register_best` registers the family with the lowest rolling-origin backtest error (the spec's
metric; :func:`choose_candidate`) among those that finished: the holdout is kept for the gate's
evidence, so no choice is made on it. A weighted mean of the two best learned families competes
too when the backtest says it beats both (`ml_tasks.training.ensemble`). It compares the candidate
with the strongest baseline on the holdout (:func:`versus_baseline`), tags the version with its
lineage and the candidates' scores, and writes the model card (naming any family that failed)
onto the version. What it returns, a
:class:`RegisteredVersion`, is the hand-off from `register` to the promotion `gate`.
`train_challenger` runs plan, every family and registration in one process (CLI, tests, demo);
the Airflow DAG runs them as separate tasks.
"""

from __future__ import annotations

import json
import logging
import tempfile
from datetime import date
from pathlib import Path
from typing import TypedDict

import numpy as np

from ml_tasks.core import tracking
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.registry import client as registry
from ml_tasks.registry.artifacts import record_digest
from ml_tasks.training.candidate import TrainedCandidate, train_model
from ml_tasks.training.ensemble import KIND as ENSEMBLE
from ml_tasks.training.ensemble import ensemble_candidate
from ml_tasks.training.evaluation import best_naive
from ml_tasks.training.families import is_baseline
from ml_tasks.training.plan import TrainingPlan, plan_training

log = logging.getLogger(__name__)


class NoCandidateError(RuntimeError):
    """Every model family failed: there is nothing to register."""


class RegisteredVersion(TypedDict):
    """Hand-off from `register` to `gate` and `promote` (an XCom, JSON as is).

    ``metrics`` are the registered family's holdout metrics; ``candidates`` every finished
    family's; ``failed`` maps each family that did not finish to what went wrong.
    ``train_dates`` is the first and last training day. ``baseline`` compares the registered
    candidate with the strongest baseline on the holdout (see :func:`versus_baseline`);
    ``chosen_by`` says what picked it among the candidates.
    """

    run_id: str
    version: str
    model: str
    metrics: dict[str, float]
    holdout_dates: list[str]
    train_dates: list[str]
    candidates: dict[str, dict[str, float]]
    failed: dict[str, str]
    baseline: dict | None
    chosen_by: str


def choose_candidate(
    results: list[TrainedCandidate], metric: str, order: list[str] | None = None, margin: float = 0.0
) -> tuple[TrainedCandidate, str]:
    """The candidate with the lowest mean backtest ``metric``; and what it was chosen by.

    ``order`` lists the families simplest first (baselines, then the spec's models): the simplest
    whose backtest error is within ``margin`` (relative) of the lowest is chosen, so a tie within
    noise goes to the simpler model. The holdout decides only when no candidate has a backtest
    (``backtest_folds: 0``), and says so.
    """

    def backtest(r: TrainedCandidate) -> float:
        return float(np.nan_to_num((r.get("backtest_mean") or {}).get(metric, np.nan), nan=np.inf))

    if any(np.isfinite(backtest(r)) for r in results):
        rank = {kind: i for i, kind in enumerate(order or [])}
        lowest = min(backtest(r) for r in results)
        close = [r for r in results if backtest(r) <= lowest + margin * abs(lowest)]
        chosen = min(close, key=lambda r: (rank.get(r["kind"], len(rank)), backtest(r), r["kind"]))
        note = f" (simplest within {margin:.1%} of the lowest)" if margin and backtest(chosen) > lowest else ""
        return chosen, f"backtest {metric}{note}"
    holdout = min(results, key=lambda r: (np.nan_to_num(r["metrics"][metric], nan=np.inf), r["kind"]))
    return holdout, f"holdout {metric} (no backtest folds)"


def versus_baseline(task: str, metric: str, best: TrainedCandidate, results: list[TrainedCandidate]) -> dict | None:
    """How ``best`` compares on the holdout with the strongest baseline on the same rows.

    Forecasts: the strongest naive forecast of the cadence (the candidate's MASE is its MAE over that
    naive's). Classification: the better of the base rate and the logistic regression on ``metric``.
    None when there is nothing to compare with (no naive lags; baselines off or failed).
    """
    if task == "regression":
        naive = best_naive(best["metrics"])
        if naive is None:
            return None
        return {
            "name": f"naive {naive}",
            "loss": best["metrics"]["naive_mae"],
            "metric": "mae",
            "ratio": best["metrics"].get("mase", float("nan")),
        }
    baselines = [r for r in results if is_baseline(r["kind"]) and np.isfinite(r["metrics"].get(metric, np.nan))]
    if not baselines:
        return None
    strongest = min(baselines, key=lambda r: r["metrics"][metric])
    loss = strongest["metrics"][metric]
    return {
        "name": strongest["kind"],
        "loss": loss,
        "metric": metric,
        "ratio": best["metrics"][metric] / loss if loss > 0 else float("inf"),
    }


def register_best(
    settings: ConveyorSettings,
    spec: PipelineSpec,
    plan: TrainingPlan,
    results: list[TrainedCandidate],
    failed: dict[str, str] | None = None,
) -> RegisteredVersion:
    """Register the family with the lowest backtest error (the spec's metric) as a new version.

    ``results`` are the families that finished; ``failed`` maps each family that did not to what
    went wrong. Failed families are named on the version (tag ``conveyor.failed_families``), in
    the model card and in what this returns, so the gate's decision can say what was compared.
    """
    import mlflow

    from ml_tasks.training.model_card import render_model_card

    failed = dict(failed or {})
    if not results:
        raise NoCandidateError(
            f"pipeline {spec.name!r}: every model family failed, nothing to register: "
            + "; ".join(f"{k}: {v}" for k, v in failed.items())
        )
    client = tracking.connect(settings)
    metric = spec.promotion.metric
    ensemble = ensemble_candidate(settings, spec, plan, results)
    results = [*results, *([ensemble] if ensemble else [])]
    best, chosen_by = choose_candidate(
        results, metric, [*spec.candidate_families, ENSEMBLE], spec.training.selection_margin
    )
    baseline = versus_baseline(spec.task, metric, best, results)
    name = registry.model_name(spec.name)
    # A retry after a killed attempt reuses the version that attempt registered: one training
    # run, one version, however often the task ran.
    earlier = client.search_model_versions(f"name='{name}' and run_id='{best['run_id']}'")
    if earlier:
        v = str(min(int(e.version) for e in earlier))
        log.warning(
            "version %s of %s was already registered from run %s by an earlier attempt; reusing it",
            v,
            name,
            best["run_id"],
        )
    else:
        v = str(mlflow.register_model(best["model_uri"], name).version)
    record_digest(settings, spec.name, v)  # what every later load checks the files against
    for key, value in {
        **plan["tags"],
        "conveyor.model_family": best["kind"],
        "conveyor.run_id": best["run_id"],
        "conveyor.parent_run_id": plan["parent_run_id"],
        "conveyor.reference_run_id": plan["parent_run_id"],
        "conveyor.training_window": f"{plan['train_dates'][0]}..{plan['train_dates'][-1]}",
        "conveyor.holdout_window": f"{plan['holdout_dates'][0]}..{plan['holdout_dates'][-1]}",
        "conveyor.candidates": json.dumps({r["kind"]: r["metrics"][metric] for r in results}),
        "conveyor.candidates_backtest": json.dumps(
            {r["kind"]: (r.get("backtest_mean") or {}).get(metric) for r in results}
        ),
        "conveyor.chosen_by": chosen_by,
        "conveyor.baseline": json.dumps(baseline),
        "conveyor.failed_families": json.dumps(failed),
    }.items():
        client.set_model_version_tag(name, v, key, str(value))
    card = render_model_card(spec, v, best, results, plan, failed, baseline=baseline, chosen_by=chosen_by)
    client.update_model_version(name, v, description=card)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "model_card.md").write_text(card)
        client.log_artifact(best["run_id"], str(Path(tmp) / "model_card.md"))
    log.info(
        "registered %s version %s from %s, chosen by %s (holdout %s=%.4f; vs %s)",
        name,
        v,
        best["kind"],
        chosen_by,
        metric,
        best["metrics"][metric],
        baseline,
    )
    if failed:
        log.warning("families that failed and were not compared: %s", failed)
    return RegisteredVersion(
        run_id=best["run_id"],
        version=v,
        model=best["kind"],
        metrics=best["metrics"],
        holdout_dates=plan["holdout_dates"],
        train_dates=[plan["train_dates"][0], plan["train_dates"][-1]],
        candidates={r["kind"]: r["metrics"] for r in results},
        failed=failed,
        baseline=baseline,
        chosen_by=chosen_by,
    )


def train_challenger(
    settings: ConveyorSettings, spec: PipelineSpec, run_context: dict[str, str] | None = None, end: date | None = None
) -> RegisteredVersion:
    """Plan, train every family the spec lists, register the best that finished; returns its summary.

    A family that raises is logged and named as failed; the others are still compared and the
    best registered (as the Airflow DAG does with one task per family).
    """
    plan = plan_training(settings, spec, run_context, end)
    results, failed = [], {}
    for kind in spec.candidate_families:
        try:
            results.append(train_model(settings, spec, plan, kind))
        except Exception as exc:  # one family's failure must not lose the others' models
            log.exception("%s training failed; continuing with the other families", kind)
            failed[kind] = f"{type(exc).__name__}: {exc}"
    return register_best(settings, spec, plan, results, failed)
