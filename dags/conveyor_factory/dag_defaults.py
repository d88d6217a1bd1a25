"""What every pipeline DAG shares: start date, catch-up policy, tags, the `dt` param."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG, Param

__all__ = ["Param", "pipeline_dag"]


def pipeline_dag(
    spec,
    kind: str,
    *,
    schedule,
    description: str,
    doc_md: str,
    dt_help: str,
    default_args: dict,
    max_active_runs: int = 1,
    extra_params: dict | None = None,
    deadline=None,
) -> DAG:
    """A DAG named ``<pipeline>_<kind>`` with the house defaults; use it as a context manager."""
    start = spec.features.start_date
    return DAG(
        dag_id=f"{spec.name}_{kind}",
        description=description,
        schedule=schedule,
        start_date=datetime(start.year, start.month, start.day, tzinfo=UTC),
        catchup=False,
        max_active_runs=max_active_runs,
        default_args=default_args,
        tags=["conveyor", spec.name, *spec.tags, kind],
        # Optional (null) so the trigger form accepts its own default; a given day must be a date.
        params={"dt": Param(None, type=["null", "string"], format="date", description=dt_help), **(extra_params or {})},
        doc_md=doc_md,
        deadline=deadline,
    )
