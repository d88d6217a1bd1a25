"""Champion/challenger promotion: the thin MLflow layer around `ml_tasks.registry.gate.decide`.

Both the challenger and the current champion are loaded from the registry and score the very
same holdout rows; the gate decides from the per-row errors. The decision and its numbers are
recorded on the challenger's version and in the alias-move records.

Promotion is two steps so that a person can stand between them when the spec asks for it:
:func:`evaluate_challenger` gates the new version and moves `@challenger`;
:func:`apply_promotion` moves `@champion`. The second re-reads the champion under the registry
lock, and if another run moved it in the meantime it gates the challenger again against the new
champion: a decision is never applied to a champion it was not made against.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any, NotRequired, TypedDict

import numpy as np

from ml_tasks.core import tracking
from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.registry import audit
from ml_tasks.registry import client as registry
from ml_tasks.registry.artifacts import load_verified
from ml_tasks.registry.gate import GateConfig, decide
from ml_tasks.registry.registration import RegisteredVersion
from ml_tasks.training.evaluation import task_metrics

log = logging.getLogger(__name__)


class GateDecision(TypedDict):
    """Hand-off from `gate` to the approval and `promote` (an XCom, JSON as is).

    ``gated_against`` is the champion version the decision was made against (None: no champion);
    ``evidence`` holds both sides' holdout metrics and the gate's checks; ``approved_by`` is added
    by the DAG when a person approved.
    """

    promote: bool
    forced: bool
    version: str
    gated_against: str | None
    reason: str
    checks: dict[str, Any]
    failed_families: dict[str, str]
    evidence: dict[str, Any]
    approved_by: NotRequired[str]


class PromotionOutcome(TypedDict):
    """What `promote` did (an XCom, JSON as is): ``champion`` is the version now behind `@champion`."""

    promoted: bool
    forced: bool
    version: str
    previous_champion: str | None
    champion: str | None
    reason: str
    checks: dict[str, Any]


def gate_config(spec: PipelineSpec) -> GateConfig:
    p = spec.promotion
    return GateConfig(
        metric=p.metric,
        level=p.level,
        bootstrap_samples=p.bootstrap_samples,
        mode=p.mode,
        margin=p.margin,
        thresholds=dict(p.thresholds.items()),
        guardrail_tolerance=p.guardrail_tolerance,
        seed=spec.training.seed,
        baseline_ratio=p.baseline_ratio,
    )


def predict_version(settings: ConveyorSettings, spec: PipelineSpec, version: str, frame) -> np.ndarray:
    """Predictions of a registered version on ``frame``, through its verified pyfunc like serving does."""
    model = load_verified(settings, spec.name, version)
    return np.asarray(model.predict(frame), dtype=float)


def promote_if_better(
    settings: ConveyorSettings,
    spec: PipelineSpec,
    trained: RegisteredVersion,
    run_context: dict[str, str] | None = None,
    force: bool = False,
) -> PromotionOutcome:
    """Gate the freshly trained version against ``@champion`` and promote it if the gate says so.

    Both steps run under one hold of the registry lock (CLI, tests, the no-approval path).
    """
    with registry.registry_lock(settings, spec.name):
        gated = _evaluate_locked(settings, spec, trained, run_context, force)
        return _apply_locked(settings, spec, trained, gated, run_context)


def evaluate_challenger(
    settings: ConveyorSettings,
    spec: PipelineSpec,
    trained: RegisteredVersion,
    run_context: dict[str, str] | None = None,
    force: bool = False,
) -> GateDecision:
    """Step 1: gate the new version, record the decision on it and point `@challenger` at it."""
    with registry.registry_lock(settings, spec.name):
        return _evaluate_locked(settings, spec, trained, run_context, force)


def apply_promotion(
    settings: ConveyorSettings,
    spec: PipelineSpec,
    trained: RegisteredVersion,
    gated: GateDecision,
    run_context: dict[str, str] | None = None,
) -> PromotionOutcome:
    """Step 2: move `@champion` to the challenger if ``gated`` (from step 1) says promote.

    ``gated`` may carry ``approved_by``: the person who approved it, recorded with the move.
    """
    with registry.registry_lock(settings, spec.name):
        return _apply_locked(settings, spec, trained, gated, run_context)


def _champion_version(client, pipeline: str) -> str | None:
    current = registry.version_by_alias(client, pipeline, registry.CHAMPION)
    return str(current.version) if current is not None else None  # int from SQLite stores


def _gate(
    settings: ConveyorSettings, spec: PipelineSpec, trained: RegisteredVersion, current_version: str | None, force: bool
):
    """The gate's decision for ``trained`` against ``current_version``, with the champion's metrics."""
    from ml_tasks.features.store import load_features
    from ml_tasks.training.evaluation import naive_forecasts, segment_column

    version = trained["version"]
    cfg = gate_config(spec)
    baseline = trained.get("baseline")
    if current_version is None or current_version == version:
        return decide(cfg, trained["metrics"], force=force, baseline=baseline), None
    frame = load_features(Lake.from_settings(settings), spec, [date.fromisoformat(d) for d in trained["holdout_dates"]])
    challenger_pred = predict_version(settings, spec, version, frame)
    champion_pred = predict_version(settings, spec, current_version, frame)
    target = frame[spec.data.target]
    champion_metrics = task_metrics(
        spec.task, target, champion_pred, naive_forecasts(spec, frame) or None, trained["metrics"].get("threshold", 0.5)
    )
    # Rows of one series and day share their errors: the bootstrap resamples those clusters (a
    # single series resamples days).
    clusters = frame[[*spec.data.keys, "dt"]].astype(str).agg("|".join, axis=1)
    segment = segment_column(spec)
    decision = decide(
        cfg,
        trained["metrics"],
        target,
        challenger_pred,
        champion_pred,
        clusters=clusters.to_numpy(),
        segments=frame[segment].astype(str).to_numpy() if segment else None,
        force=force,
        baseline=baseline,
    )
    return decision, champion_metrics


def _evaluate_locked(
    settings: ConveyorSettings,
    spec: PipelineSpec,
    trained: RegisteredVersion,
    run_context: dict[str, str] | None,
    force: bool,
) -> GateDecision:
    client = tracking.connect(settings)
    version = trained["version"]
    current_version = _champion_version(client, spec.name)
    decision, champion_metrics = _gate(settings, spec, trained, current_version, force)
    log.info("promotion decision for %s v%s vs champion v%s: %s", spec.name, version, current_version, decision.reason)
    gated = _record(client, spec, trained, current_version, decision, champion_metrics)
    previous_challenger = registry.version_by_alias(client, spec.name, registry.CHALLENGER)
    audit.move_alias(
        client,
        audit.AliasMove(
            spec.name,
            registry.CHALLENGER,
            str(previous_challenger.version) if previous_challenger else None,
            version,
            "trained",
            gated["evidence"],
        ),
        run_context,
        settings=settings,
    )
    return gated


def _record(
    client, spec: PipelineSpec, trained: RegisteredVersion, against: str | None, decision, champion_metrics
) -> GateDecision:
    """Store the decision on the challenger's version; returns it in the shape the next step takes."""
    failed = trained.get("failed") or {}
    reason = decision.reason + (f"; not compared, training failed: {', '.join(sorted(failed))}" if failed else "")
    client.set_model_version_tag(
        registry.model_name(spec.name),
        trained["version"],
        "conveyor.promotion_decision",
        json.dumps({**decision.as_dict(), "reason": reason, "failed_families": failed}, default=str),
    )
    return GateDecision(
        promote=decision.promote,
        forced=decision.forced,
        version=trained["version"],
        gated_against=against,
        reason=reason,
        checks=decision.checks,
        failed_families=failed,
        evidence={"challenger": trained["metrics"], "champion": champion_metrics, **decision.checks},
    )


