"""What lands on each day of a soak plan: the demo's own simulations (demand and churn) continued past
the seeded history, with the plan's data events applied (bad, drift, concept, messy days)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from ml_tasks.demo.churn_data import ChurnDataConfig, simulate
from ml_tasks.demo.demand_data import DemandDataConfig, generate_day, inject_bad_records, make_messy, series_params
from ml_tasks.demo.seed import DemoSize
from soak.plan import DayPlan, SoakPlan

SIZE = DemoSize(stores=2, items=6, days=42)
CHURN_CUSTOMERS = 600
BAD_RECORDS = 25


class PlanData:
    """The raw rows of each plan day, for both pipelines."""

    def __init__(self, plan: SoakPlan) -> None:
        self.plan = plan
        history_start = plan.days[0].dt - timedelta(days=SIZE.days)
        # seed_demo's and seed_churn's own simulations, continued: the same series and customers
        self.data = DemandDataConfig(
            stores=SIZE.stores, items=SIZE.items, start=history_start, days=SIZE.days + len(plan.days)
        )
        self.params = series_params(self.data)
        drift = plan.days_with("drift")
        self.drift_from = min(drift) if drift else None
        concept = plan.days_with("concept")
        self.concept_from = concept[0] if concept else None
        self.churn = ChurnDataConfig(customers=CHURN_CUSTOMERS, start=history_start, days=SIZE.days + len(plan.days))
        self._churn_rows = None

    def day_frame(self, day: DayPlan):
        """The raw rows of a plan day, with its data events applied."""
        import numpy as np

        if "drift" in day.events:
            cfg = replace(self.data, drift_from=self.drift_from, drift_kind="demand")
        elif self.concept_from and day.dt >= self.concept_from:
            cfg = replace(self.data, drift_from=self.concept_from, drift_kind="concept")
        else:
            cfg = self.data
        frame = generate_day(cfg, self.params, day.dt)
        rng = np.random.default_rng([self.plan.seed, day.dt.toordinal()])
        if "messy" in day.events:
            frame = make_messy(frame, rng)
        if "bad" in day.events:
            frame = inject_bad_records(frame, BAD_RECORDS, ("negative_units", "null_price", "duplicate_keys"), rng)
        return frame

    def churn_day(self, dt: date):
        if self._churn_rows is None:
            self._churn_rows = simulate(self.churn)
        rows = self._churn_rows
        return rows[rows["ts"].dt.date == dt].reset_index(drop=True)
