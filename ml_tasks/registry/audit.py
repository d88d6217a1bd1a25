"""Alias moves and their audit trail, and the two operations people run by hand: history and rollback.

Every move of `@champion` (and `@challenger`) is recorded as a run in the MLflow experiment
``<pipeline>_registry_audit``: when, which alias, from and to which version, why, with what
evidence, from which Airflow DAG run and trigger. The records live in the same backend as the
registry itself, so they are as durable as the aliases and visible in the MLflow UI.

A move and its record are one unit: the record is written first as an *intent* (a running audit
run, ``audit.state=intended``), the aliases are moved, then the record is completed (``done``).
A process killed in between leaves an intent that the next alias move (under the same registry
lock) or ``conveyor history --repair`` settles: completed when the alias did move, reverted (and
`@previous_champion` put back) when it did not. So every alias move has its record, and no record
claims a move that did not happen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

from ml_tasks.core import failpoints, tracking
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.registry import client as registry


class RollbackError(ValueError):
    """The requested rollback target does not exist or is already the champion."""


class ChampionRollback(TypedDict):
    """What the `rollback` task did (an XCom, JSON as is): `@champion` moved from ``from_version`` (None:
    there was none) to ``to_version``, for ``reason`` as the audit trail records it."""

    from_version: str | None
    to_version: str
    reason: str


def audit_experiment(pipeline: str) -> str:
    return f"{pipeline}_registry_audit"


INTENDED, DONE, REVERTED = "intended", "done", "reverted"


def _experiment_id(settings: ConveyorSettings, client, pipeline: str) -> str:
    exp = client.get_experiment_by_name(audit_experiment(pipeline))
    return exp.experiment_id if exp else tracking.ensure_experiment_id(settings, client, audit_experiment(pipeline))


def _tags(record: dict[str, Any]) -> dict[str, str]:
    return {
        f"audit.{k}": (v if isinstance(v, str) else json.dumps(v, default=str))[:5000]
        for k, v in record.items()
        if k != "evidence" and v is not None
    }


def _begin(settings: ConveyorSettings, client, record: dict[str, Any]) -> str:
    """The intent: a running audit run saying which move is about to happen; returns its run id.

    Its place in the history is a sequence number (metric ``audit_seq``, one above the highest
    recorded), not a clock: every alias move runs under the registry lock (and pool), so no two
    moves of a pipeline take the same number, whatever the machines' clocks say.
    """
    exp_id = _experiment_id(settings, client, record["pipeline"])
    last = client.search_runs(
        [exp_id], filter_string="metrics.audit_seq >= 0", order_by=["metrics.audit_seq DESC"], max_results=1
    )
    seq = int(last[0].data.metrics["audit_seq"]) + 1 if last else 1
    run = client.create_run(
        exp_id,
        run_name=f"{record['alias']} -> v{record['to_version']}",
        tags=_tags({**record, "state": INTENDED, "seq": str(seq)}),
    )
    client.log_metric(run.info.run_id, "audit_seq", seq)
    return run.info.run_id


def _finish(client, run_id: str, record: dict[str, Any], state: str) -> None:
    client.set_tag(run_id, "audit.state", state)
    client.log_text(run_id, json.dumps({**record, "state": state}, indent=1, default=str), "move.json")
    client.set_terminated(run_id, "FINISHED" if state == DONE else "KILLED")


def repair(settings: ConveyorSettings, pipeline: str) -> list[dict[str, Any]]:
    """Settle every alias move whose process died between its intent and its record; returns them.

    Call it holding the registry lock (every alias move does): a move found half done then belongs
    to a process that is gone. Completed (``done``) when the alias points at the intended version,
    else reverted: `@previous_champion` goes back to where it was and the record says ``reverted``.
    """
    client = tracking.connect(settings)
    exp = client.get_experiment_by_name(audit_experiment(pipeline))
    if exp is None:
        return []
    settled = []
    for run in client.search_runs(
        [exp.experiment_id], filter_string=f"tags.`audit.state` = '{INTENDED}'", max_results=1000
    ):
        record = {k.removeprefix("audit."): v for k, v in run.data.tags.items() if k.startswith("audit.")}
        current = registry.version_by_alias(client, pipeline, record["alias"])
        if current is not None and str(current.version) == record["to_version"]:
            record["repaired"] = "completed: the alias had moved when its process died"
            state = DONE
        else:
            _put_back_previous(client, pipeline, record)
            record["repaired"] = "reverted: the alias had not moved when its process died"
            state = REVERTED
        client.set_tag(run.info.run_id, "audit.repaired", record["repaired"])
        _finish(client, run.info.run_id, record, state)
        settled.append({**record, "state": state})
    return settled


def _put_back_previous(client, pipeline: str, record: dict[str, Any]) -> None:
    if record["alias"] != registry.CHAMPION or "previous_before" not in record:
        return
    name, before = registry.model_name(pipeline), json.loads(record["previous_before"])
    if before is None:
        client.delete_registered_model_alias(name, registry.PREVIOUS_CHAMPION)
    else:
        client.set_registered_model_alias(name, registry.PREVIOUS_CHAMPION, str(before))


def history(settings: ConveyorSettings, pipeline: str, alias: str | None = registry.CHAMPION) -> list[dict[str, Any]]:
    """Alias moves of a pipeline, oldest first (only ``alias`` unless it is None)."""
    client = tracking.connect(settings)
    exp = client.get_experiment_by_name(audit_experiment(pipeline))
    if exp is None:
        return []
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"], max_results=10_000)
    # by sequence number; records from before there was one first, in the order their clocks say
    runs = sorted(runs, key=lambda r: ("audit_seq" in r.data.metrics, r.data.metrics.get("audit_seq", 0)))
    out = []
    for run in runs:
        rec = {k.removeprefix("audit."): v for k, v in run.data.tags.items() if k.startswith("audit.")}
        rec.setdefault("state", DONE)  # records from before intents were written
        if alias is None or rec.get("alias") == alias:
            out.append(rec)
    return out


def rollback(
    settings: ConveyorSettings,
    pipeline: str,
    to_version: str | None = None,
    reason: str = "",
    context: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Point `@champion` back at ``to_version`` (default: `@previous_champion`), recorded as a rollback."""
    with registry.registry_lock(settings, pipeline):
        return _rollback_locked(settings, pipeline, to_version, reason, context)


