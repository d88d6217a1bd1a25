"""The benchmark harness every bench_*.py uses: printing as it goes, a free loopback port, a quiet environment."""

from __future__ import annotations

import socket


def say(msg: str) -> None:
    print(msg, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quiet_environment() -> None:
    """Defaults every benchmark process wants: Spark on loopback, no analytics, telemetry or progress bars."""
    import os

    for name, value in {
        "SPARK_LOCAL_IP": "127.0.0.1",
        "GX_ANALYTICS_ENABLED": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }.items():
        os.environ.setdefault(name, value)
