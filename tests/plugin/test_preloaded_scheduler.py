"""The embedded scheduler and the Celery workers import the tasks' libraries once, and only those;
the scheduler wakes when a task ends."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conveyor_scheduler.preloaded import TASK_LIBRARIES
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.platform.stack import environment

FIRST_PARTY = ("ml_tasks", "spark_jobs", "conveyor_factory", "conveyor_plugin", "conveyor_scheduler", "dags", "plugins")


def _scheduler(settings: ConveyorSettings) -> list[str]:
    return next(s.command for s in environment.services(settings) if s.name == "scheduler")


def test_tasks_fork_from_a_preloaded_process_under_both_executors(tmp_path):
    assert _scheduler(ConveyorSettings(home=tmp_path))[1:] == ["-m", "conveyor_scheduler.preloaded"]
    celery = ConveyorSettings(home=tmp_path, celery_broker_url="redis://127.0.0.1:6379/0", celery_queues="default,gpu")
    assert _scheduler(celery)[-1] == "scheduler"  # Celery tasks are not forks of the scheduler but of a worker
    workers = {s.name: s.command for s in environment.services(celery) if s.name.startswith("worker-")}
    assert set(workers) == {"worker-default", "worker-gpu"}
    for queue, command in workers.items():
        assert command[1:5] == ["-m", "conveyor_scheduler.preloaded", "celery", "worker"], command
        assert command[command.index("--queues") + 1] == queue.removeprefix("worker-")


def test_the_preloaded_process_runs_the_scheduler_or_a_celery_worker_and_nothing_else():
    from conveyor_scheduler.preloaded import airflow_command

    assert airflow_command([]) == ["scheduler"]
    assert airflow_command(["--num-runs", "1"]) == ["scheduler", "--num-runs", "1"]
    assert airflow_command(["celery", "worker", "--queues", "gpu"]) == ["celery", "worker", "--queues", "gpu"]
    with pytest.raises(SystemExit, match="not 'db reset'"):
        airflow_command(["db", "reset"])


def test_only_third_party_libraries_are_preloaded_so_edited_pipeline_code_runs_fresh(tmp_path):
    assert not [m for m in TASK_LIBRARIES if m.split(".")[0] in FIRST_PARTY]
    probe = (
        "import sys; from conveyor_scheduler.preloaded import preload; took = preload(); "
        "print(sorted(took)); print([m for m in sys.modules if m.split('.')[0] in "
        f"{FIRST_PARTY!r} and m not in ('conveyor_scheduler', 'conveyor_scheduler.preloaded')])"
    )
    script = tmp_path / "probe.py"  # a file, as `python -m` gives: pyspark's connect module exits under `python -c`
    script.write_text(probe)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=True)
    loaded, first_party = (eval(line) for line in out.stdout.strip().splitlines()[-2:])  # noqa: S307 (our own print)
    assert {"great_expectations", "mlflow", "torch", "evidently", "pyspark.sql"} <= set(loaded), out.stderr[-2000:]
    assert first_party == [], first_party


def test_a_forked_task_finds_pyplot_on_agg_and_mlflow_s_package_map_already_built(tmp_path):
    """What MLflow would otherwise rebuild in every task that logs or loads a model (reading every installed
    distribution's file list) is built once in the preloaded process and inherited by its forks."""
    probe = (
        "import os, sys\n"
        "from conveyor_scheduler.preloaded import preload\n"
        "took = preload()\n"
        "import importlib_metadata\n"
        "def rebuilt(*a, **k): raise AssertionError('MLflow rebuilt its package map in the task')\n"
        "importlib_metadata.packages_distributions = rebuilt\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    import matplotlib\n"
        "    from mlflow.utils import requirements_utils as r\n"
        "    r._init_packages_to_modules_map()\n"
        "    ok = 'matplotlib.pyplot' in sys.modules and matplotlib.get_backend().lower() == 'agg'\n"
        "    ok = ok and r._check_requirement_satisfied('numpy') is None\n"
        "    os._exit(0 if ok else 3)\n"
        "print(sorted(took)); print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
    )
    script = tmp_path / "probe.py"
    script.write_text(probe)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=True)
    took, child = (eval(line) for line in out.stdout.strip().splitlines()[-2:])  # noqa: S307 (our own print)
    assert {"matplotlib.pyplot", "mlflow package map"} <= set(took), out.stderr[-2000:]
    assert child == 0, out.stderr[-3000:]


def test_the_idle_sleep_ends_when_a_task_finishes_and_lasts_its_length_otherwise():
    import multiprocessing
    import threading
    import time

    from conveyor_scheduler.preloaded import IdleSleep

    results = multiprocessing.SimpleQueue()  # what a LocalExecutor worker reports a finished task on
    clock = IdleSleep([results])
    t0 = time.monotonic()
    clock.sleep(0.3)
    assert time.monotonic() - t0 >= 0.3  # nothing finished: the whole idle sleep, no busy loop of work
    threading.Timer(0.1, results.put, args=(("task", "success", None),)).start()
    t0 = time.monotonic()
    clock.sleep(60)
    assert time.monotonic() - t0 < 30  # woke on the finished task, not after a minute
    assert clock.monotonic is time.monotonic  # the rest of `time` is time's own


def test_the_real_scheduler_loop_and_local_executor_are_wired_to_wake(tmp_path):
    probe = (
        "import inspect\n"
        "from conveyor_scheduler.preloaded import IdleSleep, wake_on_finished_tasks\n"
        "assert wake_on_finished_tasks()\n"
        "from airflow.jobs import scheduler_job_runner\n"
        "from airflow.executors.local_executor import LocalExecutor\n"
        "assert isinstance(scheduler_job_runner.time, IdleSleep)\n"
        "loop = inspect.getsource(scheduler_job_runner.SchedulerJobRunner._run_scheduler_loop)\n"
        "assert 'time.sleep(' in loop and 'idle_in_this_run' in loop, 'the idle sleep moved'\n"
        "executor = LocalExecutor(parallelism=1)\n"
        "executor.start()\n"
        "assert scheduler_job_runner.time.queues == [executor.result_queue]\n"
        "executor.end()\n"
        "print('wired')\n"
    )
    script = tmp_path / "probe.py"
    script.write_text(probe)
    out = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "AIRFLOW_HOME": str(tmp_path)},
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("wired"), out.stderr[-3000:]
