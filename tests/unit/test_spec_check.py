"""`conveyor validate`: every shipped spec passes; each kind of mistake is named with its fix."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ml_tasks.settings import load_settings
from ml_tasks.spec_check import check_all

SHIPPED = load_settings()
DEMAND = (SHIPPED.specs_dir / "demand.yaml").read_text()


def test_every_shipped_spec_is_valid():
    results = check_all(SHIPPED.model_copy(update={"lake_uri": "/nonexistent-lake"}))
    assert results and all(problems == [] for problems in results.values()), results


@pytest.mark.parametrize("old,new,key,says", [
    ("holdout_days: 7", "holdout_days: 7\n  holdout_dayz: 3", "training.holdout_dayz", "did you mean 'holdout_days'"),
    ("models: [lightgbm, lightning]", "models: [lightgbm, xgboost]", "training.models.1", "'lightgbm' or 'lightning'"),
    ('schedule: "0 2 * * *"', 'schedule: "0 25 * * *"', "training.schedule", "not a cron expression"),
    ("module: spark_jobs.demand_features", "module: spark_jobs.nope", "features.module", "cannot be imported"),
    ("raw_suite: demand_raw", "raw_suite: nope_raw", "data.raw_suite", "no suite"),
    ("target: units", "target: sales", "data.target", "'sales' is not a raw column"),
    ("keys: [store_id, item_id]", "keys: [store_id, sku]", "data.keys", "'sku' is not a raw column"),
    ("columns: [price, promo,", "columns: [price, promo, margin,", "drift.columns", "'margin' is not a feature"),
])
def test_each_mistake_names_file_key_and_fix(tmp_path, old, new, key, says):
    assert old in DEMAND
    (tmp_path / "demand.yaml").write_text(DEMAND.replace(old, new))
    settings = SHIPPED.model_copy(update={"specs_dir": tmp_path, "lake_uri": str(tmp_path / "lake")})
    problems = check_all(settings)["demand"]
    assert any(p.key == key and says in p.message for p in problems), [str(p) for p in problems]
    assert all(str(p).startswith(str(tmp_path / "demand.yaml")) for p in problems)


def test_the_cli_exits_non_zero_and_lists_each_problem(tmp_path, monkeypatch):
    from ml_tasks.cli import app

    (tmp_path / "demand.yaml").write_text(DEMAND.replace("target: units", "target: sales"))
    monkeypatch.setenv("CONVEYOR_SPECS_DIR", str(tmp_path))
    monkeypatch.setenv("CONVEYOR_LAKE_URI", str(tmp_path / "lake"))
    result = CliRunner().invoke(app, ["validate"])
    assert result.exit_code == 1 and "demand: 1 problem(s)" in result.output and "data.target" in result.output
