"""The connection to MLflow's tracking server: the client, the experiments runs go to.

The low-level MLflow module every stage shares. It records nothing itself: the registry's alias
moves and their audit trail live in `ml_tasks.registry`, above it.
"""

from __future__ import annotations

from ml_tasks.core.settings import ConveyorSettings


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


def runs_tagged(client, experiment_id: str, tags: dict[str, str], status: str, max_results: int = 100) -> list:
    """The runs of an experiment that carry every one of ``tags`` and have ``status`` (RUNNING, FINISHED, ...)."""
    where = " and ".join([f"tags.`{k}` = '{v}'" for k, v in sorted(tags.items())] + [f"attributes.status = '{status}'"])
    return client.search_runs([experiment_id], filter_string=where, max_results=max_results)


def close_abandoned_runs(settings: ConveyorSettings, experiment_id: str, tags: dict[str, str]) -> list[str]:
    """Mark runs left RUNNING by a killed attempt with the same ``tags`` as KILLED, and the RUNNING
    runs nested under them (a tuning trial the kill interrupted); returns their ids, parents first.

    A task killed mid-training (OOM, a lost worker, kill -9, a restarted scheduler) cannot end its
    MLflow runs; its retry calls this first, so the tracking server shows one finished run per
    attempt that finished and no run that looks alive forever.
    """
    client = connect(settings)
    stale, closed = runs_tagged(client, experiment_id, tags, "RUNNING"), []
    while stale:
        run_id = stale.pop(0).info.run_id
        client.set_tag(run_id, "conveyor.abandoned", "a later attempt of the same task replaced this run")
        client.set_terminated(run_id, status="KILLED")
        closed.append(run_id)
        stale += runs_tagged(client, experiment_id, {"mlflow.parentRunId": run_id}, "RUNNING")
    return closed


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


def run_url(settings: ConveyorSettings, run_id: str, experiment_id: str | None = None) -> str:
    """The MLflow UI page of a run (its experiment looked up when not given)."""
    if experiment_id is None:
        experiment_id = connect(settings).get_run(run_id).info.experiment_id
    return f"{settings.mlflow_public_url}/#/experiments/{experiment_id}/runs/{run_id}"
