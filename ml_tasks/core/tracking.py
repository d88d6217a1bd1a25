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
