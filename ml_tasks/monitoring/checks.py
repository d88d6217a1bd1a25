"""The monitoring check of one pipeline for one day: data drift, prediction drift, performance decay.

Everything is measured against the current `@champion`: its training reference sample (logged
by the training run), its predictions, its holdout error. Results go to the MLflow experiment
``<pipeline>_monitoring``, into one run per champion version, as metrics whose step is the data
day (days since 1970-01-01) and whose timestamp is that day, so the MLflow UI charts them as a
time series and a backfill lands each point in its place. Each check stores its Evidently
reports (HTML and JSON) under ``checks/dt=<day>/`` in that run, and refreshes a plot of the
whole series, ``monitoring_timeseries.png``.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import numpy as np
import pandas as pd

from ml_tasks.core import tracking
from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.monitoring.decay import performance_decay
from ml_tasks.monitoring.drift import data_drift, prediction_drift
from ml_tasks.monitoring.sampling import sample_partitions
from ml_tasks.registry import client as registry
from ml_tasks.registry.artifacts import load_verified

log = logging.getLogger(__name__)


class DriftVerdict(TypedDict):
    """Hand-off from `check_drift` to `decide_retrain` (an XCom, JSON as is).

    ``signals`` maps ``data_drift``, ``prediction_drift`` and ``performance_decay`` to what each
    found: ``detected``, its numbers and threshold, and a one-line ``summary``. ``window`` is the
    first and last day checked; ``report_uri`` links the Evidently report in MLflow.
    """

    dt: str
    champion_version: str
    window: list[str]
    window_rows: int
    sample_rows: int
    signals: dict[str, dict[str, Any]]
    monitor_run_id: NotRequired[str]
    report_uri: NotRequired[str]


EPOCH = date(1970, 1, 1)


def window_dates(lake: Lake, spec: PipelineSpec, dt: date) -> list[date]:
    """The feature days of the window ending at ``dt`` (which must exist)."""
    dates = [d for d in lake.partitions("features", spec.name) if d <= dt][-spec.drift.window_days :]
    if not dates or dates[-1] != dt:
        raise FileNotFoundError(
            f"pipeline {spec.name!r}: no feature partition for {dt} under "
            f"{lake.zone('features', spec.name)} (has {spec.name}_features run for that day?)"
        )
    return dates


def load_reference(settings: ConveyorSettings, champion, name: str = "features") -> pd.DataFrame | None:
    """A sample the champion's training run logged: ``features`` (the last training days) or
    ``holdout`` (the holdout week, unseen by the model); None when the run has no such sample
    (models trained before the holdout sample was logged)."""
    import mlflow

    reference_run = (champion.tags or {}).get("conveyor.reference_run_id", champion.run_id)
    path = f"reference/{name}.parquet"
    if name != "features" and path not in {
        a.path for a in tracking.connect(settings).list_artifacts(reference_run, "reference")
    }:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return pd.read_parquet(
            mlflow.artifacts.download_artifacts(run_id=reference_run, artifact_path=path, dst_path=tmp)
        )


def check_drift(
    settings: ConveyorSettings,
    spec: PipelineSpec,
    dt: date,
    run_context: dict[str, str] | None = None,
    progress: Callable[[str], None] = log.info,
) -> DriftVerdict:
    """Run all three checks for the window ending at ``dt``, log them, and return the verdict."""
    client = tracking.connect(settings)
    champion = registry.version_by_alias(client, spec.name, registry.CHAMPION)
    if champion is None:
        raise registry.NoChampionError(f"pipeline {spec.name!r} has no @champion: nothing to compare drift against")
    version = str(champion.version)
    lake = Lake.from_settings(settings)
    dates = window_dates(lake, spec, dt)

    current, population = sample_partitions(
        lake, "features", spec.name, dates, None, spec.drift.sample_rows, seed=dt.toordinal()
    )
    progress(
        f"window {dates[0]}..{dates[-1]}: {population:,} rows, testing a simple random sample of "
        f"{len(current):,} (seed {dt.toordinal()})"
    )
    reference = load_reference(settings, champion)
    data = data_drift(reference, current, spec.drift)
    progress(
        f"data drift: share {data.share:.2f} (threshold {spec.drift.drift_share_threshold}); "
        f"drifted {data.drifted_columns or 'none'}"
    )

    model = load_verified(settings, spec.name, version)
    # the model's predictions on rows it never saw (see ml_tasks.training.plan); older runs: its training rows
    unseen = load_reference(settings, champion, "holdout")
    predicted = prediction_drift(
        np.asarray(model.predict(reference if unseen is None else unseen), dtype=float),
        np.asarray(model.predict(current), dtype=float),
        spec.drift,
    )
    pred_score = predicted.columns["prediction"]["score"]
    progress(
        f"prediction drift: {spec.drift.numeric_method} {pred_score:.3f} (threshold {spec.drift.prediction_threshold})"
    )

    baseline = {
        k.removeprefix("holdout_"): v
        for k, v in client.get_run(champion.run_id).data.metrics.items()
        if k.startswith("holdout_")
    }
    decay = performance_decay(lake, spec, dates, version, baseline)
    progress(f"performance: {_decay_summary(decay)}")

    signals = {
        "data_drift": {
            "detected": data.detected,
            "share": data.share,
            "threshold": spec.drift.drift_share_threshold,
            "drifted_columns": data.drifted_columns,
            "summary": f"share {data.share:.2f} vs {spec.drift.drift_share_threshold}",
        },
        "prediction_drift": {
            "detected": predicted.detected,
            "score": pred_score,
            "method": spec.drift.numeric_method,
            "threshold": spec.drift.prediction_threshold,
            "summary": f"{spec.drift.numeric_method} {pred_score:.3f} vs {spec.drift.prediction_threshold}",
        },
        "performance_decay": {
            k: decay.get(k)
            for k in (
                "detected",
                "evaluated",
                "metric",
                "window",
                "baseline",
                "ratio",
                "ratio_low",
                "level",
                "tolerance",
                "rows",
            )
        }
        | {"summary": _decay_summary(decay)},
    }
    verdict = DriftVerdict(
        dt=dt.isoformat(),
        champion_version=version,
        window=[dates[0].isoformat(), dt.isoformat()],
        window_rows=population,
        sample_rows=len(current),
        signals=signals,
    )
    run_id, exp_id = monitor_run(settings, client, spec, version)
    _log_check(settings, client, spec, run_id, dt, verdict, data, predicted, decay, run_context)
    verdict.update(
        monitor_run_id=run_id,
        report_uri=f"{tracking.run_url(settings, run_id, exp_id)}/artifacts/checks/dt={dt}/data_drift.html",
    )
    return verdict


def _decay_summary(decay: dict[str, Any]) -> str:
    if not decay["evaluated"]:
        return f"not evaluated: {decay.get('note')}"
    return (
        f"{decay['metric']} {decay['window']:.3f} over {decay['rows']:,} rows with actuals vs holdout "
        f"{decay['baseline']:.3f} (x{decay['ratio']:.2f}, {decay['level']:.0%} lower bound x{decay['ratio_low']:.2f}; "
        f"decay past x{1 + decay['tolerance']:.2f})"
    )


def monitor_run(settings: ConveyorSettings, client, spec: PipelineSpec, version: str) -> tuple[str, str]:
    """The monitoring run of champion ``version`` (created on its first check); (run id, experiment id)."""
    exp = client.get_experiment_by_name(tracking.monitoring_experiment(spec.name))
    exp_id = (
        exp.experiment_id
        if exp
        else tracking.ensure_experiment_id(settings, client, tracking.monitoring_experiment(spec.name))
    )
    found = client.search_runs(
        [exp_id],
        filter_string=f"tags.`conveyor.monitor_of` = '{version}'",
        order_by=["attributes.start_time ASC"],
        max_results=1,
    )
    if found:
        return found[0].info.run_id, exp_id
    run = client.create_run(
        exp_id,
        run_name=f"{spec.name}-v{version}-monitor",
        tags={
            "conveyor.pipeline": spec.name,
            "conveyor.monitor_of": version,
            "mlflow.note.content": (
                f"Monitoring of {spec.name} v{version} while it is @champion: one point per data day."
            ),
        },
    )
    return run.info.run_id, exp_id


def _metric_time(dt: date) -> tuple[int, int]:
    """(step, timestamp in ms) of a data day: charts in the MLflow UI order points by the day they describe."""
    midnight = datetime(dt.year, dt.month, dt.day, tzinfo=UTC)
    return (dt - EPOCH).days, int(midnight.timestamp() * 1000)


def log_series(client, run_id: str, dt: date, values: dict[str, float]) -> None:
    from mlflow.entities import Metric

    step, stamp = _metric_time(dt)
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), stamp, step) for k, v in values.items() if v is not None and np.isfinite(v)],
    )


def _log_check(settings, client, spec, run_id, dt, verdict, data, predicted, decay, run_context) -> None:
    values = {
        "drift_share": data.share,
        "data_drift_detected": float(data.detected),
        "prediction_drift_score": predicted.columns["prediction"]["score"],
        "prediction_drift_detected": float(predicted.detected),
        "performance_decay_detected": float(decay["detected"]),
        "window_rows": verdict["window_rows"],
        "sample_rows": verdict["sample_rows"],
        **{f"drift_score.{c}": v["score"] for c, v in data.columns.items()},
    }
    if decay["evaluated"]:
        values.update(
            {
                f"window_{decay['metric']}": decay["window"],
                f"holdout_{decay['metric']}": decay["baseline"],
                "decay_ratio": decay["ratio"],
                "decay_ratio_low": decay["ratio_low"],
            }
        )
    log_series(client, run_id, dt, values)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data.snapshot.save_html(str(folder / "data_drift.html"))
        (folder / "data_drift.json").write_text(json.dumps(data.snapshot.dict(), default=str, indent=1))
        predicted.snapshot.save_html(str(folder / "prediction_drift.html"))
        (folder / "prediction_drift.json").write_text(json.dumps(predicted.snapshot.dict(), default=str, indent=1))
        (folder / "performance.json").write_text(json.dumps(decay, default=str, indent=1))
        (folder / "verdict.json").write_text(
            json.dumps({**verdict, "airflow": run_context or {}}, default=str, indent=1)
        )
        client.log_artifacts(run_id, tmp, artifact_path=f"checks/dt={dt.isoformat()}")
    client.set_tag(run_id, "conveyor.last_checked_day", dt.isoformat())
    refresh_plot(client, spec, run_id)
    client.set_terminated(run_id)


def record_decision(
    settings: ConveyorSettings, spec: PipelineSpec, verdict: DriftVerdict, decision: dict[str, Any]
) -> None:
    """Store a retrain decision (a `retrain_policy.RetrainDecision`) beside the check it was made on
    (metric ``retrain_requested`` and JSON)."""
    client = tracking.connect(settings)
    run_id, dt = verdict["monitor_run_id"], date.fromisoformat(verdict["dt"])
    log_series(client, run_id, dt, {"retrain_requested": float(decision["fire"])})
    client.log_dict(run_id, decision, f"checks/dt={dt.isoformat()}/retrain_decision.json")
    client.set_tag(
        run_id, "conveyor.last_retrain_decision", f"{verdict['dt']}: {decision['outcome']}: {decision['reason']}"[:5000]
    )
    refresh_plot(client, spec, run_id)
    client.set_terminated(run_id)


def refresh_plot(client, spec: PipelineSpec, run_id: str) -> None:
    from ml_tasks.monitoring.plots import monitoring_plot

    def history(key: str) -> list[tuple]:
        return [(EPOCH + timedelta(days=m.step), m.value) for m in client.get_metric_history(run_id, key)]

    metric = spec.drift.decay_metric
    series = {
        "data drift share": history("drift_share"),
        "prediction drift": history("prediction_drift_score"),
        f"{metric} / holdout": history("decay_ratio"),
        f"{metric} / holdout, lower bound": history("decay_ratio_low"),
        "retrain requested": history("retrain_requested"),
    }
    thresholds = {
        "data drift share": spec.drift.drift_share_threshold,
        "prediction drift": spec.drift.prediction_threshold,
        f"{metric} / holdout, lower bound": 1 + spec.drift.decay_tolerance,
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = monitoring_plot(series, thresholds, f"{spec.name} monitoring", Path(tmp) / "monitoring_timeseries.png")
        client.log_artifact(run_id, str(path))


def latest_check(settings: ConveyorSettings, pipeline: str) -> dict[str, Any] | None:
    """The verdict of the most recently logged check of ``pipeline`` (any champion), or None."""
    client = tracking.connect(settings)
    exp = client.get_experiment_by_name(tracking.monitoring_experiment(pipeline))
    if exp is None:
        return None
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.end_time DESC"], max_results=1)
    if not runs or "conveyor.last_checked_day" not in runs[0].data.tags:
        return None
    run_id, day = runs[0].info.run_id, runs[0].data.tags["conveyor.last_checked_day"]
    with tempfile.TemporaryDirectory() as tmp:
        path = client.download_artifacts(run_id, f"checks/dt={day}/verdict.json", tmp)
        return json.loads(Path(path).read_text())
