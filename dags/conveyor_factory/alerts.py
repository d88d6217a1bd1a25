"""When Conveyor alerts, through Airflow's notifier mechanism and deadline alerts.

:class:`ConveyorNotifier` is an Airflow notifier attached as a task callback: on the failure of a
gate (when the day was quarantined), on the failure of a model family's training task, on the
success of ``request_retrain`` and of ``announce_champion``. :func:`deadline_missed` is the
callback of the features DAG's ``DeadlineAlert`` (the spec's ``features.deadline_hours``). Both
build an `ml_tasks.core.alerts.Alert` and deliver it to the configured webhook; Slack or
e-mail take Airflow's own provider notifiers (docs/alerts.md).
"""

from __future__ import annotations

from airflow.sdk import BaseNotifier


class ConveyorNotifier(BaseNotifier):
    """One kind of Conveyor event, raised from a task's outcome."""

    def __init__(self, event: str, pipeline: str):
        super().__init__()
        self.event, self.pipeline = event, pipeline

    def notify(self, context) -> None:
        from ml_tasks.core.settings import load_settings
        from ml_tasks.core.alerts import send

        settings = load_settings()
        alert = _ALERTS[self.event](settings, self.pipeline, context)
        if alert is not None:
            send(settings, alert)


def _quarantine(settings, pipeline, context):
    from ml_tasks.data.gates import GateFailed
    from ml_tasks.core.alerts import Alert, view_link

    from conveyor_factory.runtime import partition_date

    exc = context.get("exception")
    if not isinstance(getattr(exc, "__cause__", None), GateFailed):
        return None  # the task failed for another reason (infrastructure): Airflow's own failure, not bad data
    dt = partition_date(context).isoformat()
    stage = "raw" if context["ti"].task_id == "gate_raw" else "features"
    reason = str(exc).splitlines()[0]
    failed = [line.strip()[2:] for line in str(exc).splitlines() if line.startswith("  - ")]
    if not settings.alert_include_rows:  # the expectations and counts, not the rows' values
        failed = [line.split("; e.g. ")[0] for line in failed]
    return Alert("quarantine", pipeline, f"{dt} quarantined at the {stage} gate: {reason}",
                 {"dt": dt, "stage": stage, "failed": failed[:20], "dag_run": context["ti"].run_id},
                 view_link(settings, pipeline, "days", dt))


def _training_failed(settings, pipeline, context):
    from ml_tasks.core.alerts import Alert, view_link

    ti, exc = context["ti"], context.get("exception")
    return Alert("training_failed", pipeline, f"{ti.task_id} failed (try {ti.try_number}): {type(exc).__name__}: "
                 f"{str(exc)[:300]}", {"task": ti.task_id, "dag_run": ti.run_id, "try": ti.try_number},
                 view_link(settings, pipeline))


def _retrain_requested(settings, pipeline, context):
    from ml_tasks.core.alerts import Alert, view_link

    decision = context["ti"].xcom_pull(task_ids="decide_retrain") or {}
    return Alert("retrain_requested", pipeline, decision.get("reason", "retrain requested"),
                 {"signals": decision.get("signals"), "evidence": decision.get("evidence")}, view_link(settings, pipeline))


def _champion_changed(settings, pipeline, context):
    from ml_tasks.core.alerts import Alert, view_link

    decision = context["ti"].xcom_pull(task_ids="promote") or {}
    before = decision.get("previous_champion")
    return Alert("champion_changed", pipeline, f"@champion v{before or '-'} -> v{decision.get('champion')}"
                 f"{' (FORCED)' if decision.get('forced') else ''}: {decision.get('reason', '')}",
                 {k: decision.get(k) for k in ("champion", "previous_champion", "forced", "checks")},
                 view_link(settings, pipeline))


_ALERTS = {"quarantine": _quarantine, "training_failed": _training_failed,
           "retrain_requested": _retrain_requested, "champion_changed": _champion_changed}


def deadline_missed(pipeline: str, hours: float, context=None) -> None:
    """The features DAG's deadline callback: the day's features were not published in time."""
    from ml_tasks.core.settings import load_settings
    from ml_tasks.core.alerts import Alert, send, view_link

    settings = load_settings()
    run = (context or {}).get("dag_run") or {}  # Airflow's DAG run API record
    run_id = run.get("dag_run_id") or run.get("run_id")
    day = str((run.get("conf") or {}).get("dt") or run.get("data_interval_start") or run.get("logical_date") or "")[:10]
    send(settings, Alert("deadline_missed", pipeline,
                         f"features of {day or 'a day'} not published {hours:g} h after the day ended "
                         f"(run {run_id or '?'} is {run.get('state', '?')})",
                         {"dt": day, "run_id": run_id, "state": run.get("state"), "deadline_hours": hours},
                         view_link(settings, pipeline, "days", day) if day else view_link(settings, pipeline)))
