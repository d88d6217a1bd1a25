"""The seeded schedule of a soak run: which data events and faults hit which simulated day.

A soak run operates the shipped pipelines for N consecutive data days through the embedded
stack. :func:`make_plan` decides, from a seed alone, what goes wrong on each day, so the same
seed gives the same month and a failure can be replayed. The plan is printed before the run.

Data events (what lands in the raw zone that day):

- ``bad``: a raw day that breaks the raw suite (negative units, null prices, duplicate hours);
  it must be quarantined with its report and nothing downstream of it may appear;
- ``late``: the day lands only after its features run has already failed on the missing raw
  partition, and is then built by a re-run;
- ``repeat``: the same day is delivered a second time (identical rows), and the platform must
  publish it without doubling anything;
- ``drift``: one day of a two-week episode of changed demand (drift the monitor must see);
- ``concept``: from this day on the relation between price and demand changes;
- ``messy``: missing hours, null bursts in an unused sensor column, repeated and unsorted rows.

Faults (at a random point of that day's runs): ``kill_task`` (``kill -9`` of a running task),
``kill_scheduler``, ``kill_mlflow``, ``kill_api_server``, ``disk_full`` (the lake's file system
refuses writes while features publish) and ``restart`` (the whole stack, down then up).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

PIPELINE = "demand"  # the pipeline the plan's data events and faults are aimed at
PIPELINES = ("demand", "churn")
DATA_EVENTS = ("bad", "late", "repeat", "drift", "concept", "messy")
FAULT_KINDS = ("kill_task", "kill_scheduler", "kill_mlflow", "kill_api_server", "disk_full", "restart")
# Where in a day a fault lands: which DAG is running when it hits (``disk_full`` always hits a
# features publish; ``restart`` happens between runs).
FAULT_TARGETS = {
    "kill_task": ("features", "train", "score", "drift"),
    "kill_scheduler": ("features", "train", "score"),
    "kill_mlflow": ("train", "drift"),
    "kill_api_server": ("features", "train", "score", "drift"),
    "disk_full": ("features",),
    "restart": ("between",),
}
DRIFT_DAYS = 14


@dataclass(frozen=True)
class Fault:
    kind: str
    target: str  # the stage whose run it hits, or "between"
    at_fraction: float  # how far into that run (0..1 of its expected time); seeded

    def describe(self) -> str:
        if self.target == "between":
            return self.kind
        return f"{self.kind} during {self.target} at {self.at_fraction:.0%}"


@dataclass(frozen=True)
class DayPlan:
    index: int
    dt: date
    events: tuple[str, ...] = ()
    faults: tuple[Fault, ...] = ()

    @property
    def lands_good_data(self) -> bool:
        """Whether the day's raw data should pass the raw gate (late days do, once they land)."""
        return "bad" not in self.events


@dataclass(frozen=True)
class SoakPlan:
    seed: int
    days: tuple[DayPlan, ...]
    faults_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def faults(self) -> list[tuple[DayPlan, Fault]]:
        return [(d, f) for d in self.days for f in d.faults]

    def days_with(self, event: str) -> list[date]:
        return [d.dt for d in self.days if event in d.events]

    def table(self) -> str:
        """The plan as a Markdown table, one row per day that has something happening."""
        lines = [
            f"soak plan, seed {self.seed}: {len(self.days)} data days, {len(self.faults)} faults of "
            f"{len(self.faults_by_kind)} kinds",
            "",
            "| day | dt | data | faults |",
            "|---|---|---|---|",
        ]
        for d in self.days:
            lines.append(
                f"| {d.index + 1} | {d.dt} | {', '.join(d.events) or '-'} | "
                f"{'; '.join(f.describe() for f in d.faults) or '-'} |"
            )
        return "\n".join(lines)


def _fault_count(days: int) -> int:
    """One fault every 3-4 days, and at least one of each kind when the run is long enough."""
    return max(min(len(FAULT_KINDS), days), round(days / 3.3))


def make_plan(seed: int, days: int, start: date, bad_days: int | None = None) -> SoakPlan:
    """A reproducible month: the same ``seed``, ``days`` and ``start`` always give the same plan.

    The first two days stay clean (the stack has to train its first champion); a bad day is never
    also late, repeated or messy (one cause per failure); the drift episode is two weeks (shorter
    runs get half their days) and the concept change starts after it; faults fall on days 2 and
    later, at most two per day, each kind at least once before any repeats.
    """
    if days < 3:
        raise ValueError(f"a soak run needs at least 3 data days, got {days}")
    rng = random.Random(seed)
    dates = [start + timedelta(days=i) for i in range(days)]
    events: dict[int, list[str]] = {i: [] for i in range(days)}
    free = list(range(2, days))

    episode = min(DRIFT_DAYS, max(1, days // 2))
    drift_start = rng.randint(2, max(2, days - episode - (2 if days >= 20 else 0)))
    for i in range(drift_start, min(days, drift_start + episode)):
        events[i].append("drift")
    if days >= 20:  # a concept change needs room after the episode to be learned
        concept = rng.randint(min(days - 1, drift_start + episode), days - 1)
        events[concept].append("concept")

    n_bad = bad_days if bad_days is not None else max(1, days // 10)
    clean_of_drift = [i for i in free if "drift" not in events[i] and "concept" not in events[i]] or free
    for i in rng.sample(clean_of_drift, min(n_bad, len(clean_of_drift))):
        events[i].append("bad")
    not_bad = [i for i in free if "bad" not in events[i]]
    for event in ("late", "repeat"):
        choices = [i for i in not_bad if not {"late", "repeat"} & set(events[i])]
        if choices:
            events[rng.choice(choices)].append(event)
    for i in rng.sample(not_bad, min(len(not_bad), max(1, days // 6))):
        if "messy" not in events[i]:
            events[i].append("messy")

    kinds = list(FAULT_KINDS)
    rng.shuffle(kinds)
    count = _fault_count(days)
    kinds = (kinds * (count // len(kinds) + 1))[:count]
    faults: dict[int, list[Fault]] = {i: [] for i in range(days)}
    fault_days = [i for i in range(1, days)]
    for kind in kinds:
        open_days = [
            i
            for i in fault_days
            if len(faults[i]) < 2
            and kind not in {f.kind for f in faults[i]}
            and not (kind == "disk_full" and "bad" in events[i])
        ]
        day = rng.choice(open_days)
        faults[day].append(Fault(kind, rng.choice(FAULT_TARGETS[kind]), round(rng.uniform(0.2, 0.8), 2)))

    plan_days = tuple(
        DayPlan(i, dates[i], tuple(e for e in DATA_EVENTS if e in events[i]), tuple(faults[i])) for i in range(days)
    )
    by_kind: dict[str, int] = {}
    for k in kinds:
        by_kind[k] = by_kind.get(k, 0) + 1
    return SoakPlan(seed, plan_days, by_kind)
