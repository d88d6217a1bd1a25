"""`conveyor quarantine` and `conveyor generate` from the command line."""

from datetime import date

import pandas as pd
from typer.testing import CliRunner

from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import load_settings
from ml_tasks.core.spec import load_spec
from ml_tasks.data.gates import GateFailed, gate_raw_partition
from ml_tasks.platform.cli.app import app

runner = CliRunner()


def test_quarantine_command_lists_days_with_their_reasons(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVEYOR_HOME", str(tmp_path))
    assert "no quarantined partitions" in runner.invoke(app, ["quarantine", "demand"]).output

    result = runner.invoke(
        app,
        [
            "generate",
            "--days",
            "1",
            "--start",
            "2026-03-02",
            "--stores",
            "2",
            "--items",
            "2",
            "--bad-day",
            "2026-03-02",
            "--bad-records",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    settings = load_settings()
    try:
        gate_raw_partition(
            Lake.from_settings(settings),
            settings.expectations_dir,
            load_spec("demand", settings.specs_dir),
            date(2026, 3, 2),
        )
    except GateFailed:
        pass
    out = runner.invoke(app, ["quarantine", "demand"]).output
    assert "2026-03-02" in out and "raw" in out
    assert "expect_column_values_to_be_between(units)" in out and "expect_compound_columns_to_be_unique" in out
    assert "report.html" in out


def test_generate_rejects_an_unknown_bad_record_day_format(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVEYOR_HOME", str(tmp_path))
    result = runner.invoke(app, ["generate", "--days", "1", "--bad-day", "03/02/2026", "--bad-records", "1"])
    assert result.exit_code == 1 and "--bad-day '03/02/2026' is not a date; expected YYYY-MM-DD" in result.output
    assert Lake.from_settings(load_settings()).partitions("raw", "demand") == []


def test_generated_days_land_as_parquet_partitions(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVEYOR_HOME", str(tmp_path))
    result = runner.invoke(app, ["generate", "--days", "3", "--start", "2026-03-02", "--stores", "1", "--items", "2"])
    assert result.exit_code == 0, result.output
    lake = Lake.from_settings(load_settings())
    assert len(lake.partitions("raw", "demand")) == 3
    assert isinstance(lake.read_partition("raw", "demand", date(2026, 3, 3)), pd.DataFrame)
