"""The soak run's seeded plan: reproducible, every fault kind, one cause per bad day."""

from __future__ import annotations

from datetime import date

import pytest

from soak.embedded_faults import aim
from soak.plan import DRIFT_DAYS, FAULT_KINDS, Fault, make_plan

START = date(2026, 3, 1)


def test_the_same_seed_gives_the_same_month_and_another_seed_another():
    assert make_plan(7, 30, START) == make_plan(7, 30, START)
    assert make_plan(7, 30, START).days != make_plan(8, 30, START).days


@pytest.mark.parametrize("seed", range(20))
def test_a_month_has_at_least_eight_faults_of_every_kind(seed):
    plan = make_plan(seed, 30, START)
    kinds = [f.kind for _, f in plan.faults]
    assert len(kinds) >= 8 and set(kinds) == set(FAULT_KINDS)
    assert all(len(d.faults) <= 2 and len({f.kind for f in d.faults}) == len(d.faults) for d in plan.days)
    assert not plan.days[0].faults  # the first night trains the first champion undisturbed
    assert all(0.2 <= f.at_fraction <= 0.8 for _, f in plan.faults)


@pytest.mark.parametrize("seed", range(20))
def test_data_events_of_a_month(seed):
    plan = make_plan(seed, 30, START)
    assert not plan.days[0].events and not plan.days[1].events
    drift = [d.index for d in plan.days if "drift" in d.events]
    assert len(drift) == DRIFT_DAYS and drift == list(range(drift[0], drift[0] + DRIFT_DAYS))
    [concept] = [d.index for d in plan.days if "concept" in d.events]
    assert concept >= drift[-1] + 1
    assert len(plan.days_with("bad")) >= 3 and len(plan.days_with("late")) == 1 and len(plan.days_with("repeat")) == 1
    assert plan.days_with("messy")
    for d in plan.days:
        if "bad" in d.events:  # one cause per failure
            assert d.events == ("bad",) and not d.lands_good_data
            assert "disk_full" not in {f.kind for f in d.faults}


def test_a_week_keeps_every_fault_kind_and_a_shorter_episode():
    plan = make_plan(3, 7, START)
    assert {f.kind for _, f in plan.faults} == set(FAULT_KINDS)
    assert len(plan.days_with("drift")) == 3 and not plan.days_with(
        "concept"
    )  # half the week, no room to learn a concept change
    assert plan.days_with("bad") and plan.days_with("late") and plan.days_with("repeat")


def test_the_table_names_every_day_event_and_fault():
    plan = make_plan(5, 10, START)
    table = plan.table()
    assert f"seed 5: 10 data days, {len(plan.faults)} faults" in table
    assert table.count("\n| ") == 10 + 1  # header + one row per day
    for day, fault in plan.faults:
        assert fault.describe() in table and str(day.dt) in table


def test_too_short_a_run_is_refused():
    with pytest.raises(ValueError, match="at least 3 data days"):
        make_plan(1, 2, START)


def test_faults_aimed_at_training_wait_for_the_lightning_task_and_the_full_disk_for_the_feature_build():
    assert aim(Fault("kill_task", "train", 0.5)) == (("train_lightning",), 10.0)
    assert aim(Fault("kill_scheduler", "train", 0.5)) == (("train_lightning",), 10.0)
    assert aim(Fault("disk_full", "features", 0.5)) == (("build_features",), 10.0)
    assert aim(Fault("kill_task", "features", 0.5)) == ((), 5.0)  # whichever task of the run is running
    assert aim(Fault("kill_api_server", "score", 0.5)) == ((), 5.0)
