"""The neural training task goes where the GPUs are, for each executor the modes use."""

import pytest

from conveyor_factory import build_pipeline_dags


def _train_dag(monkeypatch, mode):
    monkeypatch.setenv("CONVEYOR_MODE", mode)
    return build_pipeline_dags("demand")["demand_train"]


def test_embedded_mode_runs_lightning_locally_like_any_task(monkeypatch):
    dag = _train_dag(monkeypatch, "embedded")
    task = dag.get_task("train_lightning")
    assert task.queue == dag.get_task("train_lightgbm").queue == "default"
    assert not task.executor_config


def test_celery_sends_lightning_to_the_gpu_queue_and_lightgbm_to_default(monkeypatch):
    dag = _train_dag(monkeypatch, "compose")
    assert dag.get_task("train_lightning").queue == "gpu"
    assert dag.get_task("train_lightgbm").queue == "default"
    assert dag.get_task("plan").queue == "default"


def test_kubernetes_gives_lightning_a_gpu_pod(monkeypatch):
    dag = _train_dag(monkeypatch, "kubernetes")
    pod = dag.get_task("train_lightning").executor_config["pod_override"]
    container = pod.spec.containers[0]
    assert container.name == "base"
    assert container.resources.limits["nvidia.com/gpu"] == "1"
    assert pod.spec.node_selector == {"nvidia.com/gpu.present": "true"}
    assert [(t.key, t.operator, t.effect) for t in pod.spec.tolerations] == [("nvidia.com/gpu", "Exists", "NoSchedule")]
    assert not dag.get_task("train_lightgbm").executor_config


def test_unknown_mode_is_rejected_by_the_settings(monkeypatch):
    from pydantic import ValidationError

    monkeypatch.setenv("CONVEYOR_MODE", "swarm")
    with pytest.raises(ValidationError, match="mode"):
        build_pipeline_dags("demand")
