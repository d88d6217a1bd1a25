"""Configuration, suites and secrets are written whole or not at all: a process SIGKILLed at any point of
a write leaves the old file (or none), never a part of the new one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ml_tasks.core.files import create_atomic, write_atomic
from ml_tasks.core.settings import REPO_ROOT, load_settings
from ml_tasks.platform.stack.environment import airflow_password, stack_env

# Killed with SIGKILL at the moment the named os function is called: after the data is written to the
# temporary file (fsync) or just before it would be put in place (replace / link).
KILLED = r"""
import os, signal, sys
from pathlib import Path
from ml_tasks.core import files
point, how, target = sys.argv[1], sys.argv[2], Path(sys.argv[3])
real = getattr(os, point)
def die(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)
setattr(os, point, die)
data = '{"suite": "' + "x" * 5_000_000 + '"}'
(files.write_atomic if how == "write" else files.create_atomic)(target, data)
"""


def _killed_while_writing(point: str, how: str, target: Path) -> int:
    run = subprocess.run(
        [sys.executable, "-c", KILLED, point, how, str(target)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        timeout=60,
    )
    return run.returncode


@pytest.mark.parametrize("point", ["fsync", "replace"])
def test_a_suite_rewritten_by_a_process_killed_midway_is_the_old_one(tmp_path, point):
    suite = tmp_path / "demand_raw.json"
    write_atomic(suite, json.dumps({"suite": "old"}))
    assert _killed_while_writing(point, "write", suite) == -signal.SIGKILL
    assert json.loads(suite.read_text()) == {"suite": "old"}
    write_atomic(suite, json.dumps({"suite": "new"}))  # the next write is whole, leftovers or not
    assert json.loads(suite.read_text()) == {"suite": "new"}
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["demand_raw.json"]


@pytest.mark.parametrize("point", ["fsync", "link"])
def test_a_secret_created_by_a_process_killed_midway_does_not_exist_and_is_made_whole_next_time(tmp_path, point):
    secret = tmp_path / "jwt_secret"
    assert _killed_while_writing(point, "create", secret) == -signal.SIGKILL
    assert not secret.exists()
    assert create_atomic(secret, "s" * 64) and secret.read_text() == "s" * 64
    assert oct(secret.stat().st_mode & 0o777) == "0o600"
    assert not create_atomic(secret, "other")  # never replaced once there
    assert secret.read_text() == "s" * 64


def test_the_stack_replaces_an_empty_secret_left_by_an_older_crash(tmp_path):
    settings = load_settings(home=tmp_path)
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    (settings.airflow_home / "jwt_secret").write_text("")
    (settings.airflow_home / "passwords.json").write_text("")
    assert len(stack_env(settings)["AIRFLOW__API_AUTH__JWT_SECRET"]) == 64
    assert len(airflow_password(settings)) >= 16
    assert oct((settings.airflow_home / "jwt_secret").stat().st_mode & 0o777) == "0o600"
