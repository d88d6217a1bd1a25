"""How many CPU threads the numeric libraries of one task process may use.

Tasks run side by side: the embedded stack runs up to four at once, whatever the machine's
cores, and each library's default is a thread per core. With more threads than cores, OpenMP
threads spin while they wait for each other at every step: three LightGBM tasks and one
Lightning task on 2 cores took 106-114 s each with 2 threads apiece, 29 s each with one
(121 s and 39 s for all four). The stack sets ``task_threads`` to its cores divided among the
tasks it runs at once (:func:`ml_tasks.platform.stack.task_slots.task_threads`); 0 keeps the libraries'
defaults (LightGBM: :data:`LIGHTGBM_DEFAULT`), for a process that has the machine to itself.
"""

from __future__ import annotations

LIGHTGBM_DEFAULT = 2
_cap: int | None = None


def cap_threads(threads: int) -> None:
    """Limit this process to ``threads`` threads in OpenMP (LightGBM, PyTorch's CPU kernels), the BLAS
    libraries and PyTorch's intra-op pool; 0 leaves every default as it is."""
    global _cap
    if threads <= 0:
        return
    _cap = threads
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)  # applied at once, for the rest of the process
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


def lightgbm_threads() -> int:
    """LightGBM's ``n_jobs``: the cap of :func:`cap_threads`, else :data:`LIGHTGBM_DEFAULT`."""
    return _cap or LIGHTGBM_DEFAULT
