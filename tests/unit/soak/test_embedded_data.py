"""The soak run's data days: the plan's events really change what lands, and a repeated delivery
lands the same rows once."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.core.spec import load_spec
from ml_tasks.demo.demand_data import generate_day
from soak.embedded import Soak
from soak.plan import make_plan
from soak.settings import soak_specs

START = date(2026, 3, 1)


def _soak(tmp_path, days: int = 30) -> Soak:
    return Soak(ConveyorSettings(home=tmp_path), make_plan(7, days, START), say=lambda m: None)


def _day(soak: Soak, event: str):
    return next(d for d in soak.plan.days if event in d.events)


def test_a_clean_day_continues_the_seeded_history(tmp_path):
    soak = _soak(tmp_path)
    clean = next(d for d in soak.plan.days if not d.events)
    pd.testing.assert_frame_equal(soak.day_frame(clean), generate_day(soak.data, soak.params, clean.dt))
    assert soak.data.start == START - timedelta(days=42)  # seed_demo's history (42 days), continued


def test_bad_drift_and_messy_days_differ_as_planned(tmp_path):
    soak = _soak(tmp_path)
    bad = soak.day_frame(_day(soak, "bad"))
    assert (bad["units"] < 0).sum() >= 25 and bad["price"].isna().sum() >= 25
    assert bad.duplicated(["ts", "store_id", "item_id"]).sum() >= 25
    drift = _day(soak, "drift")
    assert soak.day_frame(drift)["units"].mean() != generate_day(soak.data, soak.params, drift.dt)["units"].mean()
    messy = soak.day_frame(_day(soak, "messy"))
    assert "temperature_c" in messy and not messy["ts"].is_monotonic_increasing


def test_a_repeated_delivery_lands_the_same_rows_once(tmp_path):
    soak = _soak(tmp_path)
    day = _day(soak, "repeat")
    soak.land(soak.day_frame(day), "demand", day.dt)
    lake = Lake.from_settings(soak.settings)
    first = lake.read_partition("raw", "demand", day.dt)
    soak.land(soak.day_frame(day), "demand", day.dt, delivery=2)
    again = lake.read_partition("raw", "demand", day.dt)
    pd.testing.assert_frame_equal(first, again)
    assert len(again) == 2 * 6 * 24 and lake.partitions("raw", "demand") == [day.dt]


def test_a_messy_day_is_recorded_as_it_landed(tmp_path):
    soak = _soak(tmp_path)
    day = _day(soak, "messy")
    frame = soak.day_frame(day)
    soak.land(frame, "demand", day.dt)
    soak.land(frame, "demand", day.dt, delivery=2)  # delivered twice: still landed once
    facts = soak.raw_facts(day.dt)
    keys = ["store_id", "item_id", "ts"]
    assert facts == {
        "rows": len(frame.drop_duplicates(keys)),
        "full_day": 2 * 6 * 24,
        "null_sensor": int(frame.drop_duplicates()["temperature_c"].isna().sum()),
        "repeated_keys": 0,
    }
    assert 0 < facts["null_sensor"] and facts["rows"] <= facts["full_day"]
    clean = next(d for d in soak.plan.days if not d.events)
    soak.land(soak.day_frame(clean), "demand", clean.dt)
    assert soak.raw_facts(clean.dt)["null_sensor"] == 0  # the generator's clean days have no sensor column


def test_the_soak_runs_the_shipped_specs_with_a_lighter_training_budget(tmp_path):
    shipped = ConveyorSettings(home=tmp_path).specs_dir
    specs = soak_specs(shipped, tmp_path / "specs")
    for name in ("demand", "churn"):
        original, light = load_spec(name, shipped), load_spec(name, specs)
        assert light.training.backtest_folds == 1 and light.training.lightning.max_epochs == 4
        assert original.training.backtest_folds > 1 and original.training.lightning.max_epochs > 4
        # all else as shipped: data, features, promotion gate, drift checks, schedules
        for part in ("data", "features", "promotion", "drift", "scoring"):
            assert getattr(light, part) == getattr(original, part), part
        assert light.training.lightgbm == original.training.lightgbm
