"""`make soak-distributed DAYS=N`: both pipelines on the distributed deployment, night after night, with its faults.

The deployment the compose file and the Helm chart run, on loopback: Airflow's CeleryExecutor with
two workers (queues ``default`` and ``gpu``), PostgreSQL 15 for Airflow's metadata and MLflow's
backend, Redis as the broker, a Spark standalone cluster (a master, two workers) for the feature
jobs, and an S3 API (moto's server, behind a link a fault can cut) holding the lake and MLflow's
artifacts. The nights are those of `make soak` (:mod:`soak.embedded`): the day's raw
files land, then each pipeline's features, training, scoring and drift runs go through the
scheduler; the faults are this deployment's (:mod:`soak.distributed_faults`), each at a moment
the seed chooses. After every day the embedded soak's invariants are checked, and these:

- no reader ever saw part of a day (a probe lists and checks every published day all along);
- every alias move has its completed audit record (no intent left open);
- a corrupt file or model artifact is refused loudly and never used or served;
- every fault recovered, and how long it took;
- training's Lightning task ran on the ``gpu`` worker, everything else on ``default``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from ml_tasks.core import tracking
from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import ConveyorSettings, load_settings
from ml_tasks.demo.seed import yesterday
from ml_tasks.platform.stack import environment
from ml_tasks.registry import client as registry
from ml_tasks.registry.audit import INTENDED, history
from soak import services
from soak.distributed_faults import FaultRecord, make_plan
from soak.distributed_injection import Injector
from soak.embedded import Soak
from soak.invariants import Invariant, Snapshot
from soak.plan import PIPELINE, PIPELINES, DayPlan, SoakPlan
from soak.reader_probe import ReaderProbe
from soak.report import SoakResult
from soak.settings import soak_specs
from soak.spark_cluster import SparkCluster, spark_cluster

FAULT_TAG = "soak.fault"  # on a model version a fault made (not a training run's)


def distributed_settings(
    home: Path,
    db: services.Services,
    s3: services.Link,
    cluster: SparkCluster,
    receiver: services.AlertReceiver,
) -> ConveyorSettings:
    shipped = load_settings().specs_dir
    return load_settings(
        home=home,
        airflow_port=environment.free_port(),
        mlflow_port=environment.free_port(),
        mode="compose",
        airflow_db_uri=db.database_uri("airflow"),
        mlflow_backend_store_uri=db.database_uri("mlflow"),
        celery_broker_url=db.broker_url,
        celery_queues="default,gpu",
        lake_uri="s3://conveyor-lake/lake",
        mlflow_artifacts_dir="s3://conveyor-artifacts/mlflow",
        s3_endpoint_url=s3.url,
        spark_master=cluster.master_url,
        alert_webhook_url=receiver.url,
        task_retry_delay_seconds=10,
        specs_dir=soak_specs(shipped, home / "specs"),
        failpoints_dir=str(home / "failpoints"),
    )


# Airflow's own settings for the compressed nights: a task whose worker died is failed (and retried)
# after 30 s without a heartbeat (six missed beats of 5 s) instead of 5 minutes, looked for every 5 s.
STACK_ENV = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "PYSPARK_PYTHON": sys.executable,
    **services.S3_CREDENTIALS,
}


class DistributedSoak(Soak):
    def __init__(
        self,
        settings: ConveyorSettings,
        plan: SoakPlan,
        faults: list[list],
        db: services.Services,
        s3: services.Link,
        receiver: services.AlertReceiver,
        say=print,
    ) -> None:
        super().__init__(settings, plan, say)
        self.faults = faults
        self.injector = Injector(self, db, s3, receiver)
        self.probe = ReaderProbe(
            Lake.from_settings(settings), [(z, p) for z in ("raw", "features", "predictions") for p in PIPELINES]
        )
        self.records: list[FaultRecord] = []

    @property
    def failpoints(self) -> Path:
        return Path(self.settings.failpoints_dir)

    def start(self) -> None:
        self.seed()
        from pyspark.sql import SparkSession

        seeding = SparkSession.getActiveSession()
        if seeding is not None:  # it holds the cluster's cores, which the nights' feature jobs need
            seeding.stop()
        # the rollback DAGs have no schedule: a fault triggers them
        self.start_stack(manual=tuple(f"{p}_rollback" for p in PIPELINES))
        self.probe.start()
        self.say(f"distributed stack up, first scheduled runs done; champion v{self.champion()}")

    def operate(self, day: DayPlan) -> None:
        faults = self.faults[day.index]
        dt = day.dt.isoformat()
        self.land(self.day_frame(day), PIPELINE, day.dt)
        self.land(self.churn_day(day.dt), "churn", day.dt)
        self.night_stage(day, faults, "features", {"dt": dt})
        for fault in [f for f in faults if f.target == "before_train"]:
            self.note(self.injector.between(day, fault))
        force = any(f.kind == "kill_promote" for f in faults)  # the gate promotes this night's model
        self.night_stage(day, faults, "train", {"force": False}, {PIPELINE: {"force": force}})
        for fault in [f for f in faults if f.target == "after_train"]:
            self.note(self.injector.between(day, fault))
        self.night_stage(day, faults, "score", {"dt": dt})
        self.night_stage(day, faults, "drift", {"dt": dt})
        self.wait_idle()

    def note(self, record: FaultRecord) -> None:
        self.records.append(record)
        self.say(f"  fault {record.fault.describe()}: {record.hit}; {record.recovery}")

    def night_stage(self, day: DayPlan, faults: list, stage: str, conf: dict, per_pipeline: dict | None = None) -> None:
        mine = [f for f in faults if f.target == stage]
        armed = [self.injector.arm(day, f) for f in mine]  # crash points and a stopped receiver, before the runs
        runs = {
            p: self.client.trigger(f"{p}_{stage}", conf={**conf, **(per_pipeline or {}).get(p, {})}) for p in PIPELINES
        }
        records = [
            record or self.injector.during(day, fault, f"{PIPELINE}_{stage}", runs[PIPELINE])
            for fault, record in zip(mine, armed, strict=True)
        ]  # the faults done to a running task, in turn
        for record in records:
            self.injector.recover(record, stage, runs)
            self.note(record)
        states = {p: self.client.wait_for_run(f"{p}_{stage}", r, timeout=1800, poll=1.0) for p, r in runs.items()}
        self.say(f"  {stage}: " + ", ".join(f"{p} {s}" for p, s in states.items()))

    def snapshot(self, day: DayPlan, pipeline: str, running_mlflow_runs: list[str]) -> Snapshot:
        snap = super().snapshot(day, pipeline, running_mlflow_runs)
        client = tracking.connect(self.settings)
        made = {
            str(v.version)
            for v in client.search_model_versions(f"name='{registry.model_name(pipeline)}'")
            if FAULT_TAG in v.tags
        }
        snap.versions = {v: r for v, r in snap.versions.items() if v not in made}
        if pipeline == PIPELINES[0]:
            fs = self.lake.fs
            snap.disk_bytes = {
                "logs": _du_local(self.settings.home / "logs"),
                "lake (S3)": fs.du("conveyor-lake/lake"),
                "mlflow artifacts (S3)": fs.du("conveyor-artifacts/mlflow"),
            }
        return snap

    def more_invariants(self, day: DayPlan, pipeline: str, snap: Snapshot) -> list[Invariant]:
        moves = history(self.settings, pipeline, alias=None)
        open_moves = [
            f"{m.get('alias')} v{m.get('from_version')} -> v{m.get('to_version')}"
            for m in moves
            if m.get("state") == INTENDED
        ]
        out = [
            Invariant(
                "every alias move has its completed record",
                not open_moves,
                "; ".join(open_moves) or f"{len(moves)} record(s), none open",
            )
        ]
        if pipeline != PIPELINE:
            return out
        partial = self.probe.take_partial()
        out.append(
            Invariant(
                "no reader saw part of a day",
                not partial,
                "; ".join(partial[:5])
                or f"{self.probe.checks} day checks by the probe so far, {self.probe.unreachable} while "
                "S3 was unreachable",
            )
        )
        today = [r for r in self.records if r.day == day.dt]
        loud = [f"{r.fault.kind}: {r.recovery}" for r in today if r.refused is False]
        fault_versions = {v for v in self.injector.fault_versions}
        if snap.champion in fault_versions:
            loud.append(f"@champion is v{snap.champion}, a corrupt version")
        out.append(
            Invariant(
                "a corrupt file or artifact is refused loudly, never used",
                not loud,
                "; ".join(loud) or f"{sum(r.refused is True for r in today)} refused today",
            )
        )
        stuck = [f"{r.fault.kind}: {r.recovery}" for r in today if r.landed and r.seconds is None]
        out.append(
            Invariant(
                "every fault recovered",
                not stuck,
                "; ".join(stuck)
                or ", ".join(f"{r.fault.kind} {r.seconds:.0f}s" for r in today if r.seconds is not None)
                or "no fault today",
            )
        )
        out.append(self.routing())
        return out

    def routing(self) -> Invariant:
        """Where tasks ran, from Airflow's task records: Lightning on the gpu worker, the rest on default."""
        wrong, counted = [], 0
        for dag_id in self.dags:
            for ti in self.client.dag_task_instances(dag_id, state="success"):
                if not ti.get("hostname"):
                    continue
                counted += 1
                queue = "gpu" if ti["task_id"] == "train_lightning" else "default"
                if ti["queue"] != queue or not ti["hostname"].endswith(f"-{queue}"):
                    wrong.append(f"{dag_id}.{ti['task_id']} on {ti['queue']}/{ti['hostname']}")
                if ti["task_id"] in ("promote", "rollback") and ti["pool"] != "conveyor_registry":
                    wrong.append(f"{dag_id}.{ti['task_id']} in pool {ti['pool']}")
        return Invariant(
            "Lightning trained on the gpu worker, every other task on default; alias moves in the registry pool",
            not wrong,
            "; ".join(wrong[:5]) or f"{counted} task runs",
        )

    def run(self) -> SoakResult:
        try:
            return super().run()
        finally:
            self.probe.stop()


