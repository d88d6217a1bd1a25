"""Champion/challenger promotion: the thin MLflow layer around `ml_tasks.promotion_gate.decide`.

Both the challenger and the current champion are loaded from the registry and score the very
same holdout rows; the gate decides from the per-row errors. The decision and its numbers are
recorded on the challenger's version and in the alias-move records.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from datetime import date

import numpy as np

from ml_tasks import registry
from ml_tasks.evaluation import regression_metrics
from ml_tasks.lake import Lake
from ml_tasks.promotion_gate import GateConfig, decide
from ml_tasks.settings import ConveyorSettings
from ml_tasks.spec import PipelineSpec

log = logging.getLogger(__name__)


def gate_config(spec: PipelineSpec) -> GateConfig:
    p = spec.promotion
    return GateConfig(metric=p.metric, level=p.level, bootstrap_samples=p.bootstrap_samples, mode=p.mode,
                      margin=p.margin, thresholds=dict(p.thresholds), guardrail_tolerance=p.guardrail_tolerance,
                      seed=spec.training.seed)


def predict_version(settings: ConveyorSettings, spec: PipelineSpec, version: str, frame) -> np.ndarray:
    """Predictions of a registered version on ``frame``, through its pyfunc like serving does."""
    import mlflow

    registry.connect(settings)
    model = mlflow.pyfunc.load_model(f"models:/{registry.model_name(spec.name)}/{version}")
    return np.asarray(model.predict(frame), dtype=float)


def promote_if_better(settings: ConveyorSettings, spec: PipelineSpec, trained: dict,
                      run_context: dict[str, str] | None = None, force: bool = False) -> dict:
    """Gate the freshly trained version against ``@champion`` on the same rows; move aliases.

    The challenger alias always moves to the new version. The champion alias moves only when
    the gate says so (or ``force``); the decision with all its numbers is stored on the version.
    """
    with registry_lock(settings, spec.name):
        return _promote_locked(settings, spec, trained, run_context, force)


@contextmanager
def registry_lock(settings: ConveyorSettings, pipeline: str, timeout: float = 900.0):
    """One alias decision per pipeline at a time: read champion, decide, move, record.

    Two training runs finishing together would otherwise both read the same champion and both
    move the alias, leaving `@previous_champion` and the audit trail telling different stories.
    The lock is a file lock under the Conveyor home, which every process of the embedded stack
    (and the CLI) shares; distributed deployments also serialise the promote task through a
    one-slot Airflow pool.
    """
    import fcntl
    import time

    path = settings.home / "locks" / f"{pipeline}.registry.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with open(path, "w") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"registry lock {path} held for more than {timeout:.0f}s") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _promote_locked(settings: ConveyorSettings, spec: PipelineSpec, trained: dict,
                    run_context: dict[str, str] | None, force: bool) -> dict:
    from ml_tasks.training import SEASONAL_NAIVE, load_features

    client = registry.connect(settings)
    version = trained["version"]
    current = registry.version_by_alias(client, spec.name, registry.CHAMPION)
    current_version = str(current.version) if current is not None else None  # int from SQLite stores
    cfg = gate_config(spec)
    if current_version is None or current_version == version:
        decision = decide(cfg, trained["metrics"], force=force)
        champion_metrics = None
    else:
        frame = load_features(Lake(settings.lake_uri), spec, [date.fromisoformat(d) for d in trained["holdout_dates"]])
        challenger_pred = predict_version(settings, spec, version, frame)
        champion_pred = predict_version(settings, spec, current_version, frame)
        target = frame[spec.data.target]
        champion_metrics = regression_metrics(target, champion_pred, frame[SEASONAL_NAIVE])
        clusters = frame[list(spec.data.keys)].astype(str).agg("|".join, axis=1) + "|" + frame["dt"].astype(str)
        decision = decide(cfg, trained["metrics"], target, challenger_pred, champion_pred,
                          clusters=clusters.to_numpy(), segments=frame[spec.data.keys[0]].astype(str).to_numpy(),
                          force=force)
    log.info("promotion decision for %s v%s vs champion v%s: %s", spec.name, version, current_version, decision.reason)

    evidence = {"challenger": trained["metrics"], "champion": champion_metrics, **decision.checks}
    previous_challenger = registry.version_by_alias(client, spec.name, registry.CHALLENGER)
    registry.move_alias(client, registry.AliasMove(
        spec.name, registry.CHALLENGER, str(previous_challenger.version) if previous_challenger else None, version,
        "trained", evidence), run_context, settings=settings)
    client.set_model_version_tag(registry.model_name(spec.name), version, "conveyor.promotion_decision",
                                 json.dumps(decision.as_dict(), default=str))
    if decision.promote:
        registry.move_alias(client, registry.AliasMove(
            spec.name, registry.CHAMPION, current_version, version, decision.reason, evidence,
        ), {**(run_context or {}), "forced": str(decision.forced)}, settings=settings)
    return {
        "promoted": decision.promote,
        "forced": decision.forced,
        "version": version,
        "previous_champion": current_version,
        "champion": version if decision.promote else current_version,
        "reason": decision.reason,
        "checks": decision.checks,
    }
