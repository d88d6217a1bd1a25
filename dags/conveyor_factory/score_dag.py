"""`<pipeline>_score`: batch predictions from `models:/<pipeline>@champion`."""

from __future__ import annotations

from contextlib import contextmanager

from airflow.sdk import DAG, get_current_context, task
from airflow.timetables.trigger import CronTriggerTimetable

from conveyor_factory.common import pipeline_dag
from conveyor_factory.runtime import checked_day, run_type, settings_and_spec

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
        spec, "score",
        description=f"{name}: batch scoring with @champion",
        schedule=CronTriggerTimetable(_cron(spec.scoring.schedule), timezone="UTC"),
        dt_help="Feature day to score (YYYY-MM-DD); empty = the day before the tick, or the newest",
        default_args=default_args,
        doc_md=DOC.format(name=name),
    ) as dag:

        @task
        def score() -> dict:
            from ml_tasks.lake import Lake
            from ml_tasks.scoring import score_partition

            settings, spec_ = settings_and_spec(name)
            dt = day_to_check(get_current_context(), Lake.from_settings(settings), name)
            with skip_without_champion():
                result = score_partition(settings, spec_, dt)
            print(f"scored {result}")
            return result

        score()
    return dag


@contextmanager
def skip_without_champion():
    """A pipeline that has never promoted a model has nothing to score or monitor yet."""
    from airflow.exceptions import AirflowSkipException

    from ml_tasks.scoring import NoChampionError

    try:
        yield
    except NoChampionError as exc:
        raise AirflowSkipException(f"{exc} (skipping until the first promotion)") from exc


def _cron(schedule: str) -> str:
    return {"@daily": "0 3 * * *", "@hourly": "0 * * * *"}.get(schedule, schedule)


def day_to_check(context, lake, name):
    """The checked day (see ``checked_day``); a scheduled or backfill run whose day has no
    features skips (the features DAG's own failure is the alarm; clear this task once it is fixed)."""
    from airflow.exceptions import AirflowSkipException

    dt = checked_day(context)
    if dt is None:
        return _latest(lake, name)
    if run_type(context) in ("scheduled", "backfill") and not lake.exists("features", name, dt):
        raise AirflowSkipException(f"features of {name} for {dt} are not published (yet): nothing to check. "
                                   f"Clear this task once {name}_features has published that day.")
    return dt


def _latest(lake, name):
    days = lake.partitions("features", name)
    if not days:
        raise FileNotFoundError(f"no feature partitions under {lake.zone('features', name)}")
    return days[-1]
