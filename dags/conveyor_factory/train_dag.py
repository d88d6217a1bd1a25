"""`<pipeline>_train`: train a challenger, gate it against @champion, promote when better.

The builder is a list of small task factories, one per step, wired at the end of
:func:`build_train_dag`: plan -> train_<family> (one per model family, the neural one routed to
a GPU worker) -> register -> gate -> [approve] -> promote -> announce_champion. The hand-offs
between them are the typed payloads of `ml_tasks` (`TrainingPlan`, `TrainedCandidate`,
`RegisteredVersion`, `GateDecision`, `PromotionOutcome`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import DAG, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from conveyor_factory.approval import approval_task, responder
from conveyor_factory.assets import model_asset, retrain_request_asset
from conveyor_factory.callbacks import ConveyorNotifier
from conveyor_factory.dag_defaults import Param, pipeline_dag
from conveyor_factory.links import linked_task, push_links
from conveyor_factory.routing import gpu_task_kwargs, registry_pool_kwargs
from conveyor_factory.runtime import optional_date, run_tags, settings_and_spec

if TYPE_CHECKING:  # the payload types; the DAG file itself imports no task logic when parsed
    from ml_tasks.registry.promotion import GateDecision, PromotionOutcome
    from ml_tasks.registry.registration import RegisteredVersion
    from ml_tasks.training.candidate import TrainedCandidate
    from ml_tasks.training.plan import TrainingPlan

DOC = """
### {name}_train

Runs nightly (`{cron}` UTC) and whenever Asset `retrain_request:{name}` is updated (the drift
DAG emits it). Trains {families} (baselines included) on the newest {window} feature days with the
last {holdout} days held out, registers the one with the lowest rolling-origin backtest error in MLflow
as a new version of `{name}`, sets `@challenger`, and moves `@champion` only when the gate finds the
challenger better than the strongest baseline and than the champion on the same holdout rows
(`{metric}`, paired bootstrap; see `conveyor history {name}`). {approval}
A promotion emits Asset `model:{name}`. Param `force` promotes despite the gate (recorded).
"""


def plan_task(name: str):
    @linked_task("mlflow_run")
    def plan(ti=None, **context) -> TrainingPlan:
        """Fixes the training and holdout days and opens the parent MLflow run with the data's lineage."""
        from ml_tasks.core.tracking import run_url
        from ml_tasks.training.plan import plan_training

        settings, spec = settings_and_spec(name)
        planned = plan_training(settings, spec, run_tags({"ti": ti, **context}), end=optional_date(context))
        push_links(ti, mlflow_run=run_url(settings, planned["parent_run_id"]))
        print(
            f"training window {planned['train_dates'][0]}..{planned['train_dates'][-1]}, "
            f"holdout {planned['holdout_dates'][0]}..{planned['holdout_dates'][-1]}"
        )
        return planned

    return plan


def family_task(name: str, kind: str, routing: dict):
    @linked_task(
        "mlflow_run", task_id=f"train_{kind}", on_failure_callback=ConveyorNotifier("training_failed", name), **routing
    )
    def train(planned: TrainingPlan, ti=None) -> TrainedCandidate:
        """Backtests, fits and evaluates one model family on the plan's days, in a child MLflow run."""
        from ml_tasks.core.tracking import run_url
        from ml_tasks.training.candidate import train_model

        settings, spec = settings_and_spec(name)
        result = train_model(settings, spec, planned, kind)
        push_links(ti, mlflow_run=run_url(settings, result["run_id"]))
        print(f"{kind}: holdout {result['metrics']}; backtest means {result['backtest_mean']}")
        return result

    return train


def register_task(name: str):
    # Runs when every family is done and at least one upstream succeeded: a failed family stays
    # a failed task in the UI while the families that finished are still compared and gated.
    @linked_task("model_version", "mlflow_run", trigger_rule="all_done_min_one_success")
    def register(planned: TrainingPlan, ti=None) -> RegisteredVersion:
        """Registers the family with the lowest backtest error as a new version, with its model card.

        A family whose task failed is named on the version and in the gate's reason.
        """
        from ml_tasks.core.tracking import run_url
        from ml_tasks.registry.client import version_url
        from ml_tasks.registry.registration import register_best

        settings, spec = settings_and_spec(name)
        results, failed = [], {}
        for kind in spec.candidate_families:
            result = ti.xcom_pull(task_ids=f"train_{kind}")
            if result is None:
                failed[kind] = f"task train_{kind} did not finish in this run (see its log)"
            else:
                results.append(result)
        result = register_best(settings, spec, planned, results, failed)
        push_links(
            ti,
            model_version=version_url(settings, name, result["version"]),
            mlflow_run=run_url(settings, result["run_id"]),
        )
        print(
            f"registered {name} version {result['version']} ({result['model']}): {result['metrics']}"
            + (f"; failed, not compared: {sorted(failed)}" if failed else "")
        )
        return result

    return register


