"""Synthetic customer-churn data for the `churn` pipeline: one row per active customer per day.

Each customer has a plan and a region, a monthly fee, and daily usage, logins and support
tickets. A customer's churn hazard rises with support tickets, falling usage, a high fee for
the plan and a short tenure; ``churned`` is 1 on the days within ``label_days`` before the
customer leaves (the label a churn model predicts: "will leave within the week"). Churned
customers stop appearing and new ones sign up, so the daily volume stays level. About 5% of
rows are positive: an imbalanced target.

Drift kinds: ``plan_mix`` (a campaign moves half the customers and most sign-ups to the basic
plan, and sales territories are redrawn towards the south: categorical drift) and ``concept``
(support tickets stop predicting churn, price does: the relationship changes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from ml_tasks.core.lake import Lake

PLANS = np.array(["basic", "plus", "pro"])
PLAN_FEE = np.array([15.0, 30.0, 55.0])
REGIONS = np.array(["north", "south", "east", "west"])
RAW_COLUMNS = [
    "ts",
    "customer_id",
    "plan",
    "region",
    "tenure_days",
    "monthly_fee",
    "usage_minutes",
    "logins",
    "support_tickets",
    "churned",
]


@dataclass(frozen=True)
class ChurnDataConfig:
    customers: int = 2000
    start: date = date(2026, 1, 1)
    days: int = 60
    seed: int = 11
    label_days: int = 7
    drift_from: date | None = None
    drift_kind: Literal["plan_mix", "concept"] = "plan_mix"

    @property
    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]


def _new_customers(rng, n: int, first_id: int, drifted: bool, kind: str) -> dict[str, np.ndarray]:
    plan_p = [0.75, 0.2, 0.05] if drifted and kind == "plan_mix" else [0.5, 0.35, 0.15]
    region_p = [0.1, 0.6, 0.15, 0.15] if drifted and kind == "plan_mix" else [0.25, 0.25, 0.25, 0.25]
    plan = rng.choice(3, n, p=plan_p)
    return {
        "id": np.arange(first_id, first_id + n),
        "plan": plan,
        "region": rng.choice(4, n, p=region_p),
        "tenure": rng.integers(0, 900, n),
        "fee": PLAN_FEE[plan] * rng.uniform(0.8, 1.3, n),
        "engagement": rng.lognormal(0.0, 0.5, n),
        "risk": rng.normal(0.0, 1.0, n),
    }


def simulate(cfg: ChurnDataConfig) -> pd.DataFrame:
    """Every day's rows, labels included (labels look ahead ``label_days``; the lake stores them as landed)."""
    rng = np.random.default_rng(cfg.seed)
    pop = _new_customers(rng, cfg.customers, 1, False, cfg.drift_kind)
    next_id = cfg.customers + 1
    days = cfg.dates + [cfg.dates[-1] + timedelta(days=i + 1) for i in range(cfg.label_days)]  # to know final labels
    frames, churn_day = [], {}
    for day in days:
        drifted = cfg.drift_from is not None and day >= cfg.drift_from
        n = len(pop["id"])
        if day == cfg.drift_from and cfg.drift_kind == "plan_mix":
            # A campaign moves half the customers to the basic plan (at its fee), and sales
            # territories are redrawn: 40% of customers now belong to the south region.
            moved = rng.random(n) < 0.5
            pop["plan"] = np.where(moved, 0, pop["plan"])
            pop["fee"] = np.where(moved, PLAN_FEE[0] * rng.uniform(0.8, 1.3, n), pop["fee"])
            pop["region"] = np.where(rng.random(n) < 0.4, 1, pop["region"])
        tickets = rng.poisson(0.12 * np.exp(0.9 * pop["risk"]))
        usage = rng.gamma(3.0, 20.0 * pop["engagement"] * np.exp(-0.5 * np.maximum(pop["risk"], 0)))
        logins = rng.poisson(2.0 * pop["engagement"])
        overpriced = pop["fee"] / PLAN_FEE[pop["plan"]] - 1.0
        if drifted and cfg.drift_kind == "concept":
            hazard = -4.0 + 4.0 * overpriced - 0.2 * np.log1p(usage) + 0.3 * pop["risk"]
        else:
            hazard = (
                -3.6
                + 0.8 * tickets
                + 1.0 * pop["risk"]
                + 1.0 * overpriced
                - 0.3 * np.log1p(usage)
                - 0.0015 * pop["tenure"]
            )
        leaves = rng.random(n) < 1.0 / (1.0 + np.exp(-hazard))
        frames.append(
            pd.DataFrame(
                {
                    "ts": pd.Timestamp(day, tz="UTC"),
                    "customer_id": [f"C{i:06d}" for i in pop["id"]],
                    "plan": PLANS[pop["plan"]],
                    "region": REGIONS[pop["region"]],
                    "tenure_days": pop["tenure"].astype("int64"),
                    "monthly_fee": np.round(pop["fee"], 2),
                    "usage_minutes": np.round(usage, 1),
                    "logins": logins.astype("int64"),
                    "support_tickets": tickets.astype("int64"),
                    "day": day,
                }
            )
        )
        for cid in pop["id"][leaves]:
            churn_day[int(cid)] = day
        keep = ~leaves
        pop = {k: v[keep] for k, v in pop.items()}
        pop["tenure"] = pop["tenure"] + 1
        joiners = _new_customers(rng, int(leaves.sum()), next_id, drifted, cfg.drift_kind)
        joiners["tenure"] = np.zeros(len(joiners["id"]), dtype=np.int64)  # sign-ups start at day 0
        next_id += len(joiners["id"])
        pop = {k: np.concatenate([pop[k], joiners[k]]) for k in pop}
    rows = pd.concat(frames, ignore_index=True)
    left = rows["customer_id"].str[1:].astype(int).map(churn_day)
    gap = (pd.to_datetime(left) - pd.to_datetime(rows["day"])).dt.days
    rows["churned"] = ((gap >= 0) & (gap < cfg.label_days)).astype("int64")
    rows = rows[rows["day"].isin(cfg.dates)]
    return rows.drop(columns="day")[RAW_COLUMNS].reset_index(drop=True)


def land_churn_data(cfg: ChurnDataConfig, lake: Lake, pipeline: str = "churn") -> list[date]:
    rows = simulate(cfg)
    days = rows["ts"].dt.date
    for day, part in rows.groupby(days, sort=True):
        lake.write_partition(part.reset_index(drop=True), "raw", pipeline, day)
    return cfg.dates
