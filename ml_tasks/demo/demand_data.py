"""Demo data for the `demand` pipeline: hourly units sold per store x item.

The generator is the demo's stand-in for ingestion. Each series has daily and weekly
seasonality, a trend, price and promotion effects, holidays and noise; a share of the series is
intermittent (mostly zero hours). Every day is generated independently from ``(seed, day)``,
so any day can be re-landed identically, memory stays at one day's rows whatever the total
size, and drift or bad records can be injected into chosen days only.

``messy=True`` makes the data look like a real export instead of a clean simulation: about 1%
of the hours and one day in 150 are missing, an extra column no feature uses
(``temperature_c``, a sensor reading) is null in bursts, each day's rows come unsorted, and some
rows are delivered twice, identically (landing drops those, as ``conveyor land`` does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal, get_args

import numpy as np
import pandas as pd

from ml_tasks.core.lake import Lake

log = logging.getLogger(__name__)

RAW_COLUMNS = ["ts", "store_id", "item_id", "units", "price", "promo", "is_holiday"]
DriftKind = Literal["price", "demand", "concept", "growth"]
DRIFT_KINDS: tuple[str, ...] = get_args(DriftKind)
BadRecordKind = Literal["negative_units", "null_price", "zero_price", "duplicate_keys"]
BAD_RECORD_KINDS: tuple[str, ...] = ("negative_units", "null_price", "zero_price", "duplicate_keys")

# (month, day) -> demand multiplier. Fixed dates keep the calendar reproducible offline.
HOLIDAYS: dict[tuple[int, int], float] = {
    (1, 1): 0.6,
    (2, 14): 1.3,
    (5, 1): 1.2,
    (7, 4): 1.5,
    (10, 31): 1.3,
    (11, 27): 1.8,
    (12, 24): 1.7,
    (12, 25): 0.3,
    (12, 31): 1.4,
}
WEEKLY = np.array([0.9, 0.85, 0.9, 0.95, 1.1, 1.35, 1.2])  # Monday .. Sunday
HOURS = np.arange(24)
DAILY = 0.15 + np.exp(-(((HOURS - 12) / 3.0) ** 2)) + 0.8 * np.exp(-(((HOURS - 18) / 2.5) ** 2))
DAILY = DAILY / DAILY.mean()
SENSOR_COLUMN = "temperature_c"  # messy data only: a sensor reading no feature uses, null in bursts


@dataclass(frozen=True)
class DemandDataConfig:
    """What to generate: the grid of series, the days, and what to inject."""

    stores: int = 5
    items: int = 20
    start: date = date(2026, 1, 1)
    days: int = 60
    seed: int = 7
    intermittent_share: float = 0.3
    drift_from: date | None = None
    drift_kind: DriftKind = "price"
    drift_strength: float = 0.6
    bad_days: tuple[date, ...] = ()
    bad_records: int = 0
    bad_kinds: tuple[str, ...] = BAD_RECORD_KINDS
    messy: bool = False

    def __post_init__(self) -> None:
        if self.stores < 1 or self.items < 1 or self.days < 1:
            raise ValueError(f"stores, items and days must be >= 1, got {self.stores}, {self.items}, {self.days}")
        unknown = set(self.bad_kinds) - set(BAD_RECORD_KINDS)
        if unknown:
            raise ValueError(f"unknown bad record kinds {sorted(unknown)}; expected some of {BAD_RECORD_KINDS}")

    @property
    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    @property
    def rows_per_day(self) -> int:
        return self.stores * self.items * 24


@dataclass(frozen=True)
class SeriesParams:
    """Per-series constants drawn once from the seed."""

    store_id: np.ndarray
    item_id: np.ndarray
    base_rate: np.ndarray
    base_price: np.ndarray
    elasticity: np.ndarray
    trend_per_year: np.ndarray
    promo_lift: np.ndarray
    store_scale: np.ndarray = field(repr=False)
    concept_order: np.ndarray = field(repr=False, default=None)  # which series' level each takes under concept drift


def series_params(cfg: DemandDataConfig) -> SeriesParams:
    rng = np.random.default_rng([cfg.seed, 0])
    n = cfg.stores * cfg.items
    store_idx = np.repeat(np.arange(cfg.stores), cfg.items)
    item_idx = np.tile(np.arange(cfg.items), cfg.stores)
    store_scale = rng.lognormal(0.0, 0.3, cfg.stores)[store_idx]
    item_rate = rng.lognormal(1.0, 0.6, cfg.items)[item_idx]
    intermittent = rng.random(n) < cfg.intermittent_share
    base_rate = np.where(intermittent, rng.uniform(0.03, 0.3, n), item_rate * store_scale)
    item_price = rng.uniform(1.0, 20.0, cfg.items)
    return SeriesParams(
        store_id=np.array([f"S{i + 1:03d}" for i in store_idx]),
        item_id=np.array([f"I{i + 1:04d}" for i in item_idx]),
        base_rate=base_rate,
        base_price=item_price[item_idx],
        elasticity=rng.uniform(0.8, 2.0, cfg.items)[item_idx],
        trend_per_year=rng.normal(0.1, 0.15, n),
        promo_lift=rng.uniform(1.1, 1.5, n),
        store_scale=store_scale,
        concept_order=_busiest_trade_with_quietest(base_rate, np.where(intermittent, -1, store_idx)),
    )


def _busiest_trade_with_quietest(base_rate: np.ndarray, store_idx: np.ndarray) -> np.ndarray:
    """Within each store (group -1 stays put), the i-th busiest series takes the i-th quietest's level."""
    order = np.arange(len(base_rate))
    for store in np.unique(store_idx[store_idx >= 0]):
        ranked = np.flatnonzero(store_idx == store)[np.argsort(base_rate[store_idx == store], kind="stable")]
        order[ranked] = ranked[::-1]
    return order