def gate_task(name: str):
    @linked_task("model_version")
    def gate(trained: RegisteredVersion, params=None, ti=None, **context) -> GateDecision:
        """Scores challenger and champion on the same holdout rows and decides; moves `@challenger`."""
        from ml_tasks.registry.client import version_url
        from ml_tasks.registry.promotion import evaluate_challenger

        settings, spec = settings_and_spec(name)
        push_links(ti, model_version=version_url(settings, name, trained["version"]))
        gated = evaluate_challenger(
            settings, spec, trained, run_tags({"ti": ti, **context}), force=bool((params or {}).get("force"))
        )
        print(
            f"gate: v{gated['version']} vs champion v{gated['gated_against']}: "
            f"{'PROMOTE' if gated['promote'] else 'keep the champion'}: {gated['reason']}"
        )
        return gated

    return gate


def promote_task(name: str, mode: str, require_approval: bool):
    @linked_task("model_version", **registry_pool_kwargs(mode))
    def promote(trained: RegisteredVersion, gated: GateDecision, ti=None, **context) -> PromotionOutcome:
        """Moves `@champion` when the gate (and the approver, if asked) said so; re-gates if it moved since."""
        from ml_tasks.registry.client import version_url
        from ml_tasks.registry.promotion import apply_promotion

        settings, spec = settings_and_spec(name)
        approval = ti.xcom_pull(task_ids="approve") if require_approval else None
        if approval:
            gated = {**gated, "approved_by": responder(approval)}
        decision = apply_promotion(settings, spec, trained, gated, run_tags({"ti": ti, **context}))
        if decision["champion"]:
            push_links(ti, model_version=version_url(settings, name, decision["champion"]))
        print(f"promotion decision: {decision}")
        return decision

    return promote


def announce_task(name: str):
    @task(outlets=[model_asset(name)], on_success_callback=ConveyorNotifier("champion_changed", name))
    def announce_champion(decision: PromotionOutcome, outlet_events=None) -> str:
        """Updates Asset `model:<pipeline>` with the new champion's version, the one it replaced and the
        decision; skipped (no Asset event) when `@champion` did not move."""
        if not decision["promoted"]:
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(f"@champion did not move: {decision['reason']}")
        outlet_events[model_asset(name)].extra = {
            "version": decision["version"],
            "reason": decision["reason"],
            "previous_champion": decision["previous_champion"],
            "forced": decision["forced"],
        }
        return decision["version"]

    return announce_champion


@task.short_circuit
def gate_says_promote(gated: GateDecision) -> bool:
    """Goes on to the approval only when the gate would promote."""
    return bool(gated["promote"])


def build_train_dag(spec, default_args: dict, mode: str = "embedded") -> DAG:
    name = spec.name
    with pipeline_dag(
        spec,
        "train",
        description=f"{name}: train, evaluate, register, promote",
        schedule=AssetOrTimeSchedule(
            timetable=CronTriggerTimetable(spec.training.schedule, timezone="UTC"),
            assets=[retrain_request_asset(name)],
        ),
        dt_help="Last feature day to train on (YYYY-MM-DD); empty = latest",
        default_args=default_args,
        extra_params={
            "force": Param(
                False,
                type="boolean",
                description="Promote the new version even if the gate says no (recorded as forced)",
            )
        },
        doc_md=DOC.format(
            name=name,
            cron=spec.training.schedule,
            window=spec.training.window_days,
            holdout=spec.training.holdout_days,
            metric=spec.promotion.metric,
            families=", ".join(spec.candidate_families),
            approval=(
                "The spec requires approval: a passing challenger waits in task `approve` "
                "(Browse > Required Actions) until a person approves or rejects it."
                if spec.promotion.require_approval
                else ""
            ),
        ),
    ) as dag:
        planned = plan_task(name)()
        results = [
            family_task(name, kind, gpu_task_kwargs(spec, mode) if kind == "lightning" else {})(planned)
            for kind in spec.candidate_families
        ]
        trained = register_task(name)(planned)
        results >> trained
        gated = gate_task(name)(trained)
        decision = promote_task(name, mode, spec.promotion.require_approval)(trained, gated)
        if spec.promotion.require_approval:
            gate_says_promote(gated) >> approval_task(spec) >> decision
        announce_task(name)(decision)
    return dag
