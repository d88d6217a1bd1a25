"""Tasks that run side by side share the cores: each task's numeric libraries get a share, not one
thread per core (OpenMP threads beyond the cores spin waiting for each other)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ml_tasks.core.settings import REPO_ROOT, ConveyorSettings
from ml_tasks.platform.stack import environment, task_slots

CELERY = {"celery_broker_url": "redis://127.0.0.1:6379/0", "celery_queues": "default,gpu"}


def test_the_stack_divides_the_cores_among_the_tasks_it_runs_at_once(tmp_path):
    local = ConveyorSettings(home=tmp_path)
    assert task_slots.task_slots(local) == task_slots.LOCAL_PARALLELISM == 4
    assert task_slots.task_threads(local, cores=2) == 1  # 4 tasks on 2 cores: one thread each, never 0
    assert task_slots.task_threads(local, cores=16) == 4
    celery = ConveyorSettings(home=tmp_path, **CELERY)
    assert task_slots.task_slots(celery) == 3  # default (2) + gpu (1)
    assert task_slots.task_threads(celery, cores=16) == 5
    assert task_slots.task_threads(ConveyorSettings(home=tmp_path, task_threads=3), cores=2) == 3  # set: kept
    env = environment.stack_env(local)
    assert env["CONVEYOR_TASK_THREADS"] == str(task_slots.task_threads(local))
    assert env["AIRFLOW__CORE__PARALLELISM"] == str(task_slots.LOCAL_PARALLELISM)


def _task_process(tmp_path, threads: str | None) -> dict:
    """What a task process's libraries are left with after it reads its settings, as the DAG tasks do."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import json, sys\n"
        f"sys.path.insert(0, {str(REPO_ROOT / 'dags')!r})\n"
        "import lightgbm, torch\n"
        "from threadpoolctl import threadpool_info\n"
        "from conveyor_factory.runtime import settings_and_spec\n"
        "from ml_tasks.core.threads import lightgbm_threads\n"
        "settings, spec = settings_and_spec('demand')\n"
        "openmp = sorted({p['num_threads'] for p in threadpool_info() if p['user_api'] == 'openmp'})\n"
        "print(json.dumps({'torch': torch.get_num_threads(), 'openmp': openmp, 'lightgbm': lightgbm_threads()}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CONVEYOR_TASK_THREADS"}
    env.update({"CONVEYOR_HOME": str(tmp_path / "home"), **({"CONVEYOR_TASK_THREADS": threads} if threads else {})})
    out = subprocess.run([sys.executable, str(probe)], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_task_process_caps_openmp_torch_and_lightgbm_at_its_share(tmp_path):
    capped = _task_process(tmp_path, "1")
    assert capped == {"torch": 1, "openmp": [1], "lightgbm": 1}, capped
    free = _task_process(tmp_path, None)  # 0: the libraries' defaults, LightGBM's own 2
    assert free["lightgbm"] == 2 and max(free["openmp"]) == len(os.sched_getaffinity(0)), free
