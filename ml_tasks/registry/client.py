"""The Model Registry's vocabulary and lock: model names, aliases, version lookups.

Aliases only, no stages. The connection itself is `ml_tasks.core.tracking`; moving an alias
(and recording the move) is `ml_tasks.registry.audit`. The per-pipeline registry lock lives
here so that every module that moves an alias takes the same one.
"""

from __future__ import annotations

from contextlib import contextmanager

from ml_tasks.core.settings import ConveyorSettings

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"
ALIASES = (CHAMPION, CHALLENGER, PREVIOUS_CHAMPION)


class NoChampionError(RuntimeError):
    """The pipeline has no `@champion` yet: nothing to score or monitor."""


def model_name(pipeline: str) -> str:
    return pipeline


def model_uri(pipeline: str, alias: str = CHAMPION) -> str:
    if alias not in ALIASES:
        raise ValueError(f"unknown alias {alias!r}; expected one of {ALIASES}")
    return f"models:/{model_name(pipeline)}@{alias}"


def model_url(settings: ConveyorSettings, pipeline: str) -> str:
    """The MLflow UI page of the pipeline's registered model (its versions and aliases)."""
    return f"{settings.mlflow_public_url}/#/models/{model_name(pipeline)}"


def version_url(settings: ConveyorSettings, pipeline: str, version: str | int) -> str:
    """The MLflow UI page of a model version (its tags, aliases, model card)."""
    return f"{model_url(settings, pipeline)}/versions/{version}"


def version_by_alias(client, pipeline: str, alias: str):
    """The model version an alias points to, or None when the alias is not set."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name(pipeline), alias)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "not found" in str(exc).lower():
            return None
        raise


@contextmanager
def registry_lock(settings: ConveyorSettings, pipeline: str, timeout: float = 900.0):
    """One alias decision per pipeline at a time: read champion, decide, move, record.

    Two training runs finishing together would otherwise both read the same champion and both
    move the alias, leaving `@previous_champion` and the audit trail telling different stories.
    The lock is a file lock (``filelock``) under the Conveyor home, which every process of the
    embedded stack (and the CLI) shares; distributed deployments also serialise the promote task
    through a one-slot Airflow pool.
    """
    from filelock import FileLock, Timeout

    path = settings.home / "locks" / f"{pipeline}.registry.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(path, timeout=timeout, poll_interval=0.2):
            yield
    except Timeout:
        raise TimeoutError(f"registry lock {path} held for more than {timeout:.0f}s") from None