def generate_day(cfg: DemandDataConfig, params: SeriesParams, day: date) -> pd.DataFrame:
    """All series for one day: ``stores * items * 24`` rows in ``RAW_COLUMNS`` order."""
    rng = np.random.default_rng([cfg.seed, day.toordinal()])
    n = len(params.base_rate)
    drifted = cfg.drift_from is not None and day >= cfg.drift_from
    years = (day - date(2026, 1, 1)).days / 365.0

    # Daily price: a small wobble around the item's base price, promotions cut it by 10-30%.
    price = params.base_price * rng.normal(1.0, 0.03, n)
    promo = rng.random(n) < 0.08
    price = np.where(promo, price * rng.uniform(0.7, 0.9, n), price)
    if drifted and cfg.drift_kind == "price":
        price = price * (1.0 + cfg.drift_strength)
    price = np.round(np.maximum(price, 0.05), 2)

    holiday_mult = HOLIDAYS.get((day.month, day.day), 1.0)
    concept = drifted and cfg.drift_kind == "concept"
    # Under concept drift the week turns around too (Monday sells like Sunday did, and so on),
    # more sharply the stronger the drift.
    weekly = WEEKLY
    if concept:
        weekly = WEEKLY[::-1] ** (1.0 + 2.0 * cfg.drift_strength)
        weekly = weekly * WEEKLY.mean() / weekly.mean()
    level = params.base_rate * weekly[day.weekday()] * holiday_mult
    level = level * np.maximum(1.0 + params.trend_per_year * years, 0.2)
    if concept:
        # The inputs keep their distribution; only what demand a series shows changes: within each
        # store, the busiest regular items trade places with the quietest (a new shelf layout).
        # The set of demand levels, and so every feature's distribution, stays the same.
        level = level[params.concept_order]
    level = level * (price / params.base_price) ** (-params.elasticity)
    level = level * np.where(promo, params.promo_lift, 1.0)
    if drifted and cfg.drift_kind == "demand":
        level = level * (1.0 + cfg.drift_strength)
    if drifted and cfg.drift_kind == "growth":  # demand takes off: x(1 + strength) a day, compounding
        level = level * (1.0 + cfg.drift_strength) ** ((day - cfg.drift_from).days + 1)

    rate = level[:, None] * DAILY[None, :]  # (series, hour)
    noisy = rate * rng.gamma(shape=4.0, scale=0.25, size=rate.shape)  # negative-binomial noise
    units = rng.poisson(noisy).astype("int64")

    midnight = pd.Timestamp(day, tz="UTC")
    df = pd.DataFrame(
        {
            "ts": pd.DatetimeIndex(np.tile(midnight + pd.to_timedelta(HOURS, unit="h"), n)).as_unit("us"),
            "store_id": np.repeat(params.store_id, 24),
            "item_id": np.repeat(params.item_id, 24),
            "units": units.ravel(),
            "price": np.repeat(price, 24),
            "promo": np.repeat(promo, 24),
            "is_holiday": np.full(n * 24, holiday_mult != 1.0),
        }
    )
    if day in cfg.bad_days and cfg.bad_records > 0:
        df = inject_bad_records(df, cfg.bad_records, cfg.bad_kinds, rng)
    if cfg.messy:
        df = make_messy(df, rng)
    return df


