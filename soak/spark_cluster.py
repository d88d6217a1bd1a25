"""A Spark standalone cluster on loopback (a master and its workers, each a process group) for the distributed
soak and the cluster tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from ml_tasks.core.polling import WaitTimeout, wait_until
from ml_tasks.platform.stack.environment import free_port
from soak.services import ServiceSetupError


def _spark_class() -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-class")


@dataclass(frozen=True)
class SparkCluster:
    master_url: str
    web_url: str

    def alive_workers(self) -> int:
        return sum(w["state"] == "ALIVE" for w in requests.get(f"{self.web_url}/json/", timeout=5).json()["workers"])


@contextmanager
def spark_cluster(work: Path, workers: int = 2, memory: str = "1500m"):
    """A Spark standalone master and ``workers`` one-core workers on loopback; yields a :class:`SparkCluster`."""
    work.mkdir(parents=True, exist_ok=True)
    port, web = free_port(), free_port()
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(work),
        "SPARK_WORKER_DIR": str(work / "worker"),
        "PYSPARK_PYTHON": sys.executable,
    }
    cluster = SparkCluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{web}")
    commands = [
        [
            _spark_class(),
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(web),
        ]
    ]
    commands += [
        [
            _spark_class(),
            "org.apache.spark.deploy.worker.Worker",
            cluster.master_url,
            "--host",
            "127.0.0.1",
            "--cores",
            "1",
            "--memory",
            memory,
            "--webui-port",
            str(free_port()),
            "--work-dir",
            str(work / f"worker-{i}"),
        ]
        for i in range(1, workers + 1)
    ]
    procs = []
    try:
        for i, cmd in enumerate(commands):
            log = open(work / f"daemon-{i}.log", "wb")
            procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            if i == 0:
                time.sleep(3)  # workers register with a running master
        try:
            wait_until(
                lambda: cluster.alive_workers() == workers,
                120,
                f"{workers} ALIVE Spark workers",
                every=2,
                transient=(requests.RequestException, ValueError, KeyError),
            )
        except WaitTimeout:
            logs = "\n".join((work / f"daemon-{i}.log").read_text()[-1500:] for i in range(len(commands)))
            raise ServiceSetupError(f"the standalone cluster did not come up with {workers} workers:\n{logs}") from None
        yield cluster
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, 15)
            except ProcessLookupError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
