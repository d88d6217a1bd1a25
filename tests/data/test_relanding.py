"""Landing a day again: the quarantine it replaces is marked so, the day's story says what happened in
order, and `conveyor land` tells Airflow which days to re-run (or says plainly that it could not)."""

from datetime import date

import pytest
from typer.testing import CliRunner

from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import load_settings
from ml_tasks.core.spec import load_spec
from ml_tasks.data import day_history
from ml_tasks.data.gates import GateFailed, gate_raw_partition
from ml_tasks.data.landing import land_files
from ml_tasks.data.quarantine import list_quarantine
from ml_tasks.demo.demand_data import DemandDataConfig, generate_day, series_params
from ml_tasks.platform.airflow_api.relanding import MAX_DAYS, days_to_rerun
from ml_tasks.platform.cli.app import app

DAY = date(2026, 3, 2)


@pytest.fixture
def files(tmp_path):
    cfg = DemandDataConfig(stores=2, items=3, days=1, start=DAY)
    good = generate_day(cfg, series_params(cfg), DAY)
    good.to_parquet(tmp_path / "good.parquet")
    good.assign(units=-5).to_parquet(tmp_path / "broken.parquet")  # a feed that sent negative sales
    return tmp_path


def test_a_fixed_day_landed_again_replaces_its_quarantine_and_the_story_says_so(settings, lake, demand_spec, files):
    first = land_files(lake, demand_spec, [files / "broken.parquet"], say=lambda m: None)
    assert first.days == [DAY] and first.again == []
    with pytest.raises(GateFailed):
        gate_raw_partition(lake, settings.expectations_dir, demand_spec, DAY)  # the real raw gate quarantines it
    assert [e["stage"] for e in list_quarantine(lake, "demand")] == ["raw"] and not lake.exists("raw", "demand", DAY)

    again = land_files(lake, demand_spec, [files / "good.parquet"], say=lambda m: None)
    assert again.again == [DAY] and again.replaced[DAY] == ["quarantined at the raw gate"]
    assert list_quarantine(lake, "demand") == []  # the verdict is on data that is no longer the day's
    assert lake.fs.exists(f"{lake.partition('quarantine', 'demand', DAY)}/raw/data")  # its files stay, for the record
    gate_raw_partition(lake, settings.expectations_dir, demand_spec, DAY)  # the fixed day passes

    story = day_history.story(lake, "demand", DAY)
    assert [e["event"] for e in story] == ["landed", "quarantined", "landed"], story
    assert story[0]["files"] == ["broken.parquet"] and story[0]["replaced"] == []
    assert "expect_column_values_to_be_between(units)" in story[1]["failed"] and story[1]["stage"] == "raw"
    assert story[2]["files"] == ["good.parquet"] and story[2]["replaced"] == ["quarantined at the raw gate"]
    assert story[2]["rows"] == 2 * 3 * 24


def test_the_days_an_asset_event_names_are_checked_before_anything_runs():
    assert days_to_rerun("demand", [{"days": ["2026-03-02", "2026-03-01"]}, {"days": ["2026-03-02"]}, {}]) == [
        "2026-03-01",
        "2026-03-02",
    ]
    with pytest.raises(ValueError, match="names '2026-03-02; rm -rf' as a day"):
        days_to_rerun("demand", [{"days": ["2026-03-02; rm -rf"]}])
    with pytest.raises(ValueError, match="expected a list of dates"):
        days_to_rerun("demand", [{"days": "2026-03-02"}])
    many = [date(2026, 1, 1).replace(day=1 + k % 28, month=1 + k // 28).isoformat() for k in range(MAX_DAYS + 1)]
    with pytest.raises(
        ValueError, match=f"{MAX_DAYS + 1} days landed again, more than {MAX_DAYS}: .*backfill-features"
    ):
        days_to_rerun("demand", [{"days": many}])


def test_land_says_what_to_run_when_airflow_does_not_answer(tmp_path, files, monkeypatch):
    from ml_tasks.platform.stack.environment import free_port

    port = free_port()  # nothing listens there
    monkeypatch.setenv("CONVEYOR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CONVEYOR_AIRFLOW_PORT", str(port))
    runner = CliRunner()
    first = runner.invoke(app, ["land", "demand", str(files / "good.parquet")])
    assert first.exit_code == 0 and "again" not in first.output and "next: conveyor validate demand" in first.output
    again = runner.invoke(app, ["land", "demand", str(files / "good.parquet")])
    assert again.exit_code == 0, again.output
    assert f"landed 1 day(s), {DAY} .. {DAY}, 1 of them again" in again.output
    assert "(replaces: raw)" in again.output
    assert (
        f"Airflow does not answer at http://127.0.0.1:{port}, so nothing re-runs by itself: "
        f"`conveyor backfill-features demand {DAY} {DAY}` rebuilds them"
    ) in again.output, again.output
    assert Lake.from_settings(load_settings()).partitions("raw", "demand") == [DAY]
    assert load_spec("demand", load_settings().specs_dir).name == "demand"
