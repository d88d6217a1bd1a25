"""Airflow's scheduler with the task libraries already imported: tasks start without importing them.

Under the LocalExecutor every task process is a fork of an executor worker, itself a fork of the
scheduler (Airflow's supervisor forks, it does not exec). Importing pandas, Spark's client, Great
Expectations, MLflow, PyTorch, Lightning, LightGBM and Evidently once here saves each task the
1-8 s those imports take (Evidently alone takes 4-7 s on 2 cores), memory shared copy-on-write.
Only third-party libraries are imported: Conveyor's own code, the DAG files and the specs are
still read fresh by each task, so an edited pipeline runs as edited without a restart.
"""

from __future__ import annotations

import gc
import importlib
import runpy
import sys
import time

# What the task callables import; each is optional (a deployment without one still schedules)
TASK_LIBRARIES = (
    "numpy", "pandas", "pyarrow.parquet", "scipy.stats", "sklearn.metrics", "pyspark.sql", "great_expectations",
    "mlflow", "mlflow.pyfunc", "torch", "pytorch_lightning", "lightgbm", "evidently", "evidently.presets",
)


def preload(modules: tuple[str, ...] = TASK_LIBRARIES) -> dict[str, float]:
    """Import ``modules``; returns the seconds each took (a missing one is skipped)."""
    took: dict[str, float] = {}
    for name in modules:
        t0 = time.perf_counter()
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        took[name] = round(time.perf_counter() - t0, 2)
    gc.collect()
    gc.freeze()  # what was imported stays shared with the forks instead of being copied by the collector
    return took


def main(argv: list[str] | None = None) -> None:
    took = preload()
    print(f"preloaded for the tasks: {took} ({sum(took.values()):.1f} s)", file=sys.stderr, flush=True)
    # then `python -m airflow scheduler` in this process (run as a program: no Airflow API used here)
    sys.argv = ["airflow", "scheduler", *(argv if argv is not None else sys.argv[1:])]
    runpy.run_module("airflow", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
