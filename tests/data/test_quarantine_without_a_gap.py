"""A raw day that fails its gate is findable in exactly one place at every moment: a gate process
SIGKILLed after the record is written but before the data is moved leaves the day in the raw zone
(and no half entry listed); the retry quarantines it once, with its record and report."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date

import pytest
from typer.testing import CliRunner

from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import REPO_ROOT, load_settings
from ml_tasks.core.spec import load_spec
from ml_tasks.data.gates import GateFailed, gate_raw_partition
from ml_tasks.data.quarantine import list_quarantine
from ml_tasks.platform.cli.app import app

DAY = date(2026, 3, 2)
# The raw gate of DAY, killed with SIGKILL at the first lake move (the data's, after the record) or at
# the first file the quarantine writes (before anything of it exists).
GATE_KILLED = r"""
import os, signal, sys
from datetime import date
from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import load_settings
from ml_tasks.core.spec import load_spec
from ml_tasks.data import quarantine
from ml_tasks.data.gates import gate_raw_partition
def die(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)
if sys.argv[1] == "move":
    Lake.move = die
else:
    quarantine.render_report = die
settings = load_settings()
gate_raw_partition(Lake.from_settings(settings), settings.expectations_dir, load_spec("demand", settings.specs_dir),
                   date.fromisoformat(sys.argv[2]))
"""


def _where(lake: Lake) -> tuple[bool, list[str]]:
    """Is the day in the raw zone; which quarantine entries list it."""
    return lake.exists("raw", "demand", DAY), [
        e["stage"] for e in list_quarantine(lake, "demand") if e["dt"] == DAY.isoformat()
    ]


@pytest.mark.parametrize("point", ["move", "record"])
def test_a_gate_killed_midway_leaves_the_day_in_one_place_and_the_retry_quarantines_it_once(
    tmp_path, monkeypatch, point
):
    monkeypatch.setenv("CONVEYOR_HOME", str(tmp_path))
    landed = CliRunner().invoke(
        app,
        [
            "generate",
            "--days",
            "1",
            "--start",
            DAY.isoformat(),
            "--stores",
            "2",
            "--items",
            "2",
            "--bad-day",
            DAY.isoformat(),
            "--bad-records",
            "3",
        ],
    )
    assert landed.exit_code == 0, landed.output
    settings = load_settings()
    lake = Lake.from_settings(settings)
    script = tmp_path / "gate_killed.py"  # a file, not `-c`: pyspark exits from a `-c` main module
    script.write_text(GATE_KILLED)
    run = subprocess.run(
        [sys.executable, str(script), point, DAY.isoformat()],
        cwd=REPO_ROOT,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
    )
    assert run.returncode == -signal.SIGKILL, run.stderr[-3000:]
    assert _where(lake) == (True, [])  # still in raw, no half entry listed

    with pytest.raises(GateFailed):  # Airflow's retry of the gate task
        gate_raw_partition(lake, settings.expectations_dir, load_spec("demand", settings.specs_dir), DAY)
    assert _where(lake) == (False, ["raw"])
    entries = lake.fs.ls(lake.partition("quarantine", "demand", DAY), detail=False)
    assert [e.rstrip("/").rsplit("/", 1)[-1] for e in entries] == ["raw"]  # completed, not a second entry beside
    entry = entries[0]
    assert lake.fs.exists(f"{entry}/report.html") and lake.fs.exists(f"{entry}/data")
