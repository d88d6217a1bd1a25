"""What the Conveyor view shows about one pipeline, gathered from MLflow and the lake.

:func:`pipeline_overview` reads, with a handful of calls whatever the history's length: the
champion (version, family, holdout metrics, model card), every alias move with its gate decision,
every registered version with its holdout metrics (:func:`version_history`), the days of the lake
with their gate outcome (published, published with warnings, quarantined, with the reason), the
monitoring series of the recent champions with their thresholds, and the champion's lineage with
the links of its steps (:func:`lineage_links`: the MLflow runs and version, the Airflow run).
:func:`day_report` is one day's whole story: its gate records (passing, quarantined or released),
what happened to it in order (landed, quarantined, released, landed again, published) and the
model versions trained on it. Only the view reads this module; it imports no Airflow.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from ml_tasks.core import tracking
from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.data import day_history
from ml_tasks.data.gate_records import VALIDATION_RECORD
from ml_tasks.data.quarantine import list_quarantine
from ml_tasks.data.release import RELEASE_RECORD
from ml_tasks.registry import client as registry
from ml_tasks.registry.audit import history
from ml_tasks.registry.lineage import LineageError, lineage

EPOCH = date(1970, 1, 1)
SERIES = {
    "drift_share": "data drift share",
    "prediction_drift_score": "prediction drift",
    "decay_ratio": "error / holdout error",
    # decay is declared when this bound (not the point ratio above) crosses 1 + tolerance
    "decay_ratio_low": "error / holdout, lower bound",
    "retrain_requested": "retrain requested",
}


def champion_summary(settings: ConveyorSettings, pipeline: str) -> dict[str, Any] | None:
    """The champion's version, family, holdout metrics and model card; None before the first promotion."""
    client = tracking.connect(settings)
    version = registry.version_by_alias(client, pipeline, registry.CHAMPION)
    if version is None:
        return None
    metrics = client.get_run(version.run_id).data.metrics
    return {
        "version": str(version.version),
        "family": (version.tags or {}).get("conveyor.model_family", "?"),
        "metrics": {k.removeprefix("holdout_"): v for k, v in sorted(metrics.items()) if k.startswith("holdout_")},
        "model_card": version.description or "",
        "url": registry.version_url(settings, pipeline, version.version),
        "aliases": sorted(getattr(version, "aliases", []) or []),
    }


def alias_history(settings: ConveyorSettings, pipeline: str) -> list[dict[str, Any]]:
    """Every move of `@champion`, newest first, with the gate's reason, forced flag and approver."""
    out = []
    for move in reversed(history(settings, pipeline, alias=registry.CHAMPION)):
        out.append(
            {
                "time": move.get("time", "")[:19].replace("T", " "),
                "from": move.get("from_version"),
                "to": move.get("to_version"),
                "reason": move.get("reason", ""),
                "forced": move.get("forced") == "True",
                "approved_by": move.get("approved_by"),
                "trigger": (move.get("trigger") or move.get("airflow.run_type") or "")
                .removeprefix("DagRunType.")
                .lower(),
                "run": move.get("airflow.run_id", ""),
            }
        )
    return out


def day_outcomes(lake: Lake, pipeline: str) -> list[dict[str, Any]]:
    """Each day with raw data, features or a quarantine record: its gate outcome, oldest first."""
    quarantined: dict[str, dict[str, Any]] = {}
    for entry in list_quarantine(lake, pipeline):
        quarantined.setdefault(entry["dt"], entry)
    published = {d.isoformat() for d in lake.partitions("features", pipeline)}
    raw = {d.isoformat() for d in lake.partitions("raw", pipeline)}
    out = []
    for day in sorted(published | raw | set(quarantined)):
        if day in quarantined:
            q = quarantined[day]
            out.append(
                {
                    "dt": day,
                    "status": "quarantined",
                    "stage": q["stage"],
                    "reason": ", ".join(q["reasons"]) or q["summary"],
                }
            )
            continue
        if day not in published:
            out.append({"dt": day, "status": "raw only", "reason": "landed; features not built yet"})
            continue
        record = lake.read_json(f"{lake.partition('features', pipeline, date.fromisoformat(day))}/{VALIDATION_RECORD}")
        released = (record or {}).get("raw", {}).get("released")
        if released:
            out.append(
                {
                    "dt": day,
                    "status": "released",
                    "reason": f"released as it is by {released['by']}: "
                    f"{released['reason']} (it failed {', '.join(released['failed'])})",
                }
            )
            continue
        warnings = (record["raw"]["warnings"] + record["features"]["warnings"]) if record else []
        out.append(
            {
                "dt": day,
                "status": "warned" if warnings else "published",
                "reason": "; ".join(map(str, warnings))
                if warnings
                else ("passed both gates" if record else "no gate record"),
            }
        )
    return out


