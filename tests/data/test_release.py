"""Acting on the quarantine: a real short day released with one command, the newest day left pending."""

from __future__ import annotations

from datetime import date

import pytest
from typer.testing import CliRunner

from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import load_settings
from ml_tasks.data.gate_records import VALIDATION_RECORD, validation_lineage
from ml_tasks.platform.cli.app import app

pytestmark = [pytest.mark.spark, pytest.mark.timeout(600)]
runner = CliRunner()
STORM, NEWEST = date(2026, 3, 11), date(2026, 3, 13)


def _cli(*args: str):
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_a_storm_day_is_released_as_it_is_and_the_newest_partial_day_waits(tmp_path, monkeypatch, spark):
    monkeypatch.setenv("CONVEYOR_HOME", str(tmp_path))
    code, out = _cli("generate", "--days", "12", "--start", "2026-03-02", "--stores", "2", "--items", "2")
    assert code == 0, out
    lake = Lake.from_settings(load_settings())
    full = lake.read_partition("raw", "demand", NEWEST)
    for day in (STORM, NEWEST):  # a storm closed most stores; the newest day is only partly delivered
        lake.write_partition(
            lake.read_partition("raw", "demand", day).sample(frac=0.3, random_state=1), "raw", "demand", day
        )

    code, out = _cli("backfill-features", "demand")
    assert code == 1 and "quarantined 1; pending 1" in out, out
    assert f"{NEWEST}: pending, still arriving? expect_table_row_count_to_be_between(table)" in out
    assert lake.exists("raw", "demand", NEWEST) and not lake.exists("features", "demand", NEWEST)
    assert not lake.exists("raw", "demand", STORM) and f"{STORM}  raw" in _cli("quarantine", "demand")[1]

    code, out = _cli("quarantine", "release", "demand", str(STORM))
    assert code == 1 and "give a --reason" in out
    code, out = _cli("quarantine", "release", "demand", str(STORM), "--reason", "storm: 9 of 12 stores shut")
    assert (
        code == 0 and "(it failed expect_table_row_count_to_be_between(table))" in out and "published 1 day(s)" in out
    )
    record = lake.read_json(f"{lake.partition('features', 'demand', STORM)}/{VALIDATION_RECORD}")
    assert record["raw"]["released"]["reason"] == "storm: 9 of 12 stores shut" and record["features"]["passed"]
    assert "no quarantined partitions" in _cli("quarantine", "demand")[1]
    code, out = _cli("quarantine", "release", "demand", str(STORM), "--reason", "again")
    assert code == 1 and "no quarantined raw data to release" in out
    from conveyor_plugin.overview import day_outcomes

    storm = next(d for d in day_outcomes(lake, "demand") if d["dt"] == str(STORM))
    assert storm["status"] == "released" and "storm: 9 of 12 stores shut" in storm["reason"]
    summary = validation_lineage(lake, load_spec_demand(), [STORM, date(2026, 3, 12)])["summary"]
    assert summary["released"] == {str(STORM): "storm: 9 of 12 stores shut"} and summary["passed_both_gates"] == 1

    lake.write_partition(full, "raw", "demand", NEWEST)  # the rest of the newest day arrives
    code, out = _cli("backfill-features", "demand", str(NEWEST), str(NEWEST))
    assert code == 0 and "published 1 day(s); quarantined 0" in out, out


def load_spec_demand():
    from ml_tasks.core.spec import load_spec

    return load_spec("demand", load_settings().specs_dir)
