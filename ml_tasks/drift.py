"""Data drift with Evidently: the latest feature window against the champion's training data.

The reference is the sample of training features that the champion's training run logged.
Evidently picks a test per column (by type and size) and a per-column threshold; the pipeline
counts as drifted when the share of drifted monitored columns reaches the spec's threshold.
The HTML and JSON reports are stored as artifacts of a run in the monitoring experiment.
"""

from __future__ import annotations

import json
import logging
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from ml_tasks import registry
from ml_tasks.lake import Lake
from ml_tasks.scoring import NoChampionError
from ml_tasks.settings import ConveyorSettings
from ml_tasks.spec import PipelineSpec

log = logging.getLogger(__name__)


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


def check_drift(settings: ConveyorSettings, spec: PipelineSpec, dt: date, run_context: dict[str, str] | None = None) -> dict:
    """Run the drift report for the window ending at ``dt``; returns the verdict (XCom-sized)."""
    import mlflow
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    client = registry.connect(settings)
    champion = registry.version_by_alias(client, spec.name, registry.CHAMPION)
    if champion is None:
        raise NoChampionError(f"pipeline {spec.name!r} has no @champion: nothing to compare drift against")
    lake = Lake(settings.lake_uri)
    dates = [d for d in lake.partitions("features", spec.name) if d <= dt][-spec.drift.window_days:]
    if not dates or dates[-1] != dt:
        raise FileNotFoundError(f"pipeline {spec.name!r}: no feature partition for {dt} under {lake.zone('features', spec.name)}")
    cols = list(spec.drift.columns)
    current = lake.read_range("features", spec.name, dates, columns=cols)
    with tempfile.TemporaryDirectory() as tmp:
        reference_run = (champion.tags or {}).get("conveyor.reference_run_id", champion.run_id)
        ref_file = mlflow.artifacts.download_artifacts(run_id=reference_run, artifact_path="reference/features.parquet", dst_path=tmp)
        reference = pd.read_parquet(ref_file, columns=cols)

    snapshot = Report([DataDriftPreset(columns=cols, drift_share=spec.drift.drift_share_threshold)]).run(
        current_data=current, reference_data=reference)
    share, per_column = column_drift(snapshot.dict())
    if share is None:
        raise RuntimeError("Evidently report has no DriftedColumnsCount metric; cannot decide on drift")
    detected = share >= spec.drift.drift_share_threshold

    registry.ensure_experiment(settings, registry.monitoring_experiment(spec.name))
    tags = {"conveyor.pipeline": spec.name, "conveyor.champion_version": str(champion.version), **(run_context or {})}
    with mlflow.start_run(run_name=f"{spec.name}-drift-{dt.isoformat()}", tags=tags) as run:
        mlflow.log_params({"window_start": dates[0], "window_end": dates[-1], "current_rows": len(current),
                           "reference_rows": len(reference), "threshold": spec.drift.drift_share_threshold})
        mlflow.log_metrics({"drift_share": share, "drift_detected": float(detected),
                            **{f"drift_score.{c}": v["score"] for c, v in per_column.items()}})
        with tempfile.TemporaryDirectory() as tmp:
            html_path, json_path = Path(tmp) / "data_drift.html", Path(tmp) / "data_drift.json"
            snapshot.save_html(str(html_path))
            json_path.write_text(json.dumps(snapshot.dict(), default=str, indent=1))
            mlflow.log_artifacts(tmp, artifact_path="drift")
    verdict = {
        "dt": dt.isoformat(),
        "drift_detected": detected,
        "drift_share": share,
        "threshold": spec.drift.drift_share_threshold,
        "drifted_columns": sorted(c for c, v in per_column.items() if v["drifted"]),
        "champion_version": str(champion.version),
        "report_run_id": run.info.run_id,
        "report_uri": f"{run.info.artifact_uri}/drift/data_drift.html",
    }
    log.info("drift verdict for %s at %s: %s", spec.name, dt, verdict)
    return verdict