def _du_local(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def distributed_plan(seed: int, days: int) -> SoakPlan:
    """Clean data days ending yesterday (the embedded soak covers bad, late and messy data); the faults
    come from :func:`soak.distributed_faults.make_plan`."""
    end = yesterday()
    return SoakPlan(seed, tuple(DayPlan(i, end - timedelta(days=days - 1 - i)) for i in range(days)))


def run_distributed(days: int, seed: int, work: Path, say=print) -> tuple[SoakResult, list[FaultRecord]]:
    """Start every service on loopback, run the soak, stop them all; the result and the fault records."""
    plan, faults = distributed_plan(seed, days), make_plan(seed, days)
    saved = {k: os.environ.get(k) for k in STACK_ENV}
    os.environ.update(STACK_ENV)
    try:
        with ExitStack() as started:
            db = started.enter_context(services.postgres_and_redis(("airflow", "mlflow")))
            s3 = started.enter_context(services.s3_server(work))
            cluster = started.enter_context(spark_cluster(work / "spark"))
            receiver = started.enter_context(services.AlertReceiver())
            settings = distributed_settings(work / "home", db, s3, cluster, receiver)
            failpoints_dir = Path(settings.failpoints_dir)
            failpoints_dir.mkdir(parents=True, exist_ok=True)
            say(fault_table(plan, faults))
            soak = DistributedSoak(settings, plan, faults, db, s3, receiver, say=say)
            result = soak.run()
            return result, soak.records
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def fault_table(plan: SoakPlan, faults: list[list]) -> str:
    lines = [
        f"distributed soak plan, seed {plan.seed}: {len(plan.days)} days, {sum(map(len, faults))} faults",
        "",
        "| day | dt | faults |",
        "|---|---|---|",
    ]
    lines += [
        f"| {d.index + 1} | {d.dt} | {'; '.join(f.describe() for f in faults[d.index]) or '-'} |" for d in plan.days
    ]
    return "\n".join(lines)


def summary(result: SoakResult, records: list[FaultRecord]) -> str:
    from soak.invariants import table

    held = result.held and all(r.refused is not False for r in records)
    lines = [table(result.rows), "", "| day | fault | what it hit | recovery | seconds |", "|---|---|---|---|---|"]
    lines += [
        f"| {r.day} | {r.fault.describe()} | {r.hit} | {r.recovery} | "
        f"{'-' if r.seconds is None else f'{r.seconds:.0f}'} |"
        for r in records
    ]
    kinds = sorted({r.fault.kind for r in records if r.landed})
    lines += [
        "",
        f"{len(result.rows) // len(PIPELINES)}/{len(result.plan.days)} days, "
        f"{sum(r.landed for r in records)} faults landed ({len(kinds)} kinds: {', '.join(kinds)}), "
        f"{'every invariant held' if held else 'INVARIANTS BROKEN'}, {result.seconds / 60:.1f} min",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="soak-distributed", description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=None, help="a folder for the run (default: a new temp folder)")
    parser.add_argument("--plan-only", action="store_true", help="print the seeded faults and stop")
    args = parser.parse_args(argv)
    if args.plan_only:
        print(fault_table(distributed_plan(args.seed, args.days), make_plan(args.seed, args.days)))
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="conveyor-soak-distributed-"))
    work.mkdir(parents=True, exist_ok=True)
    result, records = run_distributed(args.days, args.seed, work)
    report = summary(result, records)
    print(report)
    (work / "summary.md").write_text(report + "\n")
    print(f"summary: {work / 'summary.md'}")
    return 0 if result.held and all(r.refused is not False for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
