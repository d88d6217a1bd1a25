"""`<pipeline>_drift`: data drift, prediction drift and performance decay; requests retraining."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING

from airflow.sdk import DAG, task
from airflow.timetables.trigger import CronTriggerTimetable

from conveyor_factory.assets import retrain_request_asset
from conveyor_factory.callbacks import ConveyorNotifier
from conveyor_factory.dag_defaults import pipeline_dag
from conveyor_factory.links import linked_task, push_links
from conveyor_factory.runtime import (
    day_to_check,
    run_tags,
    run_type,
    schedule_cron,
    settings_and_spec,
    skip_without_champion,
)

if TYPE_CHECKING:  # the payload types; the DAG file itself imports no task logic when parsed
    from ml_tasks.monitoring.checks import DriftVerdict
    from ml_tasks.monitoring.retrain_policy import RetrainDecision

DOC = """
### {name}_drift

Checks the {window} feature days ending at the checked day (param `dt`; scheduled and backfill
runs: the day before the tick; manual runs: the newest) against the `@champion`:

1. **check_drift**: Evidently on a random sample of {sample:,} rows: data drift on {columns}
   ({num} >= {num_t} for numbers, {cat} >= {cat_t} for categories; drifted when >= {share:.0%} of
   the columns drift), prediction drift (the champion's predictions on the window vs on its
   training reference), and performance decay (its stored predictions joined with the actuals,
   {metric} shown more than {tol:.0%} above its holdout: the {level:.0%} lower confidence bound).
   Reports, metrics over time and a plot go to the MLflow experiment `{name}_monitoring`; the task log prints the link.
2. **decide_retrain**: retrains on {retrain_on}, at most once per {cooldown:g} h; a `{name}_train`
   run already queued or running absorbs the request; backfill runs never request. The decision
   and its reason are logged (task log and MLflow).
3. **request_retrain**: updates Asset `retrain_request:{name}` with the evidence in its extra,
   which schedules `{name}_train`.
"""


def build_drift_dag(spec, default_args: dict) -> DAG:
    name = spec.name
    d = spec.drift
    with pipeline_dag(
        spec,
        "drift",
        description=f"{name}: drift and decay monitoring -> retrain request",
        schedule=CronTriggerTimetable(schedule_cron(d.schedule), timezone="UTC"),
        dt_help="Last feature day of the window (YYYY-MM-DD); empty = the day before the tick, or the newest",
        default_args=default_args,
        doc_md=DOC.format(
            name=name,
            window=d.window_days,
            sample=d.sample_rows,
            columns=", ".join(d.columns),
            num=d.numeric_method,
            num_t=d.numeric_threshold,
            cat=d.categorical_method,
            cat_t=d.categorical_threshold,
            share=d.drift_share_threshold,
            metric=d.decay_metric,
            tol=d.decay_tolerance,
            level=d.decay_level,
            retrain_on=", ".join(d.retrain_on),
            cooldown=d.cooldown_hours,
        ),
    ) as dag:

        @linked_task("drift_report", "mlflow_run")
        def check_drift(ti=None, **context) -> DriftVerdict:
            """Data drift, prediction drift and performance decay of `@champion` over the window (Evidently).

            Reports, metrics over time and a plot go to the `<pipeline>_monitoring` MLflow experiment.
            """
            from ml_tasks.core.lake import Lake
            from ml_tasks.core.tracking import run_url
            from ml_tasks.monitoring import checks

            settings, current_spec = settings_and_spec(name)
            dt = day_to_check(context, Lake.from_settings(settings), name)
            with skip_without_champion():
                verdict = checks.check_drift(
                    settings, current_spec, dt, run_tags({"ti": ti, **context}), progress=print
                )
            push_links(
                ti,
                drift_report=verdict.get("report_uri"),
                mlflow_run=run_url(settings, verdict["monitor_run_id"]) if verdict.get("monitor_run_id") else None,
            )
            print(f"report: {verdict['report_uri']}")
            return verdict

        @task(inlets=[retrain_request_asset(name)])
        def decide_retrain(verdict: DriftVerdict, ti=None, inlet_events=None, **context) -> RetrainDecision:
            """Whether the verdict asks for retraining, within the cooldown and unless a training run is pending."""
            from datetime import datetime, timedelta

            from ml_tasks.monitoring.checks import record_decision
            from ml_tasks.monitoring.retrain_policy import decide_retrain as decide

            settings, current_spec = settings_and_spec(name)
            last = list(inlet_events[retrain_request_asset(name)].ascending(False).limit(1))
            active = ti.get_dr_count(dag_id=f"{name}_train", states=["queued", "running"])
            policy = current_spec.drift
            decision = decide(
                verdict,
                list(policy.retrain_on),
                datetime.now(UTC),
                last[0].timestamp if last else None,
                active,
                timedelta(hours=policy.cooldown_hours),
                backfill=run_type(context) == "backfill",
            )
            record_decision(settings, current_spec, verdict, decision)
            print(f"retrain decision: {decision['outcome'].upper()}: {decision['reason']}")
            return decision

        @task(outlets=[retrain_request_asset(name)], on_success_callback=ConveyorNotifier("retrain_requested", name))
        def request_retrain(decision: RetrainDecision, outlet_events=None) -> None:
            """Updates Asset `retrain_request:<pipeline>` with the evidence, which schedules `<pipeline>_train`;
            skipped (no Asset event) when the decision does not fire."""
            if not decision["fire"]:
                from airflow.sdk.exceptions import AirflowSkipException

                raise AirflowSkipException(f"no retrain: {decision['reason']}")
            outlet_events[retrain_request_asset(name)].extra = {
                "reason": decision["reason"],
                "signals": decision["signals"],
                **decision["evidence"],
            }
            print(f"retrain requested for {name}: {decision['reason']}")

        request_retrain(decide_retrain(check_drift()))
    return dag
