"""`conveyor validate`: every shipped spec passes; each kind of mistake is named with its fix."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ml_tasks.core.settings import load_settings
from ml_tasks.platform.cli.spec_check import check_all

SHIPPED = load_settings()
DEMAND = (SHIPPED.specs_dir / "demand.yaml").read_text()


def test_every_shipped_spec_is_valid():
    results = check_all(SHIPPED.model_copy(update={"lake_uri": "/nonexistent-lake"}))
    assert results and all(problems == [] for problems in results.values()), results


@pytest.mark.parametrize(
    "old,new,key,says",
    [
        (
            "holdout_days: 7",
            "holdout_days: 7\n  holdout_dayz: 3",
            "training.holdout_dayz",
            "did you mean 'holdout_days'",
        ),
        (
            "models: [lightgbm, lightning]",
            "models: [lightgbm, xgboost]",
            "training.models.1",
            "'lightning' or 'statsforecast'",
        ),
        ('schedule: "0 2 * * *"', 'schedule: "0 25 * * *"', "training.schedule", "not a cron expression"),
        ("module: spark_jobs.demand_features", "module: spark_jobs.nope", "features.module", "cannot be imported"),
        ("raw_suite: demand_raw", "raw_suite: nope_raw", "data.raw_suite", "no suite"),
        ("target: units", "target: sales", "data.target", "'sales' is not a raw column"),
        ("keys: [store_id, item_id]", "keys: [store_id, sku]", "data.keys", "'sku' is not a raw column"),
        ("columns: [price, promo,", "columns: [price, promo, margin,", "drift.columns", "'margin' is not a feature"),
    ],
)
def test_each_mistake_names_file_key_and_fix(tmp_path, old, new, key, says):
    assert old in DEMAND
    (tmp_path / "demand.yaml").write_text(DEMAND.replace(old, new))
    settings = SHIPPED.model_copy(update={"specs_dir": tmp_path, "lake_uri": str(tmp_path / "lake")})
    problems = check_all(settings)["demand"]
    assert any(p.key == key and says in p.message for p in problems), [str(p) for p in problems]
    assert all(str(p).startswith(str(tmp_path / "demand.yaml")) for p in problems)


def test_the_cli_exits_non_zero_and_lists_each_problem(tmp_path, monkeypatch):
    from ml_tasks.platform.cli.app import app

    (tmp_path / "demand.yaml").write_text(DEMAND.replace("target: units", "target: sales"))
    monkeypatch.setenv("CONVEYOR_SPECS_DIR", str(tmp_path))
    monkeypatch.setenv("CONVEYOR_LAKE_URI", str(tmp_path / "lake"))
    result = CliRunner().invoke(app, ["validate"])
    assert result.exit_code == 1 and "demand: 1 problem(s)" in result.output and "data.target" in result.output


def test_the_target_as_an_input_is_refused_with_the_fix(tmp_path, monkeypatch):
    from ml_tasks.platform.cli.app import app

    text = DEMAND.replace("known_ahead: {is_holiday: int,", "known_ahead: {units: double, is_holiday: int,")
    (tmp_path / "demand.yaml").write_text(text)
    monkeypatch.setenv("CONVEYOR_SPECS_DIR", str(tmp_path))
    monkeypatch.setenv("CONVEYOR_LAKE_URI", str(tmp_path / "lake"))
    result = CliRunner().invoke(app, ["validate", "demand"])
    assert result.exit_code == 1, result.output
    assert "features.known_ahead lists the target 'units'" in result.output
    assert "remove it" in result.output


def _land_proxy_data(lake):
    import numpy as np

    from ml_tasks.demo.demand_data import DemandDataConfig, generate_day, series_params

    cfg = DemandDataConfig(stores=1, items=3, days=3)
    params = series_params(cfg)
    for day in cfg.dates:
        frame = generate_day(cfg, params, day)
        rng = np.random.default_rng(day.toordinal())
        frame["online"] = rng.integers(0, 3, len(frame)).clip(max=frame["units"])
        frame["in_store"] = frame["units"] - frame["online"]  # units = online + in_store
        frame["units_reported"] = frame["units"] * 1.0 + rng.normal(0, 0.01, len(frame))
        lake.write_partition(frame, "raw", "demand", day)


@pytest.mark.parametrize(
    "added,says",
    [
        ("units_reported: double", "units_reported: correlation +1.000"),
        ("online: double, in_store: double", "online, in_store: the target equals online + in_store on 100.0% of rows"),
    ],
)
def test_known_ahead_inputs_that_nearly_are_the_target_are_refused_unless_acknowledged(tmp_path, added, says):
    from ml_tasks.core.lake import Lake

    settings = SHIPPED.model_copy(update={"specs_dir": tmp_path, "lake_uri": str(tmp_path / "lake")})
    _land_proxy_data(Lake.from_settings(settings))
    text = DEMAND.replace("known_ahead: {is_holiday: int,", f"known_ahead: {{{added}, is_holiday: int,")
    (tmp_path / "demand.yaml").write_text(text)
    problems = check_all(settings)["demand"]
    assert any(
        p.key == "features.known_ahead" and says in p.message and "acknowledged_target_proxies" in p.message
        for p in problems
    ), [str(p) for p in problems]
    names = [c.split(":")[0].strip() for c in added.split(",")]
    acknowledged = text.replace(
        "  known_ahead:", f"  acknowledged_target_proxies: [{', '.join(names)}]\n  known_ahead:"
    )
    (tmp_path / "demand.yaml").write_text(acknowledged)
    assert not [p for p in check_all(settings)["demand"] if p.key == "features.known_ahead"]
