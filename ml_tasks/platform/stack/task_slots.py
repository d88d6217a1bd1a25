"""How many tasks the stack runs at once on one machine, and the CPU threads each task may use."""

from __future__ import annotations

import os

from ml_tasks.core.settings import ConveyorSettings

# Celery worker concurrency per queue (2 where not named): the gpu queue runs one training at a time per GPU.
WORKER_CONCURRENCY = {"gpu": 1}
LOCAL_PARALLELISM = 4  # the LocalExecutor's task slots


def worker_concurrency(queue: str) -> int:
    return WORKER_CONCURRENCY.get(queue, 2)


def task_slots(settings: ConveyorSettings) -> int:
    """How many tasks this stack runs at once on this machine."""
    if settings.executor == "CeleryExecutor":
        return sum(worker_concurrency(queue) for queue in settings.worker_queues)
    return LOCAL_PARALLELISM


def task_threads(settings: ConveyorSettings, cores: int | None = None) -> int:
    """``settings.task_threads`` if set, else this machine's cores divided among the task slots (at least 1):
    see :mod:`ml_tasks.core.threads`."""
    if settings.task_threads:
        return settings.task_threads
    return max(1, (cores or os.cpu_count() or 1) // task_slots(settings))
