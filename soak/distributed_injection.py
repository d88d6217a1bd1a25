"""Doing each fault of :mod:`soak.distributed_faults` to the running deployment, and seeing it recover.

:meth:`Injector.arm` prepares the faults that must be in place before a stage's runs start (crash
points, a stopped receiver); :meth:`Injector.during` does the ones that hit a running task;
:meth:`Injector.between` the ones done between two stages; :meth:`Injector.recover` waits for
the stage's runs, does what an operator would when one failed, and times the recovery.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from ml_tasks.core import failpoints, tracking
from ml_tasks.platform.stack import lifecycle
from ml_tasks.registry import client as registry
from soak.distributed_faults import Fault, FaultRecord, flip_bytes, kill_group, running_task, settle, task_log_text
from soak.plan import DayPlan

POINTS = {"kill_publish": "lake.object_copy", "kill_promote": f"registry.alias_moved.{registry.CHAMPION}"}
REFUSED_FILE = "its sha256 is not the one in the day's manifest"
REFUSED_MODEL = "do not match the sha256 recorded at registration"


class Injector:
    def __init__(self, soak, db, s3, receiver) -> None:
        self.soak, self.db, self.s3, self.receiver = soak, db, s3, receiver
        self.fault_versions: list[str] = []
        self._t0: dict[int, float] = {}

    @property
    def client(self):
        return self.soak.client

    @property
    def settings(self):
        return self.soak.settings

    # -- before a stage's runs ----------------------------------------------------------------------
    def arm(self, day: DayPlan, fault: Fault) -> FaultRecord | None:
        """Put an armed fault in place and return its record; None for a fault done during the runs."""
        record = FaultRecord(day.dt, fault)
        if fault.kind in POINTS:
            on_hit = 1 + int(fault.at_fraction * 2) if fault.kind == "kill_publish" else 1
            failpoints.arm(self.soak.failpoints, POINTS[fault.kind], on_hit)
            record.hit = f"crash point {POINTS[fault.kind]} armed (hit {on_hit})"
        elif fault.kind == "webhook_down":
            self.receiver.stop()
            record.hit = "the alert receiver stopped for the whole stage"
        else:
            return None
        self._t0[id(record)] = time.monotonic()
        return record

    # -- while a run goes ---------------------------------------------------------------------------
    def during(self, day: DayPlan, fault: Fault, dag_id: str, run_id: str) -> FaultRecord:
        record = FaultRecord(day.dt, fault)
        only = ("train_lightning",) if fault.kind == "kill_worker" else ()
        task = running_task(self.client, dag_id, run_id, only)
        if task is None:
            record.hit = f"nothing: {dag_id} finished before the fault could hit"
            return record
        time.sleep(fault.at_fraction * 10)  # a seeded point inside the task
        self._t0[id(record)] = time.monotonic()
        if fault.kind == "kill_worker":
            pid = lifecycle.running(self.settings)["worker-gpu"]
            kill_group(pid)
            record.hit = f"kill -9 of the gpu Celery worker (pid {pid}) while {dag_id}.{task['task_id']} ran"
        elif fault.kind == "restart_postgres":
            self.db.restart_postgres()
            record.hit = f"PostgreSQL restarted (-m immediate) while {dag_id}.{task['task_id']} ran"
        elif fault.kind == "s3_outage":
            seconds = round(45 + fault.at_fraction * 75)
            self.s3.cut()
            time.sleep(seconds)
            self.s3.restore()
            record.hit = f"S3 unreachable for {seconds}s from {dag_id}.{task['task_id']} on"
        return record

    def recover(self, record: FaultRecord, stage: str, runs: dict[str, str]) -> None:
        """Wait for the stage's runs (clearing failed tasks once the cause is gone); time the recovery."""
        fault = record.fault
        cleared = []
        for pipeline, run_id in runs.items():
            state, again = settle(self.client, f"{pipeline}_{stage}", run_id)
            cleared += [f"{pipeline}_{stage}.{t}" for t in again]
            if state != "success":
                record.recovery = f"{pipeline}_{stage} {state} after clearing {again}"
                self._finish_armed(record)
                return
        self._finish_armed(record)
        t0 = self._t0.get(id(record))
        if t0 is None:
            return
        record.seconds = time.monotonic() - t0
        retried = self._retried(stage, runs)
        how = (
            f"cleared {', '.join(cleared)} once the cause was gone"
            if cleared
            else f"Airflow's retries in this stage: {', '.join(retried)}"
            if retried
            else "no task failed"
        )
        if fault.kind == "webhook_down":
            how = f"no task failed for it ({len(retried)} retried for other faults of the stage)"
        record.recovery = f"{how}; the {stage} runs succeeded {record.seconds:.0f}s after the fault" + record.recovery

    def _finish_armed(self, record: FaultRecord) -> None:
        kind = record.fault.kind
        if kind in POINTS:
            name = POINTS[kind]
            if failpoints.disarm(self.soak.failpoints, name):
                record.hit = f"nothing: no process reached {name} in this stage"
                return
            pids = failpoints.hits(self.soak.failpoints, name)
            record.hit = f"SIGKILL at {name} of pid {pids[-1]}" if pids else record.hit
            fired = failpoints.fired_at(self.soak.failpoints, name)
            if fired is not None:  # the recovery is timed from the kill, not from the arming
                self._t0[id(record)] = time.monotonic() - (time.time() - fired)
            if kind == "kill_promote":
                open_moves = [m for m in self._history() if m.get("state") == "intended"]
                record.recovery = (
                    " (the retry's alias move completed the open audit record)"
                    if not open_moves
                    else f" ({len(open_moves)} audit record(s) still open)"
                )
        elif kind == "webhook_down":
            self.receiver.start()
            record.recovery = " (the receiver is back; alerts sent while it was away were logged as not delivered)"

    def _retried(self, stage: str, runs: dict[str, str]) -> list[str]:
        return [
            f"{p}_{stage}.{t['task_id']}"
            for p, r in runs.items()
            for t in self.client.task_instances(f"{p}_{stage}", r)
            if (t.get("try_number") or 1) > 1
        ]

    def _history(self) -> list[dict]:
        from ml_tasks.registry.audit import history

        return [m for p in ("demand", "churn") for m in history(self.settings, p, alias=None)]

    # -- between two stages -------------------------------------------------------------------------
    def between(self, day: DayPlan, fault: Fault) -> FaultRecord:
        if fault.kind == "corrupt_features":
            return self.corrupt_features(day, fault)
        return self.truncated_challenger(day, fault)

    def corrupt_features(self, day: DayPlan, fault: Fault) -> FaultRecord:
        """Flip bytes of the newest features file of demand; its training must refuse it by name; then the
        day is published again (a features run for it) and the failed training cleared."""
        record = FaultRecord(day.dt, fault)
        lake, pipeline = self.soak.lake, "demand"
        path = lake.data_files(lake.partition("features", pipeline, day.dt))
        target = sorted(path)[0]
        at = flip_bytes(lake.fs, target, int(fault.at_fraction * 100))
        t0 = time.monotonic()
        record.hit = f"64 bytes flipped at offset {at} of {target.rsplit('/', 3)[-2]}/{target.rsplit('/', 1)[-1]}"
        run_id = self.client.trigger(f"{pipeline}_train", conf={"force": False})
        state = self.client.wait_for_run(f"{pipeline}_train", run_id, timeout=1800, poll=1.0)
        refused = REFUSED_FILE in task_log_text(self.settings.home, f"{pipeline}_train", run_id, "plan")
        record.refused = state == "failed" and refused
        republish = self.client.trigger(f"{pipeline}_features", conf={"dt": day.dt.isoformat()})
        published = self.client.wait_for_run(f"{pipeline}_features", republish, timeout=1800, poll=1.0)
        state, cleared = settle(self.client, f"{pipeline}_train", run_id, rounds=1)
        record.seconds = time.monotonic() - t0 if state == "success" else None
        record.recovery = (
            f"training {'refused the file by name' if refused else 'DID NOT refuse the file'} "
            f"({'run failed' if record.refused else 'run ' + state}); features run {published}, "
            f"{', '.join(cleared) or 'nothing'} cleared; training {state}"
        )
        return record

    def truncated_challenger(self, day: DayPlan, fault: Fault) -> FaultRecord:
        """A copy of the champion registered with its whole files' digest, then cut to half in the store
        (an upload cut short) and made `@challenger`; a rollback to it must be refused with an alert."""
        import boto3
        import mlflow

        from ml_tasks.registry.artifacts import download_version, record_digest
        from ml_tasks.registry.audit import AliasMove, move_alias
        from soak.distributed import FAULT_TAG

        record = FaultRecord(day.dt, fault)
        pipeline, settings = "demand", self.settings
        client = tracking.connect(settings)
        name = registry.model_name(pipeline)
        champion = registry.version_by_alias(client, pipeline, registry.CHAMPION)
        with tempfile.TemporaryDirectory() as tmp:
            local = download_version(settings, pipeline, champion.version, Path(tmp))
            experiment_id = client.get_run(champion.run_id).info.experiment_id
            with mlflow.start_run(experiment_id=experiment_id, run_name="soak: a cut-short upload") as run:
                mlflow.log_artifacts(str(local), artifact_path="model")
        version = client.create_model_version(
            name, f"{run.info.artifact_uri}/model", run.info.run_id, tags={FAULT_TAG: "truncated_challenger"}
        ).version
        record_digest(settings, pipeline, version)
        s3 = boto3.client("s3", endpoint_url=settings.s3_endpoint_url)
        keys = [
            o
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket="conveyor-artifacts", Prefix="mlflow/")
            for o in page.get("Contents", [])
            if run.info.run_id in o["Key"] and "/model/" in o["Key"]
        ]
        biggest = max(keys, key=lambda o: o["Size"])
        body = s3.get_object(Bucket="conveyor-artifacts", Key=biggest["Key"])["Body"].read()
        s3.put_object(Bucket="conveyor-artifacts", Key=biggest["Key"], Body=body[: len(body) // 2])
        current = registry.version_by_alias(client, pipeline, registry.CHALLENGER)
        move_alias(
            client,
            AliasMove(
                pipeline,
                registry.CHALLENGER,
                str(current.version) if current else None,
                str(version),
                "soak: a cut-short upload",
                {"kind": "fault"},
            ),
            settings=settings,
        )
        self.fault_versions.append(str(version))
        record.hit = (
            f"v{version} registered, {biggest['Key'].rsplit('/', 1)[-1]} cut to {len(body) // 2} of "
            f"{len(body)} bytes in the store, @challenger -> v{version}"
        )
        t0 = time.monotonic()
        alerts_before = len(self.receiver.received)
        run_id = self.client.trigger(
            f"{pipeline}_rollback", conf={"to_version": str(version), "reason": "soak: try the cut-short version"}
        )
        state = self.client.wait_for_run(f"{pipeline}_rollback", run_id, timeout=600, poll=1.0)
        refused = REFUSED_MODEL in task_log_text(settings.home, f"{pipeline}_rollback", run_id, "rollback")
        after = registry.version_by_alias(client, pipeline, registry.CHAMPION)
        alerted = [a for a in self.receiver.received[alerts_before:] if a.get("event") == "model_unverified"]
        record.refused = state == "failed" and refused and str(after.version) == str(champion.version) and bool(alerted)
        record.seconds = time.monotonic() - t0
        record.recovery = (
            f"rollback to v{version} {state}{' (refused: digest mismatch)' if refused else ''}; "
            f"@champion stays v{after.version}; {len(alerted)} model_unverified alert(s)"
        )
        return record