def _rollback_locked(settings, pipeline, to_version, reason, context) -> dict[str, Any]:
    client = tracking.connect(settings)
    repair(settings, pipeline)  # a half-done move first: which version is champion depends on it
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
    from ml_tasks.registry.artifacts import check_version

    check_version(settings, pipeline, to_version)  # a version whose files changed never becomes champion
    move = AliasMove(
        pipeline,
        registry.CHAMPION,
        str(current.version) if current else None,
        str(to_version),
        f"rollback: {reason}" if reason else "rollback",
        {"kind": "rollback"},
    )
    return move_alias(client, move, {"trigger": "rollback", **(context or {})}, settings=settings)


@dataclass(frozen=True)
class AliasMove:
    pipeline: str
    alias: str
    from_version: str | None
    to_version: str
    reason: str
    evidence: dict[str, Any]


def move_alias(
    client, move: AliasMove, context: dict[str, Any] | None = None, settings: ConveyorSettings | None = None
) -> dict[str, Any]:
    """Point ``move.alias`` at ``move.to_version``; record it on the version and in the audit trail.

    Moving `@champion` also moves `@previous_champion` to the version it leaves. With ``settings``
    (every caller but a bare test), a half-done earlier move is settled first (:func:`repair`) and
    this one is recorded as an intent before any alias moves and completed after.
    """
    name = registry.model_name(move.pipeline)
    run_id = None
    record = {
        "pipeline": move.pipeline,
        "time": datetime.now(UTC).isoformat(),
        "alias": move.alias,
        "from_version": move.from_version,
        "to_version": move.to_version,
        "reason": move.reason,
        "evidence": move.evidence,
        **(context or {}),
    }
    moves_previous = move.alias == registry.CHAMPION and move.from_version and move.from_version != move.to_version
    if settings is not None:
        repair(settings, move.pipeline)
        if moves_previous:
            before = registry.version_by_alias(client, move.pipeline, registry.PREVIOUS_CHAMPION)
            record["previous_before"] = json.dumps(str(before.version) if before else None)
        run_id = _begin(settings, client, record)
    if moves_previous:
        client.set_registered_model_alias(name, registry.PREVIOUS_CHAMPION, move.from_version)
    client.set_registered_model_alias(name, move.alias, move.to_version)
    failpoints.reached(f"registry.alias_moved.{move.alias}")
    client.set_model_version_tag(
        name, move.to_version, f"conveyor.alias_move.{move.alias}", json.dumps(record, default=str)
    )
    if run_id is not None:
        _finish(client, run_id, record, DONE)
        record["audit_run_id"] = run_id
    return record
