"""Verified model artifacts against a real MLflow registry and real pyfunc models: registration
records the sha256 of every file on the version; scoring, the promotion gate and serving load only
files that match it, refuse a tampered one with an error naming the file and one alert, and a version
registered without a digest is refused until someone records one on purpose."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import REPO_ROOT, load_settings
from ml_tasks.platform.cli.app import app
from ml_tasks.registry import artifacts
from ml_tasks.registry import client as registry
from ml_tasks.registry.promotion import predict_version
from ml_tasks.serving.batch import score_partition
from ml_tasks.serving.holder import ChampionHolder
from tests.e2e.stack_helpers import alert_receiver
from tests.security.constant_model import Constant

DAY = date(2026, 3, 9)


@pytest.fixture()
def stack(tmp_path, monkeypatch):
    """A registry (SQLite, artifacts on local disk) and a lake under ``tmp_path``, alerts to a local receiver."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with alert_receiver() as (hook, alerts):
        for key, value in {
            "CONVEYOR_HOME": str(tmp_path),
            "CONVEYOR_MLFLOW_TRACKING_URI": uri,
            "CONVEYOR_ALERT_WEBHOOK_URL": hook,
        }.items():
            monkeypatch.setenv(key, value)
        settings = load_settings()
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        experiment = mlflow.create_experiment("artifacts", artifact_location=str(tmp_path / "artifacts"))
        yield {"settings": settings, "alerts": alerts, "experiment": experiment, "store": tmp_path / "artifacts"}


def _register(stack, name: str, level: float, record: bool = True) -> tuple[str, set[Path]]:
    """Log and register a Constant model; returns its version and the files it wrote to the store."""
    before = {p for p in stack["store"].rglob("*") if p.is_file()}
    with mlflow.start_run(experiment_id=stack["experiment"]):
        info = mlflow.pyfunc.log_model(name="model", python_model=Constant(level), registered_model_name=name)
    version = str(info.registered_model_version)
    if record:
        artifacts.record_digest(stack["settings"], name, version)
    return version, {p for p in stack["store"].rglob("*") if p.is_file()} - before


def _tamper(files: set[Path], filename: str = "python_model.pkl") -> Path:
    """Append to one of a version's files in the artifact store, as anyone who can write the store could."""
    target = next(p for p in files if p.name == filename)
    with target.open("ab") as fh:
        fh.write(b"\nimport os; os.system('id')\n")
    return target


def _features(settings, dt: date) -> None:
    frame = pd.DataFrame(
        {
            "store_id": ["s1", "s2"],
            "item_id": ["i1", "i1"],
            "ts": pd.to_datetime([f"{dt} 10:00", f"{dt} 11:00"]),
            "price": [1.0, 2.0],
        }
    )
    Lake.from_settings(settings).write_partition(frame, "features", "demand", dt)


def test_registration_records_the_digest_of_every_file(stack):
    version, files = _register(stack, "demand", 1.0)
    tags = mlflow.MlflowClient().get_model_version("demand", version).tags
    listed = __import__("json").loads(tags[artifacts.FILES_TAG])
    assert {"MLmodel", "python_model.pkl"} <= set(listed), listed
    assert re.fullmatch(r"[0-9a-f]{64}", tags[artifacts.DIGEST_TAG])
    assert artifacts.tree_digest(listed) == tags[artifacts.DIGEST_TAG]
    # recording again never replaces what later loads trust
    _tamper(files)
    assert artifacts.record_digest(stack["settings"], "demand", version) == tags[artifacts.DIGEST_TAG]


def test_scoring_and_the_gate_refuse_a_tampered_model_with_one_alert(stack, demand_spec):
    settings = stack["settings"]
    version, files = _register(stack, "demand", 3.0)
    mlflow.MlflowClient().set_registered_model_alias("demand", registry.CHAMPION, version)
    _features(settings, DAY)
    assert score_partition(settings, demand_spec, DAY)["rows"] == 2  # untouched: scored
    _tamper(files)
    later = date(2026, 3, 10)
    _features(settings, later)
    with pytest.raises(artifacts.UnverifiedModelError, match=r"do not match the sha256.*python_model\.pkl"):
        score_partition(settings, demand_spec, later)
    assert not Lake.from_settings(settings).exists("predictions", "demand", later)
    with pytest.raises(artifacts.UnverifiedModelError, match="refusing to load it"):
        predict_version(settings, demand_spec, version, pd.DataFrame({"price": [1.0]}))
    unverified = [a for a in stack["alerts"] if a["event"] == "model_unverified"]
    assert len(unverified) == 1 and unverified[0]["details"]["version"] == version, stack["alerts"]
    assert "python_model.pkl" in unverified[0]["details"]["error"]


