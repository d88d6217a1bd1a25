"""The whole loop through Airflow's scheduler, and what orchestration adds to it.

An embedded stack on free loopback ports runs one run of each demand DAG in order (features
for yesterday, nightly training, scoring, the drift check). From Airflow's own records (the
REST API's DAG runs and task instances) it reports, per run and in total: the run's wall time,
the time some task was actually running (the union of the task instances' start..end
intervals) and the difference, orchestration overhead: scheduling, queueing, process start-up
between tasks. The peer is the tasks' own compute time, measured by Airflow in the same runs.

Results go to ``bench/results-loop.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import free_port  # noqa: E402
from ml_tasks.core.polling import WaitTimeout, wait_until  # noqa: E402
from ml_tasks.core.settings import load_settings  # noqa: E402
from ml_tasks.demo.seed import DemoSize, seed_demo  # noqa: E402
from ml_tasks.platform.airflow_api.client import AirflowClient  # noqa: E402
from ml_tasks.platform.stack import environment, lifecycle  # noqa: E402

DAGS = ["demand_features", "demand_train", "demand_score", "demand_drift"]


def _t(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def busy_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of [start, end] intervals: time at least one task was running."""
    total, end = 0.0, None
    for a, b in sorted(intervals):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def run_and_measure(client: AirflowClient, dag_id: str, timeout: float = 1200) -> dict:
    """Unpause ``dag_id`` (its latest scheduled tick runs), wait for the run, read its records."""
    client.set_paused(dag_id, False)

    def finished() -> list[dict] | None:
        runs = client.runs(dag_id)
        return runs if runs and all(r["state"] in ("success", "failed") for r in runs) else None

    try:
        runs = wait_until(finished, timeout, f"a finished {dag_id} run", every=3)
    except WaitTimeout as exc:
        raise SystemExit(f"{exc}: {client.runs(dag_id)}") from None
    client.set_paused(dag_id, True)
    run = runs[0]
    if run["state"] != "success":
        raise SystemExit(
            f"{dag_id} run {run['dag_run_id']} ended {run['state']}: {client.task_states(dag_id, run['dag_run_id'])}"
        )
    tis = [t for t in client.task_instances(dag_id, run["dag_run_id"]) if t.get("start_date") and t.get("end_date")]
    intervals = [(_t(t["start_date"]), _t(t["end_date"])) for t in tis]
    wall = _t(run["end_date"]) - _t(run["start_date"])
    busy = busy_seconds(intervals)
    # where the overhead goes: a queued task waiting for its process (fork, the Task SDK's start
    # call to the api-server) vs a ready task waiting for the scheduler to queue it
    starting = [_t(t["start_date"]) - _t(t["queued_when"]) for t in tis if t.get("queued_when")]
    return {
        "run_id": run["dag_run_id"],
        "tasks": len(tis),
        "wall_s": round(wall, 2),
        "busy_s": round(busy, 2),
        "task_seconds_sum": round(sum(b - a for a, b in intervals), 2),
        "overhead_s": round(wall - busy, 2),
        "overhead_share": round((wall - busy) / wall, 3),
        "queued_to_start_s": round(sum(starting), 2),
        "run_end_after_last_task_s": round(_t(run["end_date"]) - max(b for _, b in intervals), 2),
        "per_task": {
            t["task_id"]: {
                "queued_to_start_s": round(_t(t["start_date"]) - _t(t["queued_when"]), 2)
                if t.get("queued_when")
                else None,
                "ran_s": round(_t(t["end_date"]) - _t(t["start_date"]), 2),
                # seconds after the run started: when it was queued, started, ended
                "at": [
                    round(_t(t[k]) - _t(run["start_date"]), 2) if t.get(k) else None
                    for k in ("queued_when", "start_date", "end_date")
                ],
                "state": t["state"],
            }
            for t in tis
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results-loop.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-loop-") as tmp:
        settings = load_settings(home=Path(tmp), airflow_port=free_port(), mlflow_port=free_port())
        print("seeding 30 days of demand data (3 stores x 8 items), features for all but yesterday ...", flush=True)
        seed_demo(settings, DemoSize(stores=3, items=8, days=30), leave_unbuilt=1, say=lambda m: None)
        lifecycle.up(settings, say=print)
        try:
            client = AirflowClient(settings.airflow_url, settings.airflow_user, environment.airflow_password(settings))
            client.wait_for_dags(DAGS)
            runs = {}
            for dag_id in DAGS:
                runs[dag_id] = run_and_measure(client, dag_id)
                r = runs[dag_id]
                print(
                    f"{dag_id}: wall {r['wall_s']}s, a task running {r['busy_s']}s, overhead {r['overhead_s']}s "
                    f"({r['overhead_share']:.0%}) over {r['tasks']} tasks, of which queued to started "
                    f"{r['queued_to_start_s']}s",
                    flush=True,
                )
        finally:
            lifecycle.down(settings, say=lambda m: None)
    wall = sum(r["wall_s"] for r in runs.values())
    busy = sum(r["busy_s"] for r in runs.values())
    result = {
        "date": date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores",
        "executor": "LocalExecutor",
        "runs": runs,
        "loop_wall_s": round(wall, 2),
        "loop_busy_s": round(busy, 2),
        "orchestration_overhead_s": round(wall - busy, 2),
        "overhead_share": round((wall - busy) / wall, 3),
        "wall_over_busy": round(wall / busy, 2),
    }
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(
        f"loop: {wall:.1f}s wall, {busy:.1f}s with a task running, overhead {wall - busy:.1f}s "
        f"({(wall - busy) / wall:.0%}); results written to {args.out}"
    )


if __name__ == "__main__":
    main()
