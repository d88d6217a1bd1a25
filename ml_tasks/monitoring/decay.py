"""Performance decay: the champion's stored predictions joined with the actuals that landed since.

Predictions are written per day by the scoring DAG; the target of those rows arrives with the
day's data. For every day of the window that has both, the predictions of the current champion
are joined on the pipeline's keys and timestamp with the actual target (and the seasonal-naive
forecast that MASE is measured against), and the window's error is compared with the error the
champion showed on its holdout when it was trained. Days with predictions but no actuals yet
are reported as waiting.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.training.evaluation import naive_column, task_metrics

def joined_actuals(lake: Lake, spec: PipelineSpec, dates: list[date], version: str) -> tuple[pd.DataFrame, dict]:
    """Rows of ``version``'s predictions on ``dates`` with their actual target; and what was found."""
    keys = [*spec.data.keys, spec.data.timestamp]
    naive = naive_column(spec)
    actual_cols = list(dict.fromkeys([*keys, spec.data.target, *([naive] if naive else [])]))
    found: dict[str, list[str]] = {"joined": [], "no_predictions": [], "other_version": [], "awaiting_actuals": []}
    frames = []
    for d in dates:
        if not lake.exists("predictions", spec.name, d):
            found["no_predictions"].append(d.isoformat())
            continue
        pred = lake.read_partition("predictions", spec.name, d)
        pred = pred[pred["model_version"].astype(str) == str(version)]
        if pred.empty:
            found["other_version"].append(d.isoformat())
            continue
        if not lake.exists("features", spec.name, d):
            found["awaiting_actuals"].append(d.isoformat())
            continue
        actual = lake.read_partition("features", spec.name, d, columns=actual_cols)
        frames.append(pred.merge(actual, on=keys, how="inner", validate="one_to_one"))
        found["joined"].append(d.isoformat())
    joined = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return joined, found


def performance_decay(lake: Lake, spec: PipelineSpec, dates: list[date], version: str,
                      baseline: dict[str, float]) -> dict[str, Any]:
    """The window's error of ``version`` against its holdout ``baseline``; decayed past the tolerance?"""
    drift = spec.drift
    joined, found = joined_actuals(lake, spec, dates, version)
    out: dict[str, Any] = {"metric": drift.decay_metric, "tolerance": drift.decay_tolerance, "rows": len(joined),
                           "days": found, "baseline": baseline.get(drift.decay_metric), "window": None,
                           "ratio": None, "detected": False, "evaluated": False}
    if len(joined) < drift.decay_min_rows or out["baseline"] is None:
        out["note"] = (f"{len(joined)} rows with actuals (< decay_min_rows={drift.decay_min_rows})"
                       if len(joined) < drift.decay_min_rows else f"no holdout {drift.decay_metric} for v{version}")
        return out
    naive = naive_column(spec)
    metrics = task_metrics(spec.task, joined[spec.data.target], joined["prediction"],
                           joined[naive] if naive and naive in joined else None)
    window = metrics.get(drift.decay_metric)
    ratio = window / out["baseline"] if out["baseline"] else float("inf")
    out.update(evaluated=True, window=window, ratio=ratio, window_metrics=metrics,
               detected=bool(ratio > 1.0 + drift.decay_tolerance))
    return out
