"""The audit trail of alias moves, and the two operations people run by hand: history and rollback.

Every move of `@champion` (and `@challenger`) is recorded as a run in the MLflow experiment
``<pipeline>_registry_audit``: when, which alias, from and to which version, why, with what
evidence, from which Airflow DAG run and trigger. The records live in the same backend as the
registry itself, so they are as durable as the aliases and visible in the MLflow UI.
"""

from __future__ import annotations

import json
from typing import Any

from ml_tasks import registry
from ml_tasks.settings import ConveyorSettings


class RollbackError(ValueError):
    """The requested rollback target does not exist or is already the champion."""


def audit_experiment(pipeline: str) -> str:
    return f"{pipeline}_registry_audit"


def record_move(settings: ConveyorSettings, client, record: dict[str, Any]) -> str:
    """Store one alias move as a finished run of the audit experiment; returns its run id."""
    name = audit_experiment(record["pipeline"])
    exp = client.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp else registry.ensure_experiment_id(settings, client, name)
    tags = {f"audit.{k}": (v if isinstance(v, str) else json.dumps(v, default=str))[:5000]
            for k, v in record.items() if k != "evidence" and v is not None}
    run = client.create_run(exp_id, run_name=f"{record['alias']} -> v{record['to_version']}", tags=tags)
    client.log_text(run.info.run_id, json.dumps(record, indent=1, default=str), "move.json")
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def history(settings: ConveyorSettings, pipeline: str, alias: str | None = registry.CHAMPION) -> list[dict[str, Any]]:
    """Alias moves of a pipeline, oldest first (only ``alias`` unless it is None)."""
    client = registry.connect(settings)
    exp = client.get_experiment_by_name(audit_experiment(pipeline))
    if exp is None:
        return []
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"], max_results=10_000)
    out = []
    for run in runs:
        rec = {k.removeprefix("audit."): v for k, v in run.data.tags.items() if k.startswith("audit.")}
        if alias is None or rec.get("alias") == alias:
            out.append(rec)
    return out


def rollback(settings: ConveyorSettings, pipeline: str, to_version: str | None = None, reason: str = "",
             context: dict[str, str] | None = None) -> dict[str, Any]:
    """Point `@champion` back at ``to_version`` (default: `@previous_champion`), recorded as a rollback."""
    from ml_tasks.promotion import registry_lock

    with registry_lock(settings, pipeline):
        return _rollback_locked(settings, pipeline, to_version, reason, context)


def _rollback_locked(settings, pipeline, to_version, reason, context) -> dict[str, Any]:
    client = registry.connect(settings)
    current = registry.version_by_alias(client, pipeline, registry.CHAMPION)
    if to_version is None:
        previous = registry.version_by_alias(client, pipeline, registry.PREVIOUS_CHAMPION)
        if previous is None:
            raise RollbackError(f"pipeline {pipeline!r} has no @previous_champion to roll back to; pass --to VERSION")
        to_version = str(previous.version)
    try:
        client.get_model_version(registry.model_name(pipeline), str(to_version))
    except Exception as exc:
        raise RollbackError(f"model {registry.model_name(pipeline)!r} has no version {to_version!r}") from exc
    if current is not None and str(current.version) == str(to_version):
        raise RollbackError(f"version {to_version} is already @champion of {pipeline!r}")
    move = registry.AliasMove(pipeline, registry.CHAMPION, str(current.version) if current else None, str(to_version),
                              f"rollback: {reason}" if reason else "rollback", {"kind": "rollback"})
    return registry.move_alias(client, move, {"trigger": "rollback", **(context or {})}, settings=settings)
