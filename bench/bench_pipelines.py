"""Benchmark: does the platform slow down as data engineers add pipelines? 1, 10 and 50 of them.

Run with ``make bench-pipelines``. For each count it scaffolds that many pipelines with
`conveyor new-pipeline`'s own code (``NewPipeline``: spec, suites, the three-line DAG file, five
DAGs each) into a fresh project folder, starts the embedded stack on it and measures

- the dag-processor's time to parse them all: from the stack's start until Airflow's REST API
  lists every DAG (the live dag-processor, one parsing process as the embedded stack runs it),
  and the sum of the files' parse times as Airflow's ``DagBag`` reports them in a fresh process;
- the delay from a trigger to the first task's start: a run of the first pipeline's rollback DAG
  triggered through the REST API, from the POST to the first task instance's ``start_date``
  (median of 5; the run is then marked failed through the API, there being no model to roll back to).

Results go to ``bench/results-pipelines.json``; the table shows how each figure grows with the count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.harness import free_port, say  # noqa: E402

COUNTS = (1, 10, 50)
TRIGGERS = 5
PARSE = """import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
print(json.dumps({"seconds": sum(s.duration.total_seconds() for s in bag.dagbag_stats), "files": len(bag.dagbag_stats),
                  "dags": len(bag.dags), "errors": len(bag.import_errors)}))
"""


def scaffold(root: Path, count: int) -> None:
    from ml_tasks.platform.scaffold.pipeline import NewPipeline

    (root / "dags").mkdir(parents=True)
    (root / "dags" / "conveyor_factory").symlink_to(ROOT / "dags" / "conveyor_factory")
    for i in range(count):
        NewPipeline(f"p{i:03d}", "regression", ["store_id", "item_id"], "ts", "units", root=root).write()


def dagbag_seconds(settings) -> dict:
    from ml_tasks.platform.stack.environment import stack_env

    env = {**stack_env(settings), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", PARSE, str(settings.dags_folder)], env=env, capture_output=True, text=True, timeout=900
    )
    if out.returncode != 0:
        raise SystemExit(f"DagBag failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _when(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def trigger_to_first_task(client, dag_id: str) -> list[float]:
    from ml_tasks.core.polling import wait_until

    client.set_paused(dag_id, False)
    delays = []
    for _ in range(TRIGGERS):
        sent = time.time()
        run_id = client.trigger(dag_id, conf={})

        def first_start(run_id: str = run_id):
            tis = client.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
            starts = [_when(t["start_date"]) for t in tis if t.get("start_date")]
            return min(starts) if starts else None

        started = wait_until(first_start, 300, f"the first task of {dag_id} {run_id} to start", every=0.2)
        delays.append(round(started - sent, 2))
        # End the run now (its task fails and would wait for its retry); the next trigger starts clean.
        client.request("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", json={"state": "failed"})
    return delays


def bench_count(count: int, tmp: Path) -> dict:
    from ml_tasks.core.polling import wait_until
    from ml_tasks.core.settings import load_settings
    from ml_tasks.platform.airflow_api.client import AirflowClient
    from ml_tasks.platform.stack import environment, lifecycle

    root = tmp / f"n{count}"
    scaffold(root, count)
    settings = load_settings(
        home=root / "home",
        specs_dir=root / "dags" / "specs",
        dags_folder=root / "dags",
        expectations_dir=root / "expectations",
        airflow_port=free_port(),
        mlflow_port=free_port(),
    )
    bag = dagbag_seconds(settings)
    expected = 5 * count
    if bag["dags"] != expected or bag["errors"]:
        raise SystemExit(
            f"{count} pipelines: DagBag found {bag['dags']} DAGs (expected {expected}), {bag['errors']} import errors"
        )
    started = time.perf_counter()
    lifecycle.up(settings, say=lambda m: None)
    try:
        client = AirflowClient(settings.airflow_url, settings.airflow_user, environment.airflow_password(settings))
        listed = lambda: client.request("GET", "/dags", params={"limit": 1})["total_entries"]  # noqa: E731
        wait_until(lambda: listed() >= expected, 1200, f"the dag-processor to parse {expected} DAGs", every=0.5)
        parse_all = time.perf_counter() - started
        delays = trigger_to_first_task(client, "p000_rollback")
    finally:
        lifecycle.down(settings, say=lambda m: None)
    return {
        "pipelines": count,
        "dags": expected,
        "dagbag_parse_s": round(bag["seconds"], 2),
        "stack_start_to_all_parsed_s": round(parse_all, 1),
        "trigger_to_first_task_s": delays,
        "trigger_to_first_task_median_s": statistics.median(delays),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", nargs="+", type=int, default=list(COUNTS))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results-pipelines.json"))
    args = parser.parse_args()
    results = {"machine": f"{os.cpu_count()} cores", "counts": {}}
    with tempfile.TemporaryDirectory(prefix="conveyor-pipelines-") as tmp:
        for count in args.counts:
            r = bench_count(count, Path(tmp))
            results["counts"][str(count)] = r
            say(
                f"[{count} pipelines, {r['dags']} DAGs] DagBag parse {r['dagbag_parse_s']} s; stack start to all "
                f"parsed {r['stack_start_to_all_parsed_s']} s; "
                f"trigger to first task {r['trigger_to_first_task_median_s']} s "
                f"(median of {TRIGGERS}: {r['trigger_to_first_task_s']})"
            )
    Path(args.out).write_text(json.dumps(results, indent=1))
    say(
        "\n| pipelines | DAGs | DagBag parse, all files (s) | stack start to all parsed (s) "
        "| trigger to first task, median (s) |"
    )
    say("|---|---|---|---|---|")
    for r in results["counts"].values():
        say(
            f"| {r['pipelines']} | {r['dags']} | {r['dagbag_parse_s']} | {r['stack_start_to_all_parsed_s']} | "
            f"{r['trigger_to_first_task_median_s']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
