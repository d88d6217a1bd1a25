"""Demo data seeding: generated raw history landed and its features built, ready to train.

`seed_demo` (demand) and `seed_churn` land generated raw data ending yesterday and backfill the
features history through the real Spark job and gates, so a fresh stack can train at once.
The loop that then runs the DAGs is `ml_tasks.platform.cli.demo_loop`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.core.spec import load_spec
from ml_tasks.data.backfill import backfill_features
from ml_tasks.demo.churn_data import ChurnDataConfig, land_churn_data
from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data


class DemoFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class DemoSize:
    stores: int = 5
    items: int = 20
    days: int = 63
    messy: bool = False  # data like a real export: missing hours and days, null bursts, repeats


def yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


def seed_demo(
    settings: ConveyorSettings, size: DemoSize = DemoSize(), end: date | None = None, leave_unbuilt: int = 1, say=print
) -> DemandDataConfig:
    """Land ``size.days`` raw days ending at ``end`` and build features for all but the last few."""
    spec = load_spec("demand", settings.specs_dir)
    end = end or yesterday()
    cfg = DemandDataConfig(
        stores=size.stores,
        items=size.items,
        days=size.days,
        start=end - timedelta(days=size.days - 1),
        messy=size.messy,
    )
    lake = Lake.from_settings(settings)
    say(
        f"landing {cfg.days} days x {cfg.rows_per_day} rows of {'messy ' if size.messy else ''}raw demand data "
        f"({cfg.start} .. {end})"
    )
    landed = land_demand_data(
        cfg, lake, progress=lambda i, n, d: say(f"  raw {i}/{n}: {d}") if i % 14 == 0 or i == n else None
    )
    _build_features(settings, spec, landed, leave_unbuilt, say)
    return cfg


def seed_churn(
    settings: ConveyorSettings,
    customers: int = 2000,
    days: int = 8 + 42,
    end: date | None = None,
    leave_unbuilt: int = 1,
    say=print,
) -> ChurnDataConfig:
    """Land ``days`` days of subscriber rows ending at ``end`` for the churn pipeline and build features."""
    spec = load_spec("churn", settings.specs_dir)
    end = end or yesterday()
    cfg = ChurnDataConfig(customers=customers, days=days, start=end - timedelta(days=days - 1))
    say(f"landing {cfg.days} days x ~{customers} subscribers of raw churn data ({cfg.start} .. {end})")
    land_churn_data(cfg, Lake.from_settings(settings))
    _build_features(settings, spec, cfg.dates, leave_unbuilt, say)
    return cfg


def _build_features(settings: ConveyorSettings, spec, dates: list[date], leave_unbuilt: int, say) -> None:
    """Features for the landed ``dates`` after the look-back, all but the last ``leave_unbuilt``."""
    from ml_tasks.features.columns import lookback_days

    history = dates[lookback_days(spec) : len(dates) - leave_unbuilt]
    say(f"backfilling {spec.name} features for {len(history)} days ({history[0]} .. {history[-1]})")
    report = backfill_features(settings, spec, history, progress=lambda m: say(f"  {m}"))
    if report.quarantined:
        raise DemoFailed(f"{spec.name} demo data failed its gates: {report.quarantined}")