def monitoring_series(settings: ConveyorSettings, spec: PipelineSpec, champions: int = 5) -> dict[str, Any]:
    """Drift and decay over the checked days for the latest ``champions`` monitored versions, with thresholds."""
    client = tracking.connect(settings)
    exp = client.get_experiment_by_name(tracking.monitoring_experiment(spec.name))
    series: dict[str, dict[str, float]] = {label: {} for label in SERIES.values()}
    if exp is not None:
        runs = client.search_runs(
            [exp.experiment_id],
            filter_string="tags.`conveyor.monitor_of` != ''",
            order_by=["attributes.start_time DESC"],
            max_results=champions,
        )
        wanted = [(run.info.run_id, key) for run in reversed(runs) for key in SERIES]
        with ThreadPoolExecutor(max_workers=8) as pool:  # one request per (run, metric): fetched side by side
            histories = list(pool.map(lambda rk: client.get_metric_history(*rk), wanted))
        for (_, key), points in zip(wanted, histories, strict=True):
            found = series[SERIES[key]]
            for m in points:
                day = (EPOCH + timedelta(days=m.step)).isoformat()
                # A day checked twice (the nightly check and a manual one) shows its highest value: MLflow
                # stamps both points with the day, so "latest" is not defined, and a fired retrain stays marked.
                found[day] = max(found.get(day, m.value), m.value)
    thresholds = {
        "data drift share": spec.drift.drift_share_threshold,
        "prediction drift": spec.drift.prediction_threshold,
        "error / holdout, lower bound": 1 + spec.drift.decay_tolerance,
    }
    return {"series": {k: sorted(v.items()) for k, v in series.items()}, "thresholds": thresholds}


def version_history(settings: ConveyorSettings, pipeline: str) -> list[dict[str, Any]]:
    """Every registered version, oldest first: its family, when it was registered (UTC), its holdout metrics
    and its aliases. The metrics come from the versions' training runs, fetched in one search per 100
    versions (not one request per version), so the page stays fast on a long history."""
    client = tracking.connect(settings)
    versions = sorted(
        client.search_model_versions(f"name='{registry.model_name(pipeline)}'"), key=lambda v: int(v.version)
    )
    runs = _training_runs(client, pipeline, [v.run_id for v in versions])
    aliases = _aliases(client, pipeline) if versions else {}
    out = []
    for v in versions:
        run = runs.get(v.run_id)
        metrics = run.data.metrics if run is not None else {}
        created = datetime.fromtimestamp((v.creation_timestamp or 0) / 1000, UTC)
        out.append(
            {
                "version": str(v.version),
                "family": (v.tags or {}).get("conveyor.model_family", "?"),
                "created": created.strftime("%Y-%m-%d %H:%M:%S"),
                "metrics": {
                    k.removeprefix("holdout_"): m for k, m in sorted(metrics.items()) if k.startswith("holdout_")
                },
                "aliases": aliases.get(str(v.version), []),
                "url": registry.version_url(settings, pipeline, v.version),
            }
        )
    return out


def _aliases(client, pipeline: str) -> dict[str, list[str]]:
    """Each version's aliases (a search of versions does not return them; the registered model does)."""
    found: dict[str, list[str]] = {}
    for alias, version in sorted((client.get_registered_model(registry.model_name(pipeline)).aliases or {}).items()):
        found.setdefault(str(version), []).append(alias)
    return found


def _training_runs(client, pipeline: str, run_ids: list[str]) -> dict[str, Any]:
    """The runs ``run_ids`` of the pipeline's training experiment, by id."""
    experiment = client.get_experiment_by_name(tracking.training_experiment(pipeline))
    wanted = sorted({r for r in run_ids if r and r.isalnum()})  # MLflow's run ids are hex: safe inside the filter
    found: dict[str, Any] = {}
    for start in range(0, len(wanted) if experiment is not None else 0, 100):
        chunk = wanted[start : start + 100]
        listed = ", ".join(f"'{r}'" for r in chunk)
        for run in client.search_runs(
            [experiment.experiment_id], filter_string=f"attributes.run_id IN ({listed})", max_results=len(chunk)
        ):
            found[run.info.run_id] = run
    return found


def lineage_links(settings: ConveyorSettings, pipeline: str, chain: dict[str, Any]) -> dict[str, str]:
    """Where the steps of a version's lineage open: its training run and the plan run above it in MLflow, the
    version and its model in the registry, and the Airflow run that trained it when the version names one."""
    links = {
        "version": registry.version_url(settings, pipeline, chain["version"]),
        "model": registry.model_url(settings, pipeline),
    }
    experiment = tracking.connect(settings).get_experiment_by_name(tracking.training_experiment(pipeline))
    for key in ("training_run", "parent_run"):
        if experiment is not None and chain.get(key):
            links[key] = tracking.run_url(settings, quote(chain[key], safe=""), experiment.experiment_id)
    airflow = chain.get("airflow") or {}
    if airflow.get("dag_id") and airflow.get("run_id"):
        links["airflow_run"] = (
            f"{settings.airflow_public_url}/dags/{quote(airflow['dag_id'], safe='')}"
            f"/runs/{quote(airflow['run_id'], safe='')}"
        )
    return links


