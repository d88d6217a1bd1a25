"""A week of both pipelines on the real embedded stack, with every fault kind (in `make test-e2e`).

The same runner as `make soak` (30 days), over 7 data days ending yesterday: bad, late and
repeated days, a drift episode and a messy day land; a task, the scheduler, the MLflow server
and the api-server are killed with ``kill -9`` mid-run, the lake's file system fills up during a
features run (a size-limited tmpfs: CI runs as root), and the whole stack is restarted with
`conveyor down` / `conveyor up`. After every day each invariant of
:mod:`soak.invariants` must hold.

The messy day is the messy-data test through the scheduler (the headless demo loop on messy data
was a test of its own): missing hours, null bursts in a column nobody uses, repeated and unsorted
rows are published like a clean day, and that day is then trained on, scored and checked.

The seed is chosen so that the task, scheduler and MLflow kills land inside the Lightning
training task (what the earlier one-fault-per-test module did): the killed task's retry, the
restarted scheduler and the restarted MLflow must each see that night's training through with one
registered version and no run left RUNNING.
"""

from __future__ import annotations

import pytest

from soak.embedded import Soak, plan_ending_yesterday
from soak.plan import FAULT_KINDS
from soak.report import summary
from soak.settings import soak_settings

from .browser import artifacts_dir

pytestmark = [pytest.mark.slow, pytest.mark.soak, pytest.mark.timeout(3600)]
SEED, DAYS = (
    112,
    7,
)  # kill_mlflow, kill_task and kill_scheduler all during train (`python -m soak.embedded --plan-only`)
KILLS_IN_TRAINING = {"kill_task", "kill_scheduler", "kill_mlflow"}


def test_a_week_of_nights_with_every_fault_kind_keeps_every_invariant(tmp_path):
    plan = plan_ending_yesterday(SEED, DAYS)
    settings = soak_settings(tmp_path / "soak")
    result = Soak(settings, plan, say=print).run()
    report = summary(result)
    print(report)
    (artifacts_dir("soak") / "summary.md").write_text(report + "\n")  # kept by CI beside the screenshots
    assert result.held, report  # every invariant, every day, both pipelines
    hit = {r.fault.kind for r in result.faults if not r.hit.startswith(("nothing", "skipped"))}
    assert len(hit) >= 5 and hit <= set(FAULT_KINDS), report
    in_training = [r for r in result.faults if r.fault.kind in KILLS_IN_TRAINING]
    assert {r.fault.kind for r in in_training} == KILLS_IN_TRAINING, report
    for record in in_training:  # each landed inside it, and that night's training still succeeded
        assert ".train_lightning" in record.hit and "_train success" in record.recovery, record
    # data like a real export (hours missing, a sensor column nobody uses with null bursts, repeated
    # and unsorted rows; on this seed also delivered twice) is published like a clean day: the
    # invariants say published once and gated, nothing quarantined; the landed partition says messy
    assert set(result.messy) == set(plan.days_with("messy")) and result.messy, report
    for day, facts in result.messy.items():
        assert facts["null_sensor"] > 0 and facts["rows"] <= facts["full_day"], (day, facts)
        assert facts["repeated_keys"] == 0, (day, facts)  # repeats landed once
