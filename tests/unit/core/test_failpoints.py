"""Crash points: inert without their folder, fire once when armed (on the hit asked for), in one process only."""

from __future__ import annotations

import os
import subprocess
import sys

from ml_tasks.core import failpoints
from ml_tasks.core.settings import REPO_ROOT

REACH = (
    "from ml_tasks.core import failpoints\nimport sys\nfor _ in range(int(sys.argv[1])):\n"
    "    failpoints.reached('lake.object_copy')\nprint('through')\n"
)


def _reach(times: int, folder=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != failpoints.ENV}
    if folder is not None:
        env[failpoints.ENV] = str(folder)
    return subprocess.run(
        [sys.executable, "-c", REACH, str(times)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_an_unarmed_point_or_no_folder_lets_every_process_through(tmp_path):
    failpoints.arm(tmp_path, "lake.object_copy")
    assert _reach(3).stdout.strip() == "through"  # armed, but this process was not given the folder
    assert _reach(3, tmp_path / "empty").stdout.strip() == "through"  # given a folder where nothing is armed


def test_an_armed_point_kills_the_process_on_the_asked_hit_and_only_once(tmp_path):
    failpoints.arm(tmp_path, "lake.object_copy", on_hit=3)
    assert _reach(2, tmp_path).stdout.strip() == "through"  # two hits: not yet (the count went down to 1)
    killed = _reach(2, tmp_path)
    assert killed.returncode == -9 and "through" not in killed.stdout
    assert len(failpoints.hits(tmp_path, "lake.object_copy")) == 1
    assert _reach(5, tmp_path).stdout.strip() == "through"  # it fired: nobody else dies there
    assert not failpoints.disarm(tmp_path, "lake.object_copy")


def test_a_disarmed_point_never_fires(tmp_path):
    failpoints.arm(tmp_path, "lake.object_copy")
    assert failpoints.disarm(tmp_path, "lake.object_copy")
    assert _reach(2, tmp_path).returncode == 0


def test_no_deployment_sets_the_crash_point_folder():
    """Only the soak arms crash points: the compose file, the Helm chart and the image never set it."""
    shipped = [
        REPO_ROOT / "docker-compose.yaml",
        REPO_ROOT / "Dockerfile",
        REPO_ROOT / ".env.example",
        *(p for p in (REPO_ROOT / "helm").rglob("*") if p.is_file()),
    ]
    assert [str(p) for p in shipped if failpoints.ENV in p.read_text(errors="replace")] == []
