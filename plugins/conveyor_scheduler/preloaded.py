"""Airflow's scheduler and Celery workers with the task libraries already imported: tasks start without importing them.

Under the LocalExecutor every task process is a fork of an executor worker, itself a fork of the
scheduler (Airflow's supervisor forks, it does not exec); under the CeleryExecutor it is a fork of
a Celery pool process, itself a fork of the worker (``python -m conveyor_scheduler.preloaded
celery worker ...``). Importing pandas, Spark's client, Great
Expectations, MLflow, PyTorch, Lightning, LightGBM and Evidently once here saves each task the
1-8 s those imports take (Evidently alone takes 4-7 s on 2 cores), memory shared copy-on-write.
Only third-party libraries are imported: Conveyor's own code, the DAG files and the specs are
still read fresh by each task, so an edited pipeline runs as edited without a restart.

The scheduler also hands work on as soon as a task ends. An idle scheduler loop sleeps
``scheduler_idle_sleep_time`` (1 s) before it looks again, so every hand-off from a task to the
next, and every run's end, used to wait half a second on average (Airflow 3 has no "mini
scheduler" in the finishing task any more). Here that sleep ends early when the LocalExecutor's
result queue has something in it: a task ended, so there is work (:func:`wake_on_finished_tasks`).
With nothing finishing the loop sleeps as long as before, so an idle scheduler costs no more CPU
(a shorter idle sleep did, and slowed the tasks beside it). If Airflow's loop changes so that this
no longer fits, the scheduler runs unchanged and says so in its log.
"""

from __future__ import annotations

import gc
import importlib
import runpy
import sys
import time
from typing import Any

# What the task callables import; each is optional (a deployment without one still schedules)
TASK_LIBRARIES = (
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "scipy.stats",
    "sklearn.metrics",
    "pyspark.sql",
    "great_expectations",
    "mlflow",
    "mlflow.pyfunc",
    "torch",
    "pytorch_lightning",
    "lightgbm",
    "evidently",
    "evidently.presets",
)


def preload(modules: tuple[str, ...] = TASK_LIBRARIES) -> dict[str, float]:
    """Import ``modules`` and fill the caches of :func:`warm`; returns the seconds each took (a missing one is
    skipped)."""
    took: dict[str, float] = {}
    for name in modules:
        t0 = time.perf_counter()
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        took[name] = round(time.perf_counter() - t0, 2)
    took.update(warm())
    gc.collect()
    gc.freeze()  # what was imported stays shared with the forks instead of being copied by the collector
    return took


def warm() -> dict[str, float]:
    """Fill, once, what the libraries would otherwise build again in every task; returns the seconds each took.

    - ``matplotlib.pyplot`` on the file-only Agg backend, as the training tasks draw their evaluation plots;
    - MLflow's map of installed packages to the modules they provide. MLflow builds it (reading the file list
      of every installed distribution: 1-1.5 s on 2 cores) the first time a process logs or loads a model, to
      check the model's requirements against the environment: once per training, scoring and drift task.
      A package installed while the scheduler runs is missing from the map until it restarts, which can only
      cost a warning about a mismatch.
    Both are third-party state; a library without the hook is skipped.
    """
    took: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        import matplotlib

        matplotlib.use("Agg")
        importlib.import_module("matplotlib.pyplot")
        took["matplotlib.pyplot"] = round(time.perf_counter() - t0, 2)
    except ImportError:
        pass
    t0 = time.perf_counter()
    try:
        from mlflow.utils import requirements_utils

        fill = getattr(requirements_utils, "_init_modules_to_packages_map", None)
    except ImportError:
        fill = None
    if fill is not None:
        fill()
        took["mlflow package map"] = round(time.perf_counter() - t0, 2)
    return took


class IdleSleep:
    """Stands in for the ``time`` module inside Airflow's scheduler loop: ``sleep`` returns as soon
    as one of ``queues`` (the LocalExecutors' result queues) holds a finished task, checking
    every ``poll`` seconds; everything else is :mod:`time`'s own."""

    def __init__(self, queues: list[Any], poll: float = 0.02):
        self.queues, self.poll = queues, poll

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._finished():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(self.poll, left))

    def _finished(self) -> bool:
        try:
            return any(not q.empty() for q in self.queues)
        except (OSError, ValueError):  # a queue closed at shutdown: sleep by the clock alone
            return False


def wake_on_finished_tasks() -> bool:
    """Let the scheduler's idle sleep end when a LocalExecutor task finishes; False (and the
    scheduler unchanged) when Airflow's scheduler loop or LocalExecutor no longer look as expected."""
    try:
        from airflow.executors.local_executor import LocalExecutor
        from airflow.jobs import scheduler_job_runner
    except ImportError:
        return False
    if getattr(scheduler_job_runner, "time", None) is not time or not hasattr(LocalExecutor, "start"):
        return False
    queues: list[Any] = []
    start = LocalExecutor.start

    def start_and_watch(self) -> None:
        start(self)
        if hasattr(getattr(self, "result_queue", None), "empty"):
            queues.append(self.result_queue)

    LocalExecutor.start = start_and_watch
    scheduler_job_runner.time = IdleSleep(queues)
    return True


def airflow_command(argv: list[str]) -> list[str]:
    """The Airflow command to run: ``scheduler`` (the default, options may follow) or ``celery worker ...``."""
    if not argv or argv[0].startswith("-"):
        return ["scheduler", *argv]
    if argv[0] == "scheduler" or argv[:2] == ["celery", "worker"]:
        return list(argv)
    raise SystemExit(f"conveyor_scheduler.preloaded runs `scheduler` or `celery worker`, not {' '.join(argv)!r}")


def main(argv: list[str] | None = None) -> None:
    command = airflow_command(sys.argv[1:] if argv is None else argv)
    took = preload()
    if command[0] == "scheduler" and not wake_on_finished_tasks():
        print(
            "Airflow's scheduler loop is not the one expected: it wakes on its idle sleep alone",
            file=sys.stderr,
            flush=True,
        )
    print(f"preloaded for the tasks: {took} ({sum(took.values()):.1f} s)", file=sys.stderr, flush=True)
    # then `python -m airflow <command>` in this process (run as a program: no Airflow API used here)
    sys.argv = ["airflow", *command]
    runpy.run_module("airflow", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
