"""`<pipeline>_rollback`: move `@champion` back to an earlier version from the Airflow UI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import DAG, task

from conveyor_factory.assets import model_asset
from conveyor_factory.dag_defaults import Param, pipeline_dag
from conveyor_factory.routing import registry_pool_kwargs
from conveyor_factory.runtime import run_tags, settings_and_spec

if TYPE_CHECKING:  # the payload type; the DAG file itself imports no task logic when parsed
    from ml_tasks.registry.audit import ChampionRollback

DOC = """
### {name}_rollback

Trigger by hand ("Trigger DAG w/ config"). Points `@champion` of `{name}` at `to_version`, or
at `@previous_champion` when left empty, and records the move with your `reason` in the audit
trail (`conveyor history {name}`). Emits Asset `model:{name}`.
"""


def build_rollback_dag(spec, default_args: dict, mode: str = "embedded") -> DAG:
    name = spec.name
    with pipeline_dag(
        spec,
        "rollback",
        description=f"{name}: roll @champion back in one step",
        schedule=None,
        dt_help="unused",
        default_args={**default_args, "retries": 0},
        doc_md=DOC.format(name=name),
        extra_params={
            "to_version": Param("", type="string", description="Version to make champion; empty = @previous_champion"),
            "reason": Param("", type="string", description="Why, for the audit trail"),
        },
    ) as dag:
        # one alias move at a time across workers, like promote (embedded: the registry file lock)
        @task(outlets=[model_asset(name)], **registry_pool_kwargs(mode))
        def rollback(params=None, outlet_events=None, **context) -> ChampionRollback:
            """Points `@champion` at `to_version` (default `@previous_champion`), recorded with the reason."""
            from ml_tasks.registry.audit import ChampionRollback
            from ml_tasks.registry.audit import rollback as do_rollback

            settings, _ = settings_and_spec(name)
            params = params or {}
            record = do_rollback(
                settings,
                name,
                params.get("to_version") or None,
                params.get("reason") or "",
                {**run_tags(context), "trigger": "airflow_ui"},
            )
            print(f"@champion of {name}: v{record['from_version']} -> v{record['to_version']} ({record['reason']})")
            outlet_events[model_asset(name)].extra = {"version": record["to_version"], "reason": record["reason"]}
            return ChampionRollback(
                from_version=record["from_version"], to_version=record["to_version"], reason=record["reason"]
            )

        rollback()
    return dag