MISSING_DAY_EVERY = 150  # messy data: one day in this many never arrives


def is_missing_day(cfg: DemandDataConfig, day: date) -> bool:
    """Messy data: whether ``day`` never arrives (decided by the seed, so re-generation agrees)."""
    return cfg.messy and np.random.default_rng([cfg.seed, day.toordinal(), 1]).random() < 1 / MISSING_DAY_EVERY


def make_messy(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """About 1% of the hours missing, a sensor column with null bursts, repeated rows, no order."""
    df = df[rng.random(len(df)) >= 0.01].copy()
    temperature = np.round(rng.normal(15, 6, len(df)), 1)
    if rng.random() < 0.1:  # the sensor feed is down all day
        temperature[:] = np.nan
    temperature[rng.random(len(df)) < 0.05] = np.nan
    df[SENSOR_COLUMN] = temperature
    repeated = df.sample(frac=0.02, random_state=int(rng.integers(1 << 31)))
    return pd.concat([df, repeated]).sample(frac=1.0, random_state=int(rng.integers(1 << 31))).reset_index(drop=True)


def inject_bad_records(df: pd.DataFrame, count: int, kinds: tuple[str, ...], rng: np.random.Generator) -> pd.DataFrame:
    """Corrupt ``count`` rows per kind, the way broken upstream systems do."""
    df = df.copy()
    for kind in kinds:
        rows = rng.choice(len(df), size=min(count, len(df)), replace=False)
        if kind == "negative_units":
            df.loc[rows, "units"] = -df.loc[rows, "units"].abs() - 1
        elif kind == "null_price":
            df.loc[rows, "price"] = np.nan
        elif kind == "zero_price":
            df.loc[rows, "price"] = 0.0
        elif kind == "duplicate_keys":  # the same hour again with another count (identical repeats land once)
            df = pd.concat([df, df.iloc[rows].assign(units=df["units"].iloc[rows] + 1)], ignore_index=True)
    return df


def land_demand_data(
    cfg: DemandDataConfig,
    lake: Lake,
    pipeline: str = "demand",
    progress: Callable[[int, int, date], None] | None = None,
) -> list[date]:
    """Generate every day of ``cfg`` and land it as one raw partition per day (atomically).

    Messy data lands like ``conveyor land``: rows repeated identically land once, and days that
    never arrived are not landed (the days written are returned).
    """
    from ml_tasks.data.landing import drop_repeated_rows

    params = series_params(cfg)
    dates = [d for d in cfg.dates if not is_missing_day(cfg, d)]
    for i, day in enumerate(dates, start=1):
        frame, _ = drop_repeated_rows(generate_day(cfg, params, day))
        lake.write_partition(frame, "raw", pipeline, day)
        if progress:
            progress(i, len(dates), day)
    return dates
