"""Alias moves and their audit trail, and the two operations people run by hand: history and rollback.

Every move of `@champion` (and `@challenger`) is recorded as a run in the MLflow experiment
``<pipeline>_registry_audit``: when, which alias, from and to which version, why, with what
evidence, from which Airflow DAG run and trigger. The records live in the same backend as the
registry itself, so they are as durable as the aliases and visible in the MLflow UI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ml_tasks.core import tracking
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.registry import client as registry


class RollbackError(ValueError):
    """The requested rollback target does not exist or is already the champion."""


def audit_experiment(pipeline: str) -> str:
    return f"{pipeline}_registry_audit"


def record_move(settings: ConveyorSettings, client, record: dict[str, Any]) -> str:
    """Store one alias move as a finished run of the audit experiment; returns its run id."""
    name = audit_experiment(record["pipeline"])
    exp = client.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp else tracking.ensure_experiment_id(settings, client, name)
    tags = {f"audit.{k}": (v if isinstance(v, str) else json.dumps(v, default=str))[:5000]
            for k, v in record.items() if k != "evidence" and v is not None}
    run = client.create_run(exp_id, run_name=f"{record['alias']} -> v{record['to_version']}", tags=tags)
    client.log_text(run.info.run_id, json.dumps(record, indent=1, default=str), "move.json")
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def history(settings: ConveyorSettings, pipeline: str, alias: str | None = registry.CHAMPION) -> list[dict[str, Any]]:
    """Alias moves of a pipeline, oldest first (only ``alias`` unless it is None)."""
    client = tracking.connect(settings)
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
    with registry.registry_lock(settings, pipeline):
        return _rollback_locked(settings, pipeline, to_version, reason, context)


def _rollback_locked(settings, pipeline, to_version, reason, context) -> dict[str, Any]:
    client = tracking.connect(settings)
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
    move = AliasMove(pipeline, registry.CHAMPION, str(current.version) if current else None, str(to_version),
                              f"rollback: {reason}" if reason else "rollback", {"kind": "rollback"})
    return move_alias(client, move, {"trigger": "rollback", **(context or {})}, settings=settings)


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
    name = registry.model_name(move.pipeline)
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
    if move.alias == registry.CHAMPION and move.from_version and move.from_version != move.to_version:
        client.set_registered_model_alias(name, registry.PREVIOUS_CHAMPION, move.from_version)
    client.set_registered_model_alias(name, move.alias, move.to_version)
    client.set_model_version_tag(name, move.to_version, f"conveyor.alias_move.{move.alias}", json.dumps(record, default=str))
    if settings is not None:
        record["audit_run_id"] = record_move(settings, client, record)
    return record