def _apply_locked(
    settings: ConveyorSettings,
    spec: PipelineSpec,
    trained: RegisteredVersion,
    gated: GateDecision,
    run_context: dict[str, str] | None,
) -> PromotionOutcome:
    client = tracking.connect(settings)
    # A retry of a promote killed between its `@champion` move and the record finds the move done
    # and makes none: the record is completed here, by whichever registry task comes next.
    audit.repair(settings, spec.name)
    version = gated["version"]
    current_version = _champion_version(client, spec.name)
    if gated["promote"] and current_version not in (gated["gated_against"], version):
        # Another run moved the champion after this decision was made: decide again against it.
        decision, champion_metrics = _gate(settings, spec, trained, current_version, gated["forced"])
        log.info(
            "champion moved v%s -> v%s since the gate; re-gated: %s",
            gated["gated_against"],
            current_version,
            decision.reason,
        )
        regated = _record(client, spec, trained, current_version, decision, champion_metrics)
        gated = {**gated, **regated, "reason": f"re-gated against v{current_version}: {decision.reason}"}
    promote = gated["promote"]
    if promote and current_version != version:  # equal: a retry of a move that already happened
        context = {**(run_context or {}), "forced": str(gated["forced"])}
        if gated.get("approved_by"):
            context["approved_by"] = gated["approved_by"]
        audit.move_alias(
            client,
            audit.AliasMove(
                spec.name,
                registry.CHAMPION,
                current_version,
                version,
                gated["reason"],
                gated["evidence"],
            ),
            context,
            settings=settings,
        )
    return PromotionOutcome(
        promoted=promote,
        forced=gated["forced"],
        version=version,
        previous_champion=gated["gated_against"] if current_version == version else current_version,
        champion=version if promote else current_version,
        reason=gated["reason"],
        checks=gated["checks"],
    )
