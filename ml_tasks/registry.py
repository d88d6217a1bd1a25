"""The one module that talks to MLflow's tracking server and Model Registry.

It knows the alias names (aliases only, no stages), the experiment names, and how to reach
the server from the settings. Everything else asks it for clients, versions and URIs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ml_tasks.settings import ConveyorSettings

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"
ALIASES = (CHAMPION, CHALLENGER, PREVIOUS_CHAMPION)


def model_name(pipeline: str) -> str:
    return pipeline


def model_uri(pipeline: str, alias: str = CHAMPION) -> str:
    if alias not in ALIASES:
        raise ValueError(f"unknown alias {alias!r}; expected one of {ALIASES}")
    return f"models:/{model_name(pipeline)}@{alias}"


def training_experiment(pipeline: str) -> str:
    return f"{pipeline}_training"


def monitoring_experiment(pipeline: str) -> str:
    return f"{pipeline}_monitoring"


def connect(settings: ConveyorSettings):
    """Point MLflow at the configured tracking server and registry; return a client."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    return MlflowClient(tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)


def ensure_experiment(settings: ConveyorSettings, name: str) -> str:
    """Create the experiment if needed and make it current; returns its id.

    Against a server, artifacts go through the server (``mlflow-artifacts:``); with a direct
    database URI they go to the configured artifact folder, never to the working directory.
    """
    import mlflow

    client = connect(settings)
    exp = client.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp is not None else ensure_experiment_id(settings, client, name)
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def close_abandoned_runs(settings: ConveyorSettings, experiment_id: str, tags: dict[str, str]) -> list[str]:
    """Mark runs left RUNNING by a killed attempt with the same ``tags`` as KILLED; returns their ids.

    A task killed mid-training (OOM, a lost worker, kill -9) cannot end its MLflow run; its retry
    calls this first, so the tracking server shows one finished run per attempt that finished and
    no run that looks alive forever.
    """
    client = connect(settings)
    where = " and ".join([f"tags.`{k}` = '{v}'" for k, v in sorted(tags.items())] + ["attributes.status = 'RUNNING'"])
    stale = client.search_runs([experiment_id], filter_string=where, max_results=100)
    for run in stale:
        client.set_tag(run.info.run_id, "conveyor.abandoned", "a later attempt of the same task replaced this run")
        client.set_terminated(run.info.run_id, status="KILLED")
    return [run.info.run_id for run in stale]


def version_by_alias(client, pipeline: str, alias: str):
    """The model version an alias points to, or None when the alias is not set."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name(pipeline), alias)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "not found" in str(exc).lower():
            return None
        raise


@dataclass(frozen=True)
class AliasMove:
    pipeline: str
    alias: str
    from_version: str | None
    to_version: str
    reason: str
    evidence: dict[str, Any]


def move_alias(client, move: AliasMove, context: dict[str, Any] | None = None,
               settings: ConveyorSettings | None = None) -> dict[str, Any]:
    """Point ``move.alias`` at ``move.to_version``; record it on the version and in the audit trail.

    Moving `@champion` also moves `@previous_champion` to the version it leaves.
    """
    name = model_name(move.pipeline)
    record = {
        "pipeline": move.pipeline,
        "time": datetime.now(timezone.utc).isoformat(),
        "alias": move.alias,
        "from_version": move.from_version,
        "to_version": move.to_version,
        "reason": move.reason,
        "evidence": move.evidence,
        **(context or {}),
    }
    if move.alias == CHAMPION and move.from_version and move.from_version != move.to_version:
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION, move.from_version)
    client.set_registered_model_alias(name, move.alias, move.to_version)
    client.set_model_version_tag(name, move.to_version, f"conveyor.alias_move.{move.alias}", json.dumps(record, default=str))
    if settings is not None:
        from ml_tasks.audit import record_move

        record["audit_run_id"] = record_move(settings, client, record)
    return record


def ensure_experiment_id(settings: ConveyorSettings, client, name: str) -> str:
    """Create an experiment (artifact location as in :func:`ensure_experiment`) without making it current."""
    location = None
    if not settings.mlflow_tracking_uri.startswith(("http://", "https://")):
        location = f"{settings.mlflow_artifacts_dir.rstrip('/')}/{name}"
        if "://" not in location:
            location = f"file://{location}"
    try:
        return client.create_experiment(name, artifact_location=location)
    except Exception:  # created meanwhile by another task
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id
