"""`<pipeline>_train`: train a challenger, gate it against @champion, promote when better."""

from __future__ import annotations

from airflow.sdk import DAG, get_current_context, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from conveyor_factory.assets import model_asset, retrain_request_asset
from conveyor_factory.common import Param, pipeline_dag
from conveyor_factory.routing import gpu_task_kwargs, registry_pool_kwargs
from conveyor_factory.runtime import optional_date, run_tags, settings_and_spec

DOC = """
### {name}_train

Runs nightly (`{cron}` UTC) and whenever Asset `retrain_request:{name}` is updated (the drift
DAG emits it). Trains LightGBM on the newest {window} feature days with the last {holdout} days
held out, registers the model in MLflow as a new version of `{name}`, sets `@challenger`, and
moves `@champion` only when the gate finds the challenger better than the champion on the same
holdout rows (`{metric}`, paired bootstrap; see `conveyor history {name}`). {approval}
A promotion emits Asset `model:{name}`. Param `force` promotes despite the gate (recorded).
"""


def build_train_dag(spec, default_args: dict, mode: str = "embedded") -> DAG:
    name = spec.name
    with pipeline_dag(
        spec, "train",
        description=f"{name}: train, evaluate, register, promote",
        schedule=AssetOrTimeSchedule(
            timetable=CronTriggerTimetable(spec.training.schedule, timezone="UTC"),
            assets=[retrain_request_asset(name)],
        ),
        dt_help="Last feature day to train on (YYYY-MM-DD); empty = latest",
        default_args=default_args,
        extra_params={"force": Param(False, type="boolean",
                                     description="Promote the new version even if the gate says no (recorded as forced)")},
        doc_md=DOC.format(name=name, cron=spec.training.schedule, window=spec.training.window_days,
                          holdout=spec.training.holdout_days, metric=spec.promotion.metric,
                          approval=("The spec requires approval: a passing challenger waits in task `approve` "
                                    "(Browse > Required Actions) until a person approves or rejects it."
                                    if spec.promotion.require_approval else "")),
    ) as dag:

        @task
        def plan() -> dict:
            from ml_tasks.training import plan_training

            settings, spec_ = settings_and_spec(name)
            context = get_current_context()
            planned = plan_training(settings, spec_, run_tags(context), end=optional_date(context))
            print(f"training window {planned['train_dates'][0]}..{planned['train_dates'][-1]}, "
                  f"holdout {planned['holdout_dates'][0]}..{planned['holdout_dates'][-1]}")
            return planned

        def trainer(kind: str):
            routing = gpu_task_kwargs(spec, mode) if kind == "lightning" else {}

            @task(task_id=f"train_{kind}", **routing)
            def train(planned: dict) -> dict:
                from ml_tasks.training import train_model

                settings, spec_ = settings_and_spec(name)
                result = train_model(settings, spec_, planned, kind)
                print(f"{kind}: holdout {result['metrics']}; backtest means {result['backtest_mean']}")
                return result

            return train

        # Runs when every family is done and at least one upstream succeeded: a failed family stays
        # a failed task in the UI while the families that finished are still compared and gated.
        @task(trigger_rule="all_done_min_one_success")
        def register(planned: dict) -> dict:
            from ml_tasks.training import register_best

            settings, spec_ = settings_and_spec(name)
            ti = get_current_context()["ti"]
            results, failed = [], {}
            for kind in spec_.training.models:
                result = ti.xcom_pull(task_ids=f"train_{kind}")
                if result is None:
                    failed[kind] = f"task train_{kind} did not finish in this run (see its log)"
                else:
                    results.append(result)
            result = register_best(settings, spec_, planned, results, failed)
            print(f"registered {name} version {result['version']} ({result['model']}): {result['metrics']}"
                  + (f"; failed, not compared: {sorted(failed)}" if failed else ""))
            return result

        @task
        def gate(trained: dict) -> dict:
            from ml_tasks.promotion import evaluate_challenger

            settings, spec_ = settings_and_spec(name)
            context = get_current_context()
            force = bool((context.get("params") or {}).get("force"))
            gated = evaluate_challenger(settings, spec_, trained, run_tags(context), force=force)
            print(f"gate: v{gated['version']} vs champion v{gated['gated_against']}: "
                  f"{'PROMOTE' if gated['promote'] else 'keep the champion'}: {gated['reason']}")
            return gated

        @task(**registry_pool_kwargs(mode))
        def promote(trained: dict, gated: dict) -> dict:
            from ml_tasks.promotion import apply_promotion

            settings, spec_ = settings_and_spec(name)
            context = get_current_context()
            approval = context["ti"].xcom_pull(task_ids="approve") if spec.promotion.require_approval else None
            if approval:
                gated = {**gated, "approved_by": _responder(approval)}
            decision = apply_promotion(settings, spec_, trained, gated, run_tags(context))
            print(f"promotion decision: {decision}")
            return decision

        @task.short_circuit
        def gate_says_promote(gated: dict) -> bool:
            return bool(gated["promote"])

        @task.short_circuit
        def promoted(decision: dict) -> bool:
            return bool(decision["promoted"])

        @task(outlets=[model_asset(name)])
        def announce_champion(decision: dict) -> str:
            get_current_context()["outlet_events"][model_asset(name)].extra = {
                "version": decision["version"], "reason": decision["reason"]}
            return decision["version"]

        planned = plan()
        results = [trainer(kind)(planned) for kind in spec.training.models]
        trained = register(planned)
        results >> trained
        gated = gate(trained)
        decision = promote(trained, gated)
        if spec.promotion.require_approval:
            gate_says_promote(gated) >> approval_task(spec) >> decision
        promoted(decision) >> announce_champion(decision)
    return dag


APPROVAL_BODY = """\
{{% set gate = ti.xcom_pull(task_ids='gate') %}}
**{name} v{{{{ gate['version'] }}}}** would become `@champion`
{{%- if gate['gated_against'] %}}, replacing **v{{{{ gate['gated_against'] }}}}**{{% endif %}}.

The gate says: {{{{ gate['reason'] }}}}

| holdout metric | challenger | champion |
|---|---|---|
{{% for metric, value in gate['evidence']['challenger'].items() %}}| {{{{ metric }}}} | {{{{ '%.4f' % value }}}} | \
{{{{ '%.4f' % gate['evidence']['champion'][metric] if gate['evidence']['champion'] else '-' }}}} |
{{% endfor %}}

Approve to move `@champion`; Reject (or no answer within {hours:g} h) keeps the current champion.
The model card is on the version's page in the MLflow registry.
"""


def approval_task(spec):
    """Airflow's human-in-the-loop approval: the run waits in the UI's Required Actions."""
    from datetime import timedelta

    from airflow.providers.standard.operators.hitl import ApprovalOperator

    return ApprovalOperator(
        task_id="approve",
        subject=f"Promote a new {spec.name} champion?",
        body=APPROVAL_BODY.format(name=spec.name, hours=spec.promotion.approval_timeout_hours),
        defaults="Reject",
        response_timeout=timedelta(hours=spec.promotion.approval_timeout_hours),
        retries=0,
    )


def _responder(approval: dict) -> str:
    user = approval.get("responded_by_user") or {}
    who = (user.get("name") or user.get("id") or "unknown") if isinstance(user, dict) else str(user)
    return f"{who} at {approval.get('responded_at')}"
