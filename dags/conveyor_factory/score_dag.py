"""`<pipeline>_score`: batch predictions from `models:/<pipeline>@champion`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import DAG
from airflow.timetables.trigger import CronTriggerTimetable

from conveyor_factory.dag_defaults import pipeline_dag
from conveyor_factory.links import linked_task, push_links, view_url
from conveyor_factory.runtime import day_to_check, schedule_cron, settings_and_spec, skip_without_champion

if TYPE_CHECKING:  # the payload type; the DAG file itself imports no task logic when parsed
    from ml_tasks.serving.batch import ScoredPartition

DOC = """
### {name}_score

Scores one feature partition (param `dt`; scheduled and backfill runs: the day before the tick;
manual runs: the newest) with the model behind
`models:/{name}@champion` and writes `predictions/{name}/dt=<day>/` atomically; re-running a
day replaces that day's predictions.
"""


def build_score_dag(spec, default_args: dict) -> DAG:
    name = spec.name
    with pipeline_dag(
        spec,
        "score",
        description=f"{name}: batch scoring with @champion",
        schedule=CronTriggerTimetable(schedule_cron(spec.scoring.schedule), timezone="UTC"),
        dt_help="Feature day to score (YYYY-MM-DD); empty = the day before the tick, or the newest",
        default_args=default_args,
        doc_md=DOC.format(name=name),
    ) as dag:

        @linked_task("predictions")
        def score(ti=None, **context) -> ScoredPartition:
            """`@champion`'s predictions for the checked day, replacing that day's predictions atomically.

            Skips while the pipeline has no champion, and for a scheduled day whose features are not published.
            """
            from ml_tasks.core.lake import Lake
            from ml_tasks.serving.batch import score_partition

            settings, current_spec = settings_and_spec(name)
            dt = day_to_check(context, Lake.from_settings(settings), name)
            with skip_without_champion():
                result = score_partition(settings, current_spec, dt)
            push_links(ti, predictions=view_url(name, "predictions", result["dt"]))
            print(f"scored {result}")
            return result

        score()
    return dag
