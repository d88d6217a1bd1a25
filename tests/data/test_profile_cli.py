"""`conveyor profile`: the raw suite's null shares re-profiled from what has actually landed."""

from __future__ import annotations

import json
import shutil

import numpy as np
from typer.testing import CliRunner

from ml_tasks.core.settings import load_settings
from ml_tasks.demo.demand_data import DemandDataConfig, generate_day, series_params

from ..conftest import DAY0


def test_profile_turns_fixed_null_shares_into_profiled_ones_from_landed_history(tmp_path, lake, settings):
    from ml_tasks.platform.cli.app import app

    expectations = tmp_path / "expectations"
    shutil.copytree(load_settings().expectations_dir, expectations)
    cfg = DemandDataConfig(stores=2, items=3, days=5, start=DAY0)
    params = series_params(cfg)
    for day in cfg.dates:
        frame = generate_day(cfg, params, day)
        frame.loc[np.arange(len(frame)) % 25 == 0, "price"] = np.nan  # 4% of prices missing, everywhere
        lake.write_partition(frame, "raw", "demand", day)
    env = {
        "CONVEYOR_HOME": str(settings.home),
        "CONVEYOR_LAKE_URI": settings.lake_uri,
        "CONVEYOR_EXPECTATIONS_DIR": str(expectations),
    }
    result = CliRunner().invoke(app, ["profile", "demand", "--dry-run"], env=env)
    assert result.exit_code == 0 and "price: null share 0.0 -> 0.041667" in result.output, result.output
    assert "0.041667" not in (expectations / "demand_raw.json").read_text()
    result = CliRunner().invoke(app, ["profile", "demand"], env=env)
    assert result.exit_code == 0 and "wrote" in result.output
    suite = json.loads((expectations / "demand_raw.json").read_text())
    price = [
        e
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_not_be_null" and e["kwargs"]["column"] == "price"
    ][0]
    assert price["meta"]["null_share"] == 0.041667 and "mostly" not in price["kwargs"]
