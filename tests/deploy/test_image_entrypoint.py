"""The image's entrypoint starts a Spark executor the way Spark on Kubernetes asks for one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "docker" / "entrypoint.sh"


def test_executor_argument_starts_the_kubernetes_executor_backend(tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    java = fake_bin / "java"  # records how it was called instead of starting a JVM
    java.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    java.chmod(0o755)
    env = {
        "PATH": f"{fake_bin}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
        "SPARK_DRIVER_URL": "spark://CoarseGrainedScheduler@10.0.0.7:7078",
        "SPARK_EXECUTOR_ID": "3",
        "SPARK_EXECUTOR_CORES": "2",
        "SPARK_EXECUTOR_MEMORY": "2g",
        "SPARK_APPLICATION_ID": "spark-app-1",
        "SPARK_EXECUTOR_POD_IP": "10.0.0.9",
        "SPARK_RESOURCE_PROFILE_ID": "0",
        "SPARK_EXECUTOR_POD_NAME": "demand-features-exec-3",
        "SPARK_JAVA_OPT_1": "-Dspark.driver.port=7078",
        "SPARK_JAVA_OPT_0": "-Dspark.app.id=spark-app-1",
    }
    out = subprocess.run(["bash", str(ENTRYPOINT), "executor"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    args = out.stdout.splitlines()
    assert args[:2] == ["-Dspark.app.id=spark-app-1", "-Dspark.driver.port=7078"]
    assert "-Xmx2g" in args and "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend" in args
    classpath = args[args.index("-cp") + 1]
    assert classpath.endswith("/pyspark/jars/*")
    flags = dict(
        zip(
            args[args.index("org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend") + 1 :: 2],
            args[args.index("org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend") + 2 :: 2],
            strict=True,
        )
    )
    assert flags == {
        "--driver-url": env["SPARK_DRIVER_URL"],
        "--executor-id": "3",
        "--cores": "2",
        "--app-id": "spark-app-1",
        "--hostname": "10.0.0.9",
        "--resourceProfileId": "0",
        "--podName": "demand-features-exec-3",
    }


def test_the_dockerfile_uses_it_and_ships_it():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "COPY --chown=airflow:0 docker/entrypoint.sh /opt/conveyor/docker/entrypoint.sh" in dockerfile
    assert 'ENTRYPOINT ["/usr/bin/dumb-init", "--", "/opt/conveyor/docker/entrypoint.sh"]' in dockerfile
    assert os.access(ENTRYPOINT, os.X_OK)
