"""Which task outcomes alert: Conveyor's alerts wired in as Airflow callbacks.

:class:`ConveyorNotifier` is an Airflow notifier attached as a task callback: on the failure of a
gate (when the day was quarantined), on the failure of a model family's training task, on the
success of ``request_retrain`` and of ``announce_champion``. :func:`deadline_missed` is the
callback of the features DAG's ``DeadlineAlert`` (the spec's ``features.deadline_hours``). Both
only read what Airflow's context holds; `ml_tasks.core.alerts` builds the alert and delivers it to
the configured webhook. Slack or e-mail take Airflow's own provider notifiers (docs/alerts.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseNotifier

if TYPE_CHECKING:
    from ml_tasks.core.alerts import Alert
    from ml_tasks.core.settings import ConveyorSettings


class ConveyorNotifier(BaseNotifier):
    """One kind of Conveyor event, raised from a task's outcome."""

    def __init__(self, event: str, pipeline: str):
        super().__init__()
        self.event, self.pipeline = event, pipeline

    def notify(self, context) -> None:
        from ml_tasks.core.alerts import send
        from ml_tasks.core.settings import load_settings

        settings = load_settings()
        alert = _ALERTS[self.event](settings, self.pipeline, context)
        if alert is not None:
            send(settings, alert)


def _quarantine(settings: ConveyorSettings, pipeline: str, context) -> Alert | None:
    from conveyor_factory.runtime import partition_date
    from ml_tasks.core.alerts import quarantine_alert
    from ml_tasks.data.gates import GateFailed

    exc, ti = context.get("exception"), context["ti"]
    if not isinstance(getattr(exc, "__cause__", None), GateFailed):
        return None  # the task failed for another reason (infrastructure): Airflow's own failure, not bad data
    stage = "raw" if ti.task_id == "gate_raw" else "features"
    return quarantine_alert(settings, pipeline, partition_date(context).isoformat(), stage, str(exc), ti.run_id)


def _training_failed(settings: ConveyorSettings, pipeline: str, context) -> Alert:
    from ml_tasks.core.alerts import training_failed_alert

    ti = context["ti"]
    return training_failed_alert(settings, pipeline, ti.task_id, ti.try_number, ti.run_id, context.get("exception"))


def _retrain_requested(settings: ConveyorSettings, pipeline: str, context) -> Alert:
    from ml_tasks.core.alerts import retrain_requested_alert

    return retrain_requested_alert(settings, pipeline, context["ti"].xcom_pull(task_ids="decide_retrain"))


def _champion_changed(settings: ConveyorSettings, pipeline: str, context) -> Alert:
    from ml_tasks.core.alerts import champion_changed_alert

    return champion_changed_alert(settings, pipeline, context["ti"].xcom_pull(task_ids="promote"))


_ALERTS = {
    "quarantine": _quarantine,
    "training_failed": _training_failed,
    "retrain_requested": _retrain_requested,
    "champion_changed": _champion_changed,
}


def deadline_missed(pipeline: str, hours: float, context=None) -> None:
    """The features DAG's deadline callback: the day's features were not published in time."""
    from ml_tasks.core.alerts import deadline_missed_alert, send
    from ml_tasks.core.settings import load_settings

    run = (context or {}).get("dag_run") or {}  # Airflow's DAG run API record
    run_id = run.get("dag_run_id") or run.get("run_id")
    day = str((run.get("conf") or {}).get("dt") or run.get("data_interval_start") or run.get("logical_date") or "")[:10]
    settings = load_settings()
    send(settings, deadline_missed_alert(settings, pipeline, hours, day, run_id, run.get("state")))
