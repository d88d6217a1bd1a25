"""DAG parse time per file, as Airflow's DagBag measures it, against a one-task DAG file.

The dag-processor parses each file in a fresh process with Airflow already imported, so each
measurement here is a fresh process that imports Airflow first and then lets ``DagBag`` load one
file; the time is DagBag's own per-file figure (``dagbag_stats``). The peer is a DAG file with
one EmptyOperator, parsed the same way in the same run: the ratio says what Conveyor's factory,
spec loading and validation add to the floor every DAG file pays.

Results go to ``bench/results-dag-parse.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER = """from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG("peer_one_task", schedule=None):
    EmptyOperator(task_id="only")
"""
PARSE = """import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
[stat] = bag.dagbag_stats
print(json.dumps({"seconds": stat.duration.total_seconds(), "dags": stat.dag_num, "tasks": stat.task_num,
                  "errors": len(bag.import_errors)}))
"""


def parse_once(path: Path, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", PARSE, str(path)], env=env, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise SystemExit(f"parsing {path} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results-dag-parse.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="conveyor-parse-") as tmp:
        peer = Path(tmp) / "peer_one_task.py"
        peer.write_text(PEER)
        env = {
            **os.environ,
            "AIRFLOW_HOME": tmp,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp}/airflow.db",
        }
        files = sorted(p for p in (ROOT / "dags").glob("*.py") if not p.name.startswith("_"))
        results: dict = {
            "machine": f"{os.cpu_count()} cores",
            "date": date.today().isoformat(),
            "repeats": args.repeats,
            "files": {},
        }
        runs = {p: [parse_once(p, env) for _ in range(args.repeats)] for p in [peer, *files]}
    peer_s = statistics.median(r["seconds"] for r in runs[peer])
    results["peer_one_task_dag_s"] = round(peer_s, 4)
    print(f"peer (one EmptyOperator): {peer_s * 1000:.1f} ms (median of {args.repeats} fresh processes)")
    for path in files:
        seconds = statistics.median(r["seconds"] for r in runs[path])
        last = runs[path][-1]
        if last["errors"]:
            raise SystemExit(f"{path.name} has import errors")
        results["files"][path.name] = {
            "seconds": round(seconds, 4),
            "dags": last["dags"],
            "tasks": last["tasks"],
            "over_peer": round(seconds / peer_s, 2),
        }
        print(
            f"{path.name}: {seconds * 1000:.1f} ms for {last['dags']} DAGs / {last['tasks']} tasks "
            f"({seconds / peer_s:.1f}x the one-task DAG)"
        )
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()
