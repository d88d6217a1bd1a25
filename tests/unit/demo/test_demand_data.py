from datetime import date, timedelta

import numpy as np
import pytest

from ml_tasks.demo.demand_data import RAW_COLUMNS, DemandDataConfig, generate_day, land_demand_data, series_params


def test_a_day_has_one_row_per_series_and_hour_in_the_raw_schema():
    cfg = DemandDataConfig(stores=3, items=4, days=1, start=date(2026, 3, 2))
    df = generate_day(cfg, series_params(cfg), cfg.start)
    assert list(df.columns) == RAW_COLUMNS
    assert len(df) == 3 * 4 * 24
    assert not df.duplicated(["store_id", "item_id", "ts"]).any()
    assert df["ts"].dt.date.eq(cfg.start).all()
    assert (df["units"] >= 0).all() and (df["price"] > 0).all()


def test_same_seed_same_day_gives_identical_data_and_other_seeds_differ():
    cfg = DemandDataConfig(stores=2, items=3, days=1)
    a = generate_day(cfg, series_params(cfg), cfg.start)
    b = generate_day(cfg, series_params(cfg), cfg.start)
    other = DemandDataConfig(stores=2, items=3, days=1, seed=8)
    c = generate_day(other, series_params(other), other.start)
    assert a.equals(b)
    assert not a["units"].equals(c["units"])


def test_demand_has_daily_and_weekly_seasonality_and_intermittent_series():
    cfg = DemandDataConfig(stores=4, items=25, days=14, start=date(2026, 3, 2))
    params = series_params(cfg)
    days = [generate_day(cfg, params, d) for d in cfg.dates]
    import pandas as pd

    df = pd.concat(days)
    by_hour = df.groupby(df["ts"].dt.hour)["units"].mean()
    assert by_hour.loc[12] > 3 * by_hour.loc[3]  # midday peak vs night
    by_dow = df.groupby(df["ts"].dt.dayofweek)["units"].mean()
    assert by_dow.loc[5] > by_dow.loc[1] * 1.2  # Saturday vs Tuesday
    zero_share = df.groupby(["store_id", "item_id"])["units"].apply(lambda s: (s == 0).mean())
    assert (zero_share > 0.7).sum() >= 10  # a good share of sparse series


def _undrifted_and_drifted(stores: int, items: int, days: int, kind: str, strength: float):
    """The same series without and with drift from the second day on; the first day is unchanged."""
    start = date(2026, 3, 2)
    base = DemandDataConfig(stores=stores, items=items, days=days, start=start)
    drifted = DemandDataConfig(
        stores=stores,
        items=items,
        days=days,
        start=start,
        drift_from=start + timedelta(days=1),
        drift_kind=kind,
        drift_strength=strength,
    )
    p = series_params(base)
    assert generate_day(base, p, start).equals(generate_day(drifted, p, start))
    return start, base, drifted, p


def test_price_drift_raises_prices_from_the_drift_day_on():
    start, base, drifted, p = _undrifted_and_drifted(2, 5, 2, "price", 0.5)
    ratio = (
        generate_day(drifted, p, start + timedelta(days=1))["price"].mean()
        / generate_day(base, p, start + timedelta(days=1))["price"].mean()
    )
    assert ratio == pytest.approx(1.5, rel=0.02)


def test_growth_drift_compounds_demand_day_after_day_from_the_drift_day():
    start, base, growing, p = _undrifted_and_drifted(4, 10, 15, "growth", 0.05)

    def units(cfg, days):
        return sum(generate_day(cfg, p, start + timedelta(days=k))["units"].sum() for k in days)

    early, late = range(1, 4), range(12, 15)  # growth factors 1.05^1..3 and 1.05^12..14
    assert units(growing, early) / units(base, early) == pytest.approx(1.05**2, rel=0.05)
    assert units(growing, late) / units(base, late) == pytest.approx(1.05**13, rel=0.05)


def test_bad_records_are_injected_only_on_bad_days():
    start = date(2026, 3, 2)
    cfg = DemandDataConfig(stores=2, items=5, days=2, start=start, bad_days=(start,), bad_records=3)
    p = series_params(cfg)
    bad, good = generate_day(cfg, p, start), generate_day(cfg, p, start + timedelta(days=1))
    assert (bad["units"] < 0).sum() == 3
    assert bad["price"].isna().sum() == 3
    assert bad.duplicated(["store_id", "item_id", "ts"]).sum() == 3
    assert (good["units"] >= 0).all() and good["price"].notna().all()


def test_unknown_bad_record_kind_is_rejected_by_name():
    with pytest.raises(ValueError, match="unknown bad record kinds.*'typo'"):
        DemandDataConfig(bad_kinds=("typo",))


def test_landing_writes_one_parquet_partition_per_day(lake):
    cfg = DemandDataConfig(stores=2, items=2, days=3, start=date(2026, 3, 2))
    land_demand_data(cfg, lake)
    assert lake.partitions("raw", "demand") == cfg.dates
    assert len(lake.read_partition("raw", "demand", cfg.start)) == 2 * 2 * 24


def test_memory_stays_at_one_day_for_large_sizes():
    """50M rows = 100 stores x 200 items x 24 h x 105 days: each day is generated alone."""
    cfg = DemandDataConfig(stores=100, items=200, days=105)
    assert cfg.rows_per_day * cfg.days >= 50_000_000
    df = generate_day(cfg, series_params(cfg), cfg.start)
    assert len(df) == cfg.rows_per_day
    assert df.memory_usage(deep=True).sum() < 200 * 2**20
    assert np.isfinite(df["price"]).all()


def test_messy_mode_looks_like_a_real_export(lake):
    cfg = DemandDataConfig(stores=2, items=3, days=300, start=date(2025, 1, 1), messy=True)
    params = series_params(cfg)
    day = generate_day(cfg, params, cfg.start)
    assert not day["ts"].is_monotonic_increasing  # unsorted
    assert day.duplicated().any()  # rows delivered twice, identically
    assert 0 < 2 * 3 * 24 - len(day.drop_duplicates()) < 12  # about 1% of the hours missing
    assert "temperature_c" in day and day["temperature_c"].isna().any()
    landed = land_demand_data(cfg, lake)
    assert 0 < cfg.days - len(landed) < 8  # about one day in 150 never arrives
    first = lake.read_partition("raw", "demand", landed[0])
    assert not first.duplicated().any()  # landing drops the identical repeats
    assert any(lake.read_partition("raw", "demand", d)["temperature_c"].isna().all() for d in landed[:60])  # bursts
