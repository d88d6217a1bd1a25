"""Champion/challenger promotion: a pure decision function and a thin MLflow layer.

The challenger is compared with the current champion on the very same holdout rows: the
champion is loaded from the registry and re-scored on the challenger's holdout. The first
model of a pipeline becomes champion. The decision and its numbers are recorded on the
challenger's model version.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import date

from ml_tasks import registry
from ml_tasks.evaluation import regression_metrics
from ml_tasks.lake import Lake
from ml_tasks.settings import ConveyorSettings
from ml_tasks.spec import PipelineSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    metric: str
    challenger: float
    champion: float | None


def decide(metric: str, challenger: dict[str, float], champion: dict[str, float] | None,
           min_improvement: float = 0.0) -> Decision:
    """Promote when there is no champion, or when the challenger's error is lower by the margin."""
    new = challenger[metric]
    if new != new:  # NaN
        return Decision(False, f"challenger {metric} is NaN", metric, new, None)
    if champion is None:
        return Decision(True, "no champion yet", metric, new, None)
    old = champion[metric]
    bar = old * (1.0 - min_improvement)
    if new < bar:
        return Decision(True, f"{metric} {new:.4f} < champion {old:.4f} (bar {bar:.4f})", metric, new, old)
    return Decision(False, f"{metric} {new:.4f} does not beat champion {old:.4f} (bar {bar:.4f})", metric, new, old)


def evaluate_version_on(settings: ConveyorSettings, spec: PipelineSpec, version: str, dates: list[date]) -> dict[str, float]:
    """Score a registered version on the feature rows of ``dates`` and compute its metrics."""
    import mlflow

    from ml_tasks.training import SEASONAL_NAIVE, load_features

    registry.connect(settings)
    frame = load_features(Lake(settings.lake_uri), spec, dates)
    model = mlflow.pyfunc.load_model(f"models:/{registry.model_name(spec.name)}/{version}")
    prediction = model.predict(frame)
    return regression_metrics(frame[spec.data.target], prediction, frame[SEASONAL_NAIVE])


def promote_if_better(settings: ConveyorSettings, spec: PipelineSpec, trained: dict,
                      run_context: dict[str, str] | None = None) -> dict:
    """Gate the freshly trained version against ``@champion`` and move aliases accordingly."""
    client = registry.connect(settings)
    version = trained["version"]
    current = registry.version_by_alias(client, spec.name, registry.CHAMPION)
    current_version = str(current.version) if current is not None else None  # int from SQLite stores
    champion_metrics = None
    if current_version is not None and current_version != version:
        dates = [date.fromisoformat(d) for d in trained["holdout_dates"]]
        champion_metrics = evaluate_version_on(settings, spec, current_version, dates)
    decision = decide(spec.promotion.metric, trained["metrics"], champion_metrics, spec.promotion.min_improvement)
    log.info("promotion decision for %s v%s: %s", spec.name, version, decision)

    evidence = {"challenger": trained["metrics"], "champion": champion_metrics}
    registry.move_alias(client, registry.AliasMove(spec.name, registry.CHALLENGER, None, version, "trained", evidence), run_context)
    client.set_model_version_tag(registry.model_name(spec.name), version, "conveyor.promotion_decision",
                                 json.dumps(asdict(decision)))
    if decision.promote:
        registry.move_alias(client, registry.AliasMove(
            spec.name, registry.CHAMPION, current_version, version, decision.reason, evidence,
        ), run_context)
    return {
        "promoted": decision.promote,
        "version": version,
        "previous_champion": current_version,
        "champion": version if decision.promote else current_version,
        "reason": decision.reason,
    }
