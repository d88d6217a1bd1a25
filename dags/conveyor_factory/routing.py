"""Where the neural training task runs, per executor: the spec states the resources.

- embedded (LocalExecutor): on this machine, as any task.
- compose (CeleryExecutor): on the Celery queue the spec names (``gpu``), served by GPU workers.
- kubernetes (KubernetesExecutor): in a pod with an ``nvidia.com/gpu`` limit, the spec's node
  selector and tolerations.
"""

from __future__ import annotations


def gpu_task_kwargs(spec, mode: str) -> dict:
    """Operator keyword arguments that send the GPU-capable task where the GPUs are."""
    res = spec.training.resources
    if not res.gpu or mode == "embedded":
        return {}
    if mode == "compose":
        return {"queue": res.queue}
    if mode == "kubernetes":
        return {"executor_config": {"pod_override": gpu_pod(spec)}}
    raise ValueError(f"unknown mode {mode!r}; expected embedded, compose or kubernetes")


def gpu_pod(spec):
    """A pod override for the task's container ("base", as the KubernetesExecutor names it)."""
    from kubernetes.client import models as k8s

    res = spec.training.resources
    limits = {"nvidia.com/gpu": str(res.gpus), "memory": res.memory, "cpu": res.cpu}
    return k8s.V1Pod(
        spec=k8s.V1PodSpec(
            containers=[
                k8s.V1Container(
                    name="base",
                    resources=k8s.V1ResourceRequirements(
                        limits=limits, requests={"memory": res.memory, "cpu": res.cpu}
                    ),
                )
            ],
            node_selector=dict(res.node_selector),
            tolerations=[k8s.V1Toleration(**t) for t in res.tolerations],
        )
    )


REGISTRY_POOL = "conveyor_registry"


def registry_pool_kwargs(mode: str) -> dict:
    """Serialise alias moves across workers: a one-slot pool outside embedded mode.

    On one machine the registry file lock does this; workers on several machines share no file
    system, so the promote task runs in pool ``conveyor_registry`` (1 slot, created by the
    compose and Helm set-up, or by hand: ``airflow pools set conveyor_registry 1 "alias moves"``).
    """
    return {} if mode == "embedded" else {"pool": REGISTRY_POOL}
