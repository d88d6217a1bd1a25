"""Run-time helpers every DAG's tasks share: the day a run works on, lineage tags, settings and spec,
and how bad data and a missing champion end a task (fail without retry, skip)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, timedelta


def partition_date(context) -> date:
    """The day a run works on: the ``dt`` param, else the data interval's day, else yesterday."""
    given = (context.get("params") or {}).get("dt")
    if given:
        try:
            return date.fromisoformat(str(given))
        except ValueError as exc:
            raise ValueError(f"param dt={given!r} is not a date in YYYY-MM-DD form") from exc
    start = context.get("data_interval_start")
    if start is not None:
        return start.date()
    # A manual run without a logical date: the last complete day before the run was asked for.
    run_after = getattr(context.get("dag_run"), "run_after", None)
    if run_after is None:
        raise ValueError("this run has neither a data interval nor run_after; trigger it with param dt=YYYY-MM-DD")
    return (run_after - timedelta(days=1)).date()


def run_type(context) -> str:
    """``scheduled``, ``manual``, ``backfill`` or ``asset_triggered``."""
    kind = getattr(context.get("dag_run"), "run_type", "")
    return str(getattr(kind, "value", kind))


def checked_day(context) -> date | None:
    """The day a scoring or monitoring run looks at.

    The ``dt`` param when given; for scheduled and backfill runs (cron ticks), the last complete
    day before the tick, so that a backfill over past ticks replays past days; for other runs
    None, meaning the newest feature partition.
    """
    given = optional_date(context)
    if given is not None:
        return given
    logical = context.get("logical_date")
    if logical is not None and run_type(context) in ("scheduled", "backfill"):
        return (logical - timedelta(days=1)).date()
    return None


def optional_date(context) -> date | None:
    """The ``dt`` param when given, else None (meaning: the latest available partition)."""
    given = (context.get("params") or {}).get("dt")
    return date.fromisoformat(str(given)) if given else None


def run_tags(context) -> dict[str, str]:
    """Tags that tie MLflow runs and registry records to the Airflow run that made them."""
    ti = context["ti"]
    dag_run = context.get("dag_run")
    return {
        "airflow.dag_id": ti.dag_id,
        "airflow.run_id": ti.run_id,
        "airflow.task_id": ti.task_id,
        "airflow.run_type": str(getattr(dag_run, "run_type", "")),
    }


def settings_and_spec(pipeline: str):
    """Settings from the environment and the pipeline's spec, read when the task runs; the task's
    numeric libraries then use at most ``settings.task_threads`` threads (tasks run side by side)."""
    from ml_tasks.core.settings import load_settings
    from ml_tasks.core.spec import load_spec
    from ml_tasks.core.threads import cap_threads

    settings = load_settings()
    cap_threads(settings.task_threads)
    return settings, load_spec(pipeline, settings.specs_dir)


def schedule_cron(schedule: str) -> str:
    """A preset as the cron its DAG runs on (scoring and monitoring tick after the features day)."""
    return {"@daily": "0 3 * * *", "@hourly": "0 * * * *"}.get(schedule, schedule)


def day_to_check(context, lake, name: str) -> date:
    """The checked day (see ``checked_day``); a scheduled or backfill run whose day has no
    features skips (the features DAG's own failure is the alarm; clear this task once it is fixed).
    A day asked for by hand whose raw data is in quarantine fails at once, naming the report (a
    retry cannot help until the day is re-landed)."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    dt = checked_day(context)
    if dt is None:
        return newest_features_day(lake, name)
    if lake.exists("features", name, dt):
        return dt
    if run_type(context) in ("scheduled", "backfill"):
        raise AirflowSkipException(
            f"features of {name} for {dt} are not published (yet): nothing to check. "
            f"Clear this task once {name}_features has published that day."
        )
    if lake.exists("quarantine", name, dt):
        raise AirflowFailException(
            f"features of {name} for {dt} are not published: the raw day is in quarantine "
            f"({lake.partition('quarantine', name, dt)}, see its report.html). Re-land the day, clear "
            f"{name}_features for it, then clear this task."
        )
    return dt


def newest_features_day(lake, name: str) -> date:
    days = lake.partitions("features", name)
    if not days:
        raise FileNotFoundError(f"no feature partitions under {lake.zone('features', name)}")
    return days[-1]


@contextmanager
def skip_without_champion():
    """A pipeline that has never promoted a model has nothing to score or monitor yet."""
    from airflow.exceptions import AirflowSkipException

    from ml_tasks.registry.client import NoChampionError

    try:
        yield
    except NoChampionError as exc:
        raise AirflowSkipException(f"{exc} (skipping until the first promotion)") from exc


@contextmanager
def fail_without_retry_on_bad_data():
    """A failed gate is a verdict on the data: retrying the same data cannot change it."""
    from airflow.exceptions import AirflowFailException

    from ml_tasks.data.gates import GateFailed

    try:
        yield
    except GateFailed as exc:
        raise AirflowFailException(str(exc)) from exc
