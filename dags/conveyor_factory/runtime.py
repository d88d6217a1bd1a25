"""What a running task needs from Airflow's context: the partition date and lineage tags."""

from __future__ import annotations

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
    """Settings from the environment and the pipeline's spec, read when the task runs."""
    from ml_tasks.settings import load_settings
    from ml_tasks.spec import load_spec

    settings = load_settings()
    return settings, load_spec(pipeline, settings.specs_dir)
