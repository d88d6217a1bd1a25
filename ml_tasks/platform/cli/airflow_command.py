"""`conveyor airflow ...`: an ``airflow`` CLI command run against the embedded stack's configuration."""

from __future__ import annotations

import subprocess
import sys
import time

from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.platform.stack.environment import stack_env, venv_executable

SQLITE_LOCKED = "database is locked"


def _run_teed(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run a command, its output (stderr merged) shown as it comes; return its exit code and the output's tail."""
    from collections import deque

    tail: deque[str] = deque(maxlen=200)
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            tail.append(line)
    return proc.returncode, "".join(tail)


def airflow_cli(
    settings: ConveyorSettings, args: list[str], tries: int = 10, wait: float = 3.0, run=_run_teed, say=print
) -> int:
    """Run ``airflow ARGS`` against this stack, its output shown as it comes; return its exit code.

    On the embedded SQLite database a write can meet the scheduler's lock ("database is locked");
    Airflow then rolls back, so the command is repeated, up to ``tries`` times in all. Other
    failures are not repeated.
    """
    env = stack_env(settings)
    sqlite = settings.airflow_db_uri.startswith("sqlite")
    attempt = 1
    code, output = run([venv_executable("airflow"), *args], env)
    while code != 0 and sqlite and SQLITE_LOCKED in output.lower() and attempt < tries:
        say(
            f"airflow {' '.join(args[:2])}: the SQLite database was locked by another writer and nothing was "
            f"written; trying again ({attempt}/{tries - 1})"
        )
        time.sleep(wait)
        attempt += 1
        code, output = run([venv_executable("airflow"), *args], env)
    return code
