"""`<pipeline>_relanded`: rebuild the features of days landed again, as soon as `conveyor land` says so."""

from __future__ import annotations

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, task

from conveyor_factory.assets import raw_asset
from conveyor_factory.dag_defaults import pipeline_dag

DOC = """
### {name}_relanded

Runs when Asset `raw:{name}` is updated: `conveyor land {name} FILE...` updates it with the days it
landed again (days that held raw data, a quarantine verdict or published features). For each such
day it triggers `{name}_features` with `dt` = the day, so fixed data is gated, built and published
again without clearing anything. At most {max_days} days an event; more are refused with the command
that rebuilds them in one Spark job (`conveyor backfill-features {name} FIRST LAST`).
"""


def build_relanded_dag(spec, default_args: dict) -> DAG:
    from ml_tasks.platform.airflow_api.relanding import MAX_DAYS

    name = spec.name
    with pipeline_dag(
        spec,
        "relanded",
        description=f"{name}: re-run the features of days landed again",
        schedule=[raw_asset(name)],
        dt_help="unused: the days come from the Asset events",
        default_args=default_args,
        doc_md=DOC.format(name=name, max_days=MAX_DAYS),
    ) as dag:

        @task
        def days_landed_again(triggering_asset_events=None, run_id=None) -> list[dict]:
            """The days the triggering events name (checked: dates, at most MAX_DAYS), one features run each."""
            from ml_tasks.platform.airflow_api.relanding import days_to_rerun

            extras = [event.extra or {} for event in (triggering_asset_events or {}).get(raw_asset(name), [])]
            days = days_to_rerun(name, extras)
            print(f"{len(days)} day(s) landed again: {', '.join(days)}")
            stamp = run_id.rsplit("__", 1)[-1]
            return [{"trigger_run_id": f"relanded__{day}__{stamp}", "conf": {"dt": day}} for day in days]

        TriggerDagRunOperator.partial(
            task_id="run_features",
            trigger_dag_id=f"{name}_features",
            skip_when_already_exists=True,
            doc_md="Triggers the pipeline's features DAG for one day landed again "
            "(param dt); a retry does not start a second run.",
        ).expand_kwargs(days_landed_again())
    return dag