def test_serving_keeps_the_old_champion_when_the_new_one_was_tampered(stack):
    settings, client = stack["settings"], mlflow.MlflowClient()
    first, _ = _register(stack, "demand", 1.0)
    client.set_registered_model_alias("demand", registry.CHAMPION, first)
    holder = ChampionHolder(settings, "demand")
    holder.refresh()
    assert holder.served.version == first
    second, files = _register(stack, "demand", 2.0)
    _tamper(files, "MLmodel")
    client.set_registered_model_alias("demand", registry.CHAMPION, second)
    holder.refresh()
    assert holder.served.version == first
    assert holder.reload_error["version"] == second and "do not match" in holder.reload_error["error"]
    assert float(holder.served.model.predict(pd.DataFrame({"x": [0.0]}))[0]) == 1.0


def test_a_version_without_a_digest_is_refused_until_one_is_recorded(stack, monkeypatch):
    settings = stack["settings"]
    version, _ = _register(stack, "demand", 5.0, record=False)
    with pytest.raises(artifacts.UnverifiedModelError, match=f"verify-model demand {version} --record"):
        artifacts.load_verified(settings, "demand", version)
    runner = CliRunner()
    refused = runner.invoke(app, ["verify-model", "demand", version])
    assert refused.exit_code == 1 and "carries no artifact digest" in refused.output, refused.output
    recorded = runner.invoke(app, ["verify-model", "demand", version, "--record"])
    assert recorded.exit_code == 0, recorded.output
    checked = runner.invoke(app, ["verify-model", "demand", version])
    assert checked.exit_code == 0 and "files match" in checked.output, checked.output
    model = artifacts.load_verified(settings, "demand", version)
    assert float(model.predict(pd.DataFrame({"x": [0.0]}))[0]) == 5.0
    traversal = runner.invoke(app, ["verify-model", "../x", "1"])
    assert traversal.exit_code != 0


def test_an_unrecorded_version_loads_when_digests_are_not_required(stack, caplog):
    settings = stack["settings"].model_copy(update={"model_digest_required": False})
    version, _ = _register(stack, "demand", 7.0, record=False)
    model = artifacts.load_verified(settings, "demand", version)
    assert float(model.predict(pd.DataFrame({"x": [0.0]}))[0]) == 7.0
    assert "loading it unverified" in caplog.text


def test_no_module_loads_a_registered_model_around_the_check():
    """Every load of a registered model goes through ``load_verified``; the ensemble's own code loads its
    members from the folder ``load_verified`` already checked."""
    allowed = {"ml_tasks/registry/artifacts.py", "ml_tasks/training/model_code/ensemble_model.py"}
    loaders = re.compile(r"(pyfunc|lightgbm|pytorch|sklearn)\.load_model\(")
    offenders = [
        str(p.relative_to(REPO_ROOT))
        for p in (REPO_ROOT / "ml_tasks").rglob("*.py")
        if loaders.search(p.read_text()) and str(p.relative_to(REPO_ROOT)) not in allowed
    ]
    assert not offenders, f"load registered models with ml_tasks.registry.artifacts.load_verified: {offenders}"


def test_a_rollback_to_a_version_whose_files_changed_is_refused_and_the_champion_stays(stack):
    from ml_tasks.registry.audit import AliasMove, move_alias, rollback

    old, old_files = _register(stack, "demand", 1.0)
    new, _ = _register(stack, "demand", 2.0)
    client = mlflow.MlflowClient()
    move_alias(client, AliasMove("demand", registry.CHAMPION, None, new, "first", {}), settings=stack["settings"])
    _tamper(old_files)
    with pytest.raises(artifacts.UnverifiedModelError, match="python_model.pkl"):
        rollback(stack["settings"], "demand", old, "back to the old one")
    assert str(registry.version_by_alias(client, "demand", registry.CHAMPION).version) == new
    assert [a["event"] for a in stack["alerts"]] == ["model_unverified"]
