"""`<pipeline>_drift`: Evidently drift of the latest features; requests a retrain when drifted."""

from __future__ import annotations

from airflow.sdk import DAG, get_current_context, task
from airflow.timetables.trigger import CronTriggerTimetable

from conveyor_factory.assets import retrain_request_asset
from conveyor_factory.common import pipeline_dag
from conveyor_factory.runtime import optional_date, run_tags, settings_and_spec
from conveyor_factory.score_dag import _cron, _latest, skip_without_champion

DOC = """
### {name}_drift

Compares the newest {window} feature days with the champion's training reference using
Evidently's data-drift preset on columns {columns}. The HTML and JSON reports go to the MLflow
experiment `{name}_monitoring`. When at least {threshold:.0%} of the columns drift, the
`request_retrain` task updates Asset `retrain_request:{name}` (with the evidence in its extra),
which schedules `{name}_train`.
"""


def build_drift_dag(spec, default_args: dict) -> DAG:
    name = spec.name
    with pipeline_dag(
        spec, "drift",
        description=f"{name}: Evidently data drift -> retrain request",
        schedule=CronTriggerTimetable(_cron(spec.drift.schedule), timezone="UTC"),
        dt_help="Last feature day of the window (YYYY-MM-DD); empty = latest",
        default_args=default_args,
        doc_md=DOC.format(name=name, window=spec.drift.window_days, columns=", ".join(spec.drift.columns),
                          threshold=spec.drift.drift_share_threshold),
    ) as dag:

        @task
        def check_drift() -> dict:
            from ml_tasks.drift import check_drift as run_check
            from ml_tasks.lake import Lake

            settings, spec_ = settings_and_spec(name)
            context = get_current_context()
            dt = optional_date(context) or _latest(Lake(settings.lake_uri), name)
            with skip_without_champion():
                verdict = run_check(settings, spec_, dt, run_tags(context))
            print(f"drift verdict: {verdict}")
            print(f"report: {verdict['report_uri']}")
            return verdict

        @task.short_circuit
        def drifted(verdict: dict) -> bool:
            return bool(verdict["drift_detected"])

        @task(outlets=[retrain_request_asset(name)])
        def request_retrain(verdict: dict) -> None:
            get_current_context()["outlet_events"][retrain_request_asset(name)].extra = {
                "reason": "data_drift", **verdict}
            print(f"retrain requested for {name}: drift share {verdict['drift_share']:.2f}")

        verdict = check_drift()
        drifted(verdict) >> request_retrain(verdict)
    return dag
