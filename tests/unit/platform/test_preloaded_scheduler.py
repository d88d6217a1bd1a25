"""The embedded scheduler imports the tasks' libraries once, and only those."""

from __future__ import annotations

import subprocess
import sys

from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.platform import stack
from ml_tasks.platform.preloaded_scheduler import TASK_LIBRARIES

FIRST_PARTY = ("ml_tasks", "spark_jobs", "conveyor_factory", "dags", "plugins")


def _scheduler(settings: ConveyorSettings) -> list[str]:
    return next(s.command for s in stack.services(settings) if s.name == "scheduler")


def test_the_local_executor_forks_tasks_from_a_preloaded_scheduler_and_celery_does_not(tmp_path):
    assert _scheduler(ConveyorSettings(home=tmp_path))[1:] == ["-m", "ml_tasks.platform.preloaded_scheduler"]
    celery = ConveyorSettings(home=tmp_path, celery_broker_url="redis://127.0.0.1:6379/0")
    assert _scheduler(celery)[-1] == "scheduler"  # Celery workers are not forks of the scheduler


def test_only_third_party_libraries_are_preloaded_so_edited_pipeline_code_runs_fresh(tmp_path):
    assert not [m for m in TASK_LIBRARIES if m.split(".")[0] in FIRST_PARTY]
    probe = ("import sys; from ml_tasks.platform.preloaded_scheduler import preload; took = preload(); "
             "print(sorted(took)); print([m for m in sys.modules if m.split('.')[0] in "
             f"{FIRST_PARTY!r} and m not in ('ml_tasks', 'ml_tasks.platform', 'ml_tasks.platform.preloaded_scheduler')])")
    script = tmp_path / "probe.py"  # a file, as `python -m` gives: pyspark's connect module exits under `python -c`
    script.write_text(probe)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=True)
    loaded, first_party = (eval(line) for line in out.stdout.strip().splitlines()[-2:])  # noqa: S307 (our own print)
    assert {"great_expectations", "mlflow", "torch", "evidently", "pyspark.sql"} <= set(loaded), out.stderr[-2000:]
    assert first_party == [], first_party