def pipeline_overview(settings: ConveyorSettings, spec: PipelineSpec) -> dict[str, Any]:
    """Everything the pipeline page shows."""
    champion = champion_summary(settings, spec.name)
    chain = None
    if champion is not None:
        try:
            chain = lineage(settings, f"{spec.name}/{champion['version']}")
            chain["links"] = lineage_links(settings, spec.name, chain)
        except LineageError as exc:
            chain = {"error": str(exc)}
    return {
        "pipeline": spec.name,
        "task": spec.task,
        "metric": spec.promotion.metric,
        "champion": champion,
        "history": alias_history(settings, spec.name),
        "versions": version_history(settings, spec.name),
        "days": day_outcomes(Lake.from_settings(settings), spec.name),
        "monitoring": monitoring_series(settings, spec),
        "lineage": chain,
    }


def models_trained_on(settings: ConveyorSettings, pipeline: str, dt: date) -> list[dict[str, Any]]:
    """The registered versions whose training or holdout data held the day, newest first."""
    client = tracking.connect(settings)
    found = []
    versions = client.search_model_versions(f"name='{registry.model_name(pipeline)}'")
    aliases = _aliases(client, pipeline) if versions else {}
    for v in versions:
        if dt.isoformat() in json.loads((v.tags or {}).get("conveyor.feature_partitions", "[]")):
            found.append(
                {
                    "version": str(v.version),
                    "aliases": aliases.get(str(v.version), []),
                    "family": (v.tags or {}).get("conveyor.model_family", "?"),
                    "url": registry.version_url(settings, pipeline, v.version),
                }
            )
    return sorted(found, key=lambda v: -int(v["version"]))


def day_report(settings: ConveyorSettings, pipeline: str, dt: date) -> dict[str, Any] | None:
    """Everything about one day: its gate records and status, its story (``story``, oldest first) and the
    model versions trained on it (``models``); None for a day nothing is known of."""
    lake = Lake.from_settings(settings)
    report = _gate_report(lake, pipeline, dt)
    story = day_history.story(lake, pipeline, dt)
    if report is None and not story:
        return None
    if report is None:
        status = "landed, features not built yet" if lake.exists("raw", pipeline, dt) else "no data"
        report = {"status": status, "stage": None, "record": {}, "html": None}
    return {**report, "story": story, "models": models_trained_on(settings, pipeline, dt)}


def _gate_report(lake: Lake, pipeline: str, dt: date) -> dict[str, Any] | None:
    """Both gates' records of one day: the quarantine's, else the published partition's, else a release
    record whose features are not built yet; None if none of them."""
    for entry in list_quarantine(lake, pipeline):
        if entry["dt"] == dt.isoformat():
            base = entry["report"].rsplit("/", 1)[0]
            record = lake.read_json(f"{base}/validation.json") or {}
            with lake.fs.open(entry["report"]) as fh:
                html = fh.read().decode()
            return {"status": "quarantined", "stage": entry["stage"], "record": record, "html": html}
    record = lake.read_json(f"{lake.partition('features', pipeline, dt)}/{VALIDATION_RECORD}")
    if record is None:
        released = lake.read_json(f"{lake.partition('raw', pipeline, dt)}/{RELEASE_RECORD}")
        return (
            None
            if released is None
            else {
                "status": "released, features not built yet",
                "stage": None,
                "record": {"released": released},
                "html": None,
            }
        )
    status = "released and published" if record.get("raw", {}).get("released") else "published"
    return {"status": status, "stage": None, "record": record, "html": None}


def predictions_summary(settings: ConveyorSettings, pipeline: str, dt: date, rows: int = 20) -> dict[str, Any] | None:
    """A scored day: row count, the model version(s) that scored it, prediction quantiles, the first rows."""
    lake = Lake.from_settings(settings)
    if not lake.exists("predictions", pipeline, dt):
        return None
    frame = lake.read_partition("predictions", pipeline, dt)
    described = frame["prediction"].describe(percentiles=[0.05, 0.5, 0.95]).round(4).to_dict() if len(frame) else {}
    return {
        "rows": len(frame),
        "versions": sorted(frame["model_version"].astype(str).unique().tolist()) if "model_version" in frame else [],
        "prediction": described,
        "head": frame.head(rows).to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0),
    }
