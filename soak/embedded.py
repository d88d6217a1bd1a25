"""`make soak`: both shipped pipelines operated night after night on the embedded stack, with faults.

For each data day of a seeded :mod:`soak.plan`, the runner lands the day's raw
files (with the plan's data events) the way users do (`conveyor land`), runs that day's
``*_features``, nightly ``*_train``, ``*_score`` and ``*_drift`` through the real scheduler
(runs triggered with the ``dt`` param), does the day's faults to the running stack while those
runs go (:mod:`soak.embedded_faults`), waits until no run of any DAG is going, and
checks :mod:`soak.invariants` against what the lake, MLflow and Airflow say.

The calendar: the seeded history ends where the plan starts, and the plan ends yesterday. When
the DAGs are unpaused, the scheduler makes each one's latest scheduled run at once (Airflow's
``catchup=False``): the first champion is trained, and yesterday's features run fails because
yesterday has not landed yet (it lands on the plan's last day). The runner waits for those runs
before day 1; the next cron ticks come after midnight UTC, so a run started in the day meets
none (one that crosses midnight sees those runs too, which the invariants allow).
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from pathlib import Path

from ml_tasks.core import tracking
from ml_tasks.core.lake import Lake
from ml_tasks.core.polling import wait_until
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.core.spec import load_spec
from ml_tasks.demo.demand_data import (
    SENSOR_COLUMN,
)
from ml_tasks.demo.seed import seed_churn, seed_demo, yesterday
from ml_tasks.platform.airflow_api.client import AirflowClient
from ml_tasks.platform.stack import environment, lifecycle
from ml_tasks.registry import client as registry
from ml_tasks.registry.audit import history
from soak.embedded_faults import FaultRecord, clear_failed, inject, lake_dir, limited_lake, release_lake, restart_stack
from soak.invariants import STUCK_STATES, Invariant, Snapshot, check_invariants, lake_facts, lake_fingerprint
from soak.plan import PIPELINE, PIPELINES, DayPlan, SoakPlan, make_plan
from soak.plan_data import CHURN_CUSTOMERS, SIZE, PlanData
from soak.report import SoakResult, summary
from soak.settings import soak_settings

STAGES = ("features", "train", "score", "drift")
LAKE_MB = 512


def plan_ending_yesterday(seed: int, days: int) -> SoakPlan:
    return make_plan(seed, days, yesterday() - timedelta(days=days - 1))


class Soak(PlanData):
    """One soak run: a seeded plan, a fresh home, the embedded stack."""

    def __init__(self, settings: ConveyorSettings, plan: SoakPlan, say=print) -> None:
        self.settings, self.plan, self.say = settings, plan, say
        self.lake = Lake.from_settings(settings)
        self.result = SoakResult(plan)
        self.client: AirflowClient | None = None
        PlanData.__init__(self, plan)
        self.inbox = settings.home / "inbox"
        self.limited = False

    @property
    def dags(self) -> list[str]:
        return [f"{p}_{s}" for p in PIPELINES for s in STAGES]

    # -- data ---------------------------------------------------------------------------------------
    def land(self, frame, pipeline: str, dt: date, delivery: int = 1) -> None:
        """A delivered file, landed as users land theirs (`conveyor land`)."""
        from ml_tasks.data.landing import land_files

        path = self.inbox / pipeline / f"{dt}-delivery{delivery}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
        land_files(self.lake, load_spec(pipeline, self.settings.specs_dir), [path], say=lambda m: None)

    def raw_facts(self, dt: date) -> dict[str, int]:
        """What landed for a day: rows, rows of a full day, nulls in the unused sensor column, repeated keys."""
        spec = load_spec(PIPELINE, self.settings.specs_dir)
        raw = self.lake.read_partition("raw", PIPELINE, dt)
        keys = [*spec.data.keys, spec.data.timestamp]
        return {
            "rows": len(raw),
            "full_day": self.data.rows_per_day,
            "null_sensor": int(raw[SENSOR_COLUMN].isna().sum()) if SENSOR_COLUMN in raw else 0,
            "repeated_keys": int(raw.duplicated(keys).sum()),
        }

    # -- runs -------------------------------------------------------------------------------------
    def run_stage(self, day: DayPlan, stage: str, conf: dict) -> dict[str, str]:
        """One stage of the night for both pipelines at once (their runs share the scheduler and the
        executor's slots, as on a real night); the day's faults aimed at this stage hit while they go."""
        runs = {p: self.client.trigger(f"{p}_{stage}", conf=conf) for p in PIPELINES}
        dag_id = f"{PIPELINE}_{stage}"
        for fault in [f for f in day.faults if f.target == stage]:
            if fault.kind == "disk_full" and not self.limited:
                self.result.faults.append(FaultRecord(day.dt, fault, hit="skipped: needs a size-limited lake (root)"))
                continue
            record = inject(self.settings, self.client, day.dt, fault, dag_id, runs[PIPELINE])
            self.result.faults.append(record)
            self.say(f"  fault {fault.describe()}: {record.hit}; {record.recovery}")
        states = {
            p: self.client.wait_for_run(f"{p}_{stage}", run_id, timeout=1800, poll=1.0) for p, run_id in runs.items()
        }
        if any(f.kind == "disk_full" for f in day.faults if f.target == stage):  # the full disk hit every pipeline
            for p in PIPELINES:
                if states[p] == "failed" and clear_failed(self.client, f"{p}_{stage}", runs[p]):
                    states[p] = self.client.wait_for_run(f"{p}_{stage}", runs[p], timeout=1800)
        self.say(f"  {stage} {conf or ''}: " + ", ".join(f"{p} {s}" for p, s in states.items()))
        if stage == "drift":
            for p in PIPELINES:
                if states[p] == "success":
                    decision = self.client.xcom(f"{p}_drift", runs[p], "decide_retrain") or {}
                    self.say(f"    {p} retrain decision: {decision.get('outcome')}: {decision.get('reason', '')[:160]}")
        return states

    def rerun_features(self, day: DayPlan, what: str) -> None:
        run_id = self.client.trigger(f"{PIPELINE}_features", conf={"dt": day.dt.isoformat()})
        self.say(
            f"  {what}: {PIPELINE}_features {self.client.wait_for_run(f'{PIPELINE}_features', run_id, timeout=1800)}"
        )

    def operate(self, day: DayPlan) -> None:
        dt = day.dt.isoformat()
        if "late" not in day.events:
            self.land(self.day_frame(day), PIPELINE, day.dt)
        self.land(self.churn_day(day.dt), "churn", day.dt)  # the second shipped pipeline: clean days
        states = self.run_stage(day, "features", {"dt": dt})
        if "late" in day.events:  # the features run failed on the missing day; it lands, the run is cleared
            if states[PIPELINE] != "failed":
                raise AssertionError(f"{dt}: the features run was {states[PIPELINE]} before its data landed")
            self.land(self.day_frame(day), PIPELINE, day.dt)
            run_id = self.client.runs(f"{PIPELINE}_features")[0]["dag_run_id"]
            self.client.clear_task(f"{PIPELINE}_features", run_id, "gate_raw")
            self.say(
                f"  late day landed, gate_raw cleared: "
                f"{self.client.wait_for_run(f'{PIPELINE}_features', run_id, timeout=1800)}"
            )
        if "repeat" in day.events:  # the same file delivered again, and the day's features run again
            self.land(self.day_frame(day), PIPELINE, day.dt, delivery=2)
            self.rerun_features(day, "repeated delivery")
        if "messy" in day.events and self.lake.exists("raw", PIPELINE, day.dt):
            self.result.messy[day.dt] = self.raw_facts(day.dt)
        restart = next((f for f in day.faults if f.kind == "restart"), None)
        if restart is not None:
            record, self.client = restart_stack(self.settings, day.dt, restart, self.dags)
            self.result.faults.append(record)
            self.say(f"  fault restart: {record.recovery}")
        self.run_stage(day, "train", {"force": False})
        self.run_stage(day, "score", {"dt": dt})
        self.run_stage(day, "drift", {"dt": dt})
        self.wait_idle()

    def wait_idle(self, timeout: float = 3600) -> None:
        """Until no run of any pipeline DAG is queued or running (asset-triggered retrains included)."""
        wait_until(
            lambda: all(r["state"] in ("success", "failed") for d in self.dags for r in self.client.runs(d)),
            timeout,
            "every run to finish",
            every=2,
        )

    # -- the records ------------------------------------------------------------------------------
    def snapshot(self, day: DayPlan, pipeline: str, running_mlflow_runs: list[str]) -> Snapshot:
        """What the lake, MLflow and Airflow say about ``pipeline`` at the end of ``day`` (disk use
        for the whole home is counted once, with the first pipeline)."""
        snap = lake_facts(self.lake, pipeline, Snapshot(day=day.dt))
        client = tracking.connect(self.settings)
        snap.versions = {
            str(v.version): v.tags.get("airflow.run_id", "?")
            for v in client.search_model_versions(f"name='{registry.model_name(pipeline)}'")
        }
        train, drift = f"{pipeline}_train", f"{pipeline}_drift"
        snap.registering_runs = [
            t["dag_run_id"]
            for t in self.client.dag_task_instances(train, state="success")
            if t["task_id"] == "register"
        ]
        snap.running_mlflow_runs = running_mlflow_runs  # one query for the whole tracking server
        champion = registry.version_by_alias(client, pipeline, registry.CHAMPION)
        snap.champion = str(champion.version) if champion else None
        snap.audit = [
            {"from_version": r.get("from_version") or None, "to_version": r.get("to_version")}
            for r in history(self.settings, pipeline)
        ]
        snap.retrain_requests = sorted(
            datetime.fromisoformat(t["end_date"].replace("Z", "+00:00"))
            for t in self.client.dag_task_instances(drift, state="success")
            if t["task_id"] == "request_retrain" and t.get("end_date")
        )
        snap.stuck_tasks = []
        for dag_id in (f"{pipeline}_{s}" for s in STAGES):
            finished = {r["dag_run_id"] for r in self.client.runs(dag_id) if r["state"] in ("success", "failed")}
            snap.stuck_tasks += [
                f"{dag_id}/{t['dag_run_id']}/{t['task_id']}: {t['state']}"
                for t in self.client.dag_task_instances(dag_id, state=list(STUCK_STATES))
                if t["dag_run_id"] in finished
            ]
        if pipeline == PIPELINES[0]:
            home = self.settings.home
            snap.disk_bytes = {
                "logs": _du(home / "logs"),
                "lake": _du(lake_dir(self.settings)),
                "mlflow": _du(home / "mlflow"),
                "airflow_db": _du(self.settings.airflow_home),
            }
        return snap

    def running_mlflow_runs(self) -> list[str]:
        client = tracking.connect(self.settings)
        experiments = [e.experiment_id for e in client.search_experiments()]
        runs = client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'", max_results=1000)
        return [
            f"{r.info.run_id} ({r.info.run_name}, parent {r.data.tags.get('mlflow.parentRunId', '-')})" for r in runs
        ]

    def expected(self, upto: date, pipeline: str) -> tuple[list[date], list[date], list[date]]:
        """Good days (published), bad days (quarantined), scored days of ``pipeline``, as far as ``upto``.
        The plan's data events hit the demand pipeline; churn lands clean days."""
        from ml_tasks.features.columns import lookback_days

        # the seeded history has features only where a full look-back exists
        history_days = [d for d in self.data.dates if d < self.plan.days[0].dt]
        history_days = history_days[lookback_days(load_spec(pipeline, self.settings.specs_dir)) :]
        days = [d for d in self.plan.days if d.dt <= upto]
        good = [d.dt for d in days if d.lands_good_data or pipeline != PIPELINE]
        return history_days + good, [d.dt for d in days if d.dt not in good], good

    # -- the whole run ----------------------------------------------------------------------------
    def start(self) -> None:
        self.limited = limited_lake(self.settings, LAKE_MB, say=self.say)
        self.seed()
        self.start_stack()
        self.say(f"stack up, first scheduled runs done; champion v{self.champion()}")

    def seed(self) -> None:
        """The history before the plan's first day: raw days landed and features built, both pipelines."""
        end = self.plan.days[0].dt - timedelta(days=1)
        seed_demo(self.settings, SIZE, end=end, leave_unbuilt=0, say=lambda m: None)
        seed_churn(
            self.settings, customers=CHURN_CUSTOMERS, days=SIZE.days, end=end, leave_unbuilt=0, say=lambda m: None
        )

    def start_stack(self, manual: tuple[str, ...] = ()) -> None:
        """`conveyor up`, the pipeline DAGs (and the ``manual`` ones) unpaused, their first scheduled runs done."""
        lifecycle.up(self.settings, say=lambda m: None)
        self.client = AirflowClient(
            self.settings.airflow_url, self.settings.airflow_user, environment.airflow_password(self.settings)
        )
        self.client.wait_for_dags(self.dags)
        for dag_id in [*self.dags, *manual]:
            self.client.set_paused(dag_id, False)
        time.sleep(10)  # the scheduler makes the latest scheduled runs on its next loops
        self.wait_idle()

    def more_invariants(self, day: DayPlan, pipeline: str, snap: Snapshot) -> list[Invariant]:
        """What a deployment's own soak checks beyond :func:`check` (none on the embedded stack)."""
        return []

    def champion(self) -> str | None:
        version = registry.version_by_alias(tracking.connect(self.settings), PIPELINE, registry.CHAMPION)
        return str(version.version) if version else None

    def run(self) -> SoakResult:
        t0 = time.monotonic()
        self.say(self.plan.table())
        try:
            self.start()
            previous: dict[str, Snapshot] = {}
            for day in self.plan.days:
                self.say(
                    f"day {day.index + 1}/{len(self.plan.days)} {day.dt}: {', '.join(day.events) or 'clean'}"
                    f"{'; faults: ' + '; '.join(f.describe() for f in day.faults) if day.faults else ''}"
                )
                self.operate(day)
                running = self.running_mlflow_runs()
                for pipeline in PIPELINES:
                    snap = self.snapshot(day, pipeline, running)
                    good, bad, scored = self.expected(day.dt, pipeline)
                    spec = load_spec(pipeline, self.settings.specs_dir)
                    invariants = check_invariants(
                        snap, good, bad, scored, timedelta(hours=spec.drift.cooldown_hours), previous.get(pipeline)
                    ) + self.more_invariants(day, pipeline, snap)
                    self.result.rows.append((f"{day.dt} {pipeline}", invariants))
                    previous[pipeline] = snap
                    broken = [i for i in invariants if not i.held]
                    self.say(
                        f"  {pipeline} invariants: "
                        + ("all hold" if not broken else "; ".join(f"{i.name}: {i.detail}" for i in broken))
                    )
                self.result.snapshots.append(previous[PIPELINE])
                self.result.champions.append(previous[PIPELINE].champion)
            self.result.fingerprint = lake_fingerprint(self.lake, PIPELINES)
            self.result.retrains = {
                p: sum(r["run_type"] == "asset_triggered" for r in self.client.runs(f"{p}_train")) for p in PIPELINES
            }
        finally:
            lifecycle.down(self.settings, say=lambda m: None)
            if self.limited:
                release_lake(self.settings)
        self.result.seconds = time.monotonic() - t0
        return self.result


def _du(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> int:
    """`make soak`: operate both pipelines for DAYS data days on a fresh embedded stack; check every invariant."""
    import argparse
    import shutil

    from ml_tasks.core.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m soak.embedded", description=main.__doc__)
    parser.add_argument(
        "--days", type=int, default=30, help="data days to operate (at least 3); the plan ends yesterday"
    )
    parser.add_argument("--seed", type=int, default=7, help="the plan's seed: the same seed gives the same month")
    parser.add_argument("--plan-only", action="store_true", help="print the seeded plan and stop")
    args = parser.parse_args(argv)
    plan = plan_ending_yesterday(args.seed, args.days)
    if args.plan_only:
        print(plan.table())
        return 0
    home = load_settings().home / f"soak-{args.seed}-{args.days}d"
    shutil.rmtree(home, ignore_errors=True)
    result = Soak(soak_settings(home), plan, say=lambda m: print(m, flush=True)).run()
    text = summary(result)
    (home / "soak-summary.md").write_text(text + "\n")
    print("\n" + text + f"\n\n(also in {home / 'soak-summary.md'})")
    return 0 if result.held else 1


if __name__ == "__main__":
    raise SystemExit(main())
