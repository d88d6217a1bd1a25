"""An alias move and its audit record are one unit, on a real MLflow registry: a process SIGKILLed
between the alias move and its record leaves an intent that the next move (or `conveyor history
--repair`) completes; one killed before `@champion` moved is reverted, `@previous_champion` put back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import mlflow
import pytest
from typer.testing import CliRunner

from ml_tasks.core.settings import REPO_ROOT, load_settings
from ml_tasks.platform.cli.app import app
from ml_tasks.registry import audit
from ml_tasks.registry import client as registry
from tests.security.constant_model import Constant

# Moves @champion v1 -> v2 and is SIGKILLed at the named point: "record" (the alias moved, the record
# not completed) or "champion" (@previous_champion moved, @champion not yet).
KILLED_MOVE = r"""
import os, signal, sys
from ml_tasks.core import tracking
from ml_tasks.core.settings import load_settings
from ml_tasks.registry import audit
def die(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)
settings = load_settings()
client = tracking.connect(settings)
if sys.argv[1] == "record":
    audit._finish = die
else:
    real = client.set_registered_model_alias
    client.set_registered_model_alias = lambda name, alias, v: die() if alias == "champion" else real(name, alias, v)
audit.move_alias(client, audit.AliasMove("demand", "champion", "1", "2", "better", {}), {"trigger": "test"},
                 settings=settings)
"""


@pytest.fixture()
def registry_with_champion(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("CONVEYOR_HOME", str(tmp_path))
    monkeypatch.setenv("CONVEYOR_MLFLOW_TRACKING_URI", uri)
    settings = load_settings()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment("models", artifact_location=str(tmp_path / "artifacts"))
    for level in (1.0, 2.0):
        with mlflow.start_run(experiment_id=experiment):
            mlflow.pyfunc.log_model(name="model", python_model=Constant(level), registered_model_name="demand")
    client = mlflow.MlflowClient()
    audit.move_alias(client, audit.AliasMove("demand", "champion", None, "1", "first", {}), settings=settings)
    return settings, client, tmp_path


def _killed(tmp_path, point: str) -> None:
    script = tmp_path / "killed_move.py"  # a file, not `-c`: pyspark exits from a `-c` main module
    script.write_text(KILLED_MOVE)
    run = subprocess.run(
        [sys.executable, str(script), point],
        cwd=REPO_ROOT,
        timeout=120,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert run.returncode == -signal.SIGKILL, run.stderr[-3000:]


def _alias(client, alias: str) -> str | None:
    found = registry.version_by_alias(client, "demand", alias)
    return str(found.version) if found else None


def test_a_move_killed_before_its_record_is_completed_by_history_repair(registry_with_champion):
    settings, client, tmp_path = registry_with_champion
    _killed(tmp_path, "record")
    assert _alias(client, "champion") == "2"
    assert [r["state"] for r in audit.history(settings, "demand")] == ["done", "intended"]
    out = CliRunner().invoke(app, ["history", "demand", "--repair"])
    assert out.exit_code == 0, out.output
    assert "repaired @champion v1 -> v2: completed" in out.output and "INTENDED" not in out.output
    moves = audit.history(settings, "demand")
    assert [(r["from_version"] if "from_version" in r else None, r["to_version"], r["state"]) for r in moves] == [
        (None, "1", "done"),
        ("1", "2", "done"),
    ]
    assert audit.repair(settings, "demand") == []  # settled once


def test_a_move_killed_before_the_champion_moved_is_reverted_by_the_next_move(registry_with_champion):
    settings, client, tmp_path = registry_with_champion
    _killed(tmp_path, "champion")
    assert (_alias(client, "champion"), _alias(client, "previous_champion")) == ("1", "1")  # half done
    # the next alias move (here a challenger's, as the next training run's gate makes) settles it first
    audit.move_alias(client, audit.AliasMove("demand", "challenger", None, "2", "trained", {}), settings=settings)
    assert (_alias(client, "champion"), _alias(client, "previous_champion")) == ("1", None)
    states = [(r["alias"], r["to_version"], r["state"]) for r in audit.history(settings, "demand", alias=None)]
    assert states == [("champion", "1", "done"), ("champion", "2", "reverted"), ("challenger", "2", "done")]
    reverted = audit.history(settings, "demand")[1]
    assert reverted["repaired"].startswith("reverted: the alias had not moved")


def test_history_follows_the_move_sequence_not_the_clocks_of_the_machines(registry_with_champion, monkeypatch):
    settings, client, _ = registry_with_champion
    create_run = client.create_run
    # a worker whose clock is a day behind records the second move
    monkeypatch.setattr(client, "create_run", lambda *a, **k: create_run(*a, start_time=1_000, **k))
    audit.move_alias(client, audit.AliasMove("demand", "champion", "1", "2", "second", {}), settings=settings)
    monkeypatch.setattr(client, "create_run", create_run)
    audit.move_alias(client, audit.AliasMove("demand", "champion", "2", "1", "third", {}), settings=settings)
    moves = audit.history(settings, "demand")
    assert [(m["reason"], m["seq"]) for m in moves] == [("first", "1"), ("second", "2"), ("third", "3")]


def test_a_retried_promote_that_finds_its_move_done_completes_the_record(registry_with_champion):
    """The promote task killed after `@champion` moved: its retry sees the champion already is its
    version and moves nothing, so the retry itself must complete the open record (found by the
    distributed soak: the record stayed open, its audit run RUNNING)."""
    from ml_tasks.core.spec import load_spec
    from ml_tasks.registry.promotion import apply_promotion

    settings, client, tmp_path = registry_with_champion
    _killed(tmp_path, "record")
    assert [r["state"] for r in audit.history(settings, "demand")] == ["done", "intended"]
    gated = {
        "version": "2",
        "promote": True,
        "gated_against": "1",
        "forced": False,
        "reason": "better",
        "evidence": {},
        "checks": [],
    }
    spec = load_spec("demand", settings.specs_dir)
    outcome = apply_promotion(settings, spec, {"version": "2"}, gated, {"trigger": "retry"})
    assert outcome["champion"] == "2" and outcome["promoted"]
    assert [r["state"] for r in audit.history(settings, "demand")] == ["done", "done"]
    assert str(registry.version_by_alias(client, "demand", registry.CHAMPION).version) == "2"
