"""Drift tests with Evidently: feature columns and the model's predictions, new data vs reference.

The spec names the method and threshold per column type (defaults: normed Wasserstein distance
for numeric columns, Jensen-Shannon distance for categorical ones, both drifting at >= 0.1), so
the verdict does not change with the sample size the way Evidently's automatic choice would.
The data counts as drifted when the share of drifted monitored columns reaches the spec's
``drift_share_threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ml_tasks.core.operation_specs import DriftSpec

PREDICTION = "prediction"


@dataclass
class DriftResult:
    share: float
    detected: bool
    columns: dict[str, dict[str, Any]]  # per column: method, threshold, score, drifted
    snapshot: Any  # the Evidently snapshot, for its HTML and JSON

    @property
    def drifted_columns(self) -> list[str]:
        return sorted(c for c, v in self.columns.items() if v["drifted"])


def column_drift(snapshot_dict: dict[str, Any]) -> tuple[float | None, dict[str, dict[str, Any]]]:
    """Parse an Evidently snapshot: (share of drifted columns, per-column method/score/drifted)."""
    share = None
    columns = {}
    for metric in snapshot_dict.get("metrics", []):
        cfg = metric.get("config", {})
        kind = cfg.get("type", "")
        if kind.endswith(":DriftedColumnsCount"):
            share = float(metric["value"]["share"])
        elif kind.endswith(":ValueDrift"):
            method, threshold, score = cfg.get("method", ""), float(cfg.get("threshold")), float(metric["value"])
            drifted = score < threshold if "p_value" in method else score >= threshold
            columns[cfg["column"]] = {"method": method, "threshold": threshold, "score": score, "drifted": drifted}
    return share, columns


def data_drift(reference: pd.DataFrame, current: pd.DataFrame, drift: DriftSpec) -> DriftResult:
    """Evidently's data-drift preset on the spec's columns, methods and thresholds."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    cols = list(drift.columns)
    preset = DataDriftPreset(
        columns=cols,
        drift_share=drift.drift_share_threshold,
        num_method=drift.numeric_method,
        num_threshold=drift.numeric_threshold,
        cat_method=drift.categorical_method,
        cat_threshold=drift.categorical_threshold,
    )
    snapshot = Report([preset]).run(current_data=current[cols], reference_data=reference[cols])
    share, columns = column_drift(snapshot.dict())
    if share is None:
        raise RuntimeError("Evidently report has no DriftedColumnsCount metric; cannot decide on drift")
    return DriftResult(share, share >= drift.drift_share_threshold, columns, snapshot)


def prediction_drift(reference_pred, current_pred, drift: DriftSpec) -> DriftResult:
    """Drift of the model's output: its predictions on new rows vs on its training reference."""
    from evidently import Report
    from evidently.metrics import ValueDrift

    ref = pd.DataFrame({PREDICTION: pd.Series(reference_pred, dtype=float)})
    cur = pd.DataFrame({PREDICTION: pd.Series(current_pred, dtype=float)})
    metric = ValueDrift(column=PREDICTION, method=drift.numeric_method, threshold=drift.prediction_threshold)
    snapshot = Report([metric]).run(current_data=cur, reference_data=ref)
    _, columns = column_drift(snapshot.dict())
    result = columns[PREDICTION]
    return DriftResult(float(result["drifted"]), result["drifted"], columns, snapshot)
