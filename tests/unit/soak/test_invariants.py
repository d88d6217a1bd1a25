"""The soak run's invariants: a healthy day holds them all, and each kind of damage breaks its own."""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from ml_tasks.core.lake import Lake
from ml_tasks.data.gate_records import VALIDATION_RECORD
from soak.invariants import PartitionFacts, Snapshot, check_invariants, disk_growth, lake_facts, table

D = [date(2026, 3, 1) + timedelta(days=i) for i in range(5)]
BAD = [D[2]]
GOOD = [d for d in D if d not in BAD]
COOLDOWN = timedelta(hours=24)


def healthy() -> Snapshot:
    return Snapshot(
        day=D[-1],
        features={d: PartitionFacts(1, 100, True) for d in GOOD},
        predictions={d: PartitionFacts(1, 100, True) for d in GOOD[1:]},
        quarantined={D[2]: ["q/dt=2026-03-03/raw/report.html", "q/dt=2026-03-03/raw/validation.json"]},
        versions={"1": "runA", "2": "runB"},
        registering_runs=["runA", "runB"],
        champion="2",
        audit=[{"from_version": None, "to_version": "1"}, {"from_version": "1", "to_version": "2"}],
        retrain_requests=[datetime(2026, 3, 2, 6), datetime(2026, 3, 4, 6)],
        disk_bytes={"lake": 10 * 2**20},
    )


def failed(snap: Snapshot, previous: Snapshot | None = None) -> dict[str, str]:
    return {i.name: i.detail for i in check_invariants(snap, GOOD, BAD, GOOD[1:], COOLDOWN, previous) if not i.held}


def test_a_healthy_day_holds_every_invariant():
    assert failed(healthy(), previous=healthy()) == {}


@pytest.mark.parametrize(
    "damage, broken, says",
    [
        (lambda s: s.features.pop(D[0]), "good days published once, gated", "not published"),
        (lambda s: setattr(s.features[D[0]], "files", 2), "good days published once, gated", "2 data files"),
        (
            lambda s: setattr(s.features[D[1]], "validated", False),
            "good days published once, gated",
            "without its gate record",
        ),
        (
            lambda s: s.quarantined.pop(D[2]),
            "bad days quarantined with report, nothing downstream",
            "not in quarantine",
        ),
        (
            lambda s: s.quarantined.__setitem__(D[2], ["data/x.parquet"]),
            "bad days quarantined with report, nothing downstream",
            "without its report",
        ),
        (
            lambda s: s.features.__setitem__(D[2], PartitionFacts(1, 5, True)),
            "bad days quarantined with report, nothing downstream",
            "has features",
        ),
        (lambda s: s.predictions.pop(D[1]), "one predictions partition per scored day", "not scored"),
        (
            lambda s: setattr(s.predictions[D[1]], "rows", 200),
            "one predictions partition per scored day",
            "200 predictions for 100",
        ),
        (
            lambda s: s.versions.__setitem__("3", "runB"),
            "model versions = training runs that registered",
            "registered 2 versions",
        ),
        (
            lambda s: s.registering_runs.append("runC"),
            "model versions = training runs that registered",
            "runC registered no version",
        ),
        (
            lambda s: setattr(s, "champion", "1"),
            "the champion moved only through the gate (alias moves = audit records)",
            "audit trail ends at v2",
        ),
        (
            lambda s: s.audit.insert(1, {"from_version": "7", "to_version": "8"}),
            "the champion moved only through the gate (alias moves = audit records)",
            "audit jumps",
        ),
        (
            lambda s: s.retrain_requests.append(datetime(2026, 3, 4, 12)),
            "retrain requests respect the cooldown",
            "closer than",
        ),
        (lambda s: s.running_mlflow_runs.append("r9"), "no MLflow run left RUNNING", "r9"),
        (
            lambda s: s.leftovers.append("lake/features/demand/_staging-abc"),
            "no staging or temporary leftovers in the lake",
            "_staging-abc",
        ),
        (
            lambda s: s.stuck_tasks.append("demand_train/r1/fit: running"),
            "no Airflow task stuck in a running state",
            "fit",
        ),
    ],
)
def test_each_kind_of_damage_breaks_its_invariant(damage, broken, says):
    snap = healthy()
    damage(snap)
    found = failed(snap)
    assert set(found) == {broken} and says in found[broken], found


def test_a_champion_change_without_a_new_audit_record_is_caught():
    before = healthy()
    after = copy.deepcopy(before)
    after.champion, after.audit[-1]["to_version"] = "3", "3"  # rewritten history, no new record
    found = failed(after, previous=before)
    assert "audit records changed" in found["the champion moved only through the gate (alias moves = audit records)"]


def test_disk_growth_flags_a_day_that_jumps():
    snaps = [Snapshot(day=d, disk_bytes={"lake": 100 * 2**20 + i * 10 * 2**20}) for i, d in enumerate(D)]
    assert disk_growth(snaps).held
    snaps[-1].disk_bytes["lake"] += 200 * 2**20
    result = disk_growth(snaps)
    assert not result.held and "lake: day 2026-03-05 added" in result.detail


def test_lake_facts_reads_partitions_quarantine_and_leftovers(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    frame = pd.DataFrame({"x": range(7)})
    lake.write_partition(frame, "features", "demand", D[0])
    lake.write_json(lake.partition("features", "demand", D[0]), VALIDATION_RECORD, {"dt": str(D[0])})
    lake.write_partition(frame.head(3), "predictions", "demand", D[0])
    quarantined = f"{lake.partition('quarantine', 'demand', D[2])}/raw"
    lake.fs.makedirs(quarantined)
    (tmp_path / "lake" / "quarantine" / "demand" / "dt=2026-03-03" / "raw" / "report.html").write_text("<html/>")
    lake.fs.makedirs(lake.staging("features", "demand", D[1]))

    snap = lake_facts(lake, "demand", Snapshot(day=D[2]))
    assert snap.features == {D[0]: PartitionFacts(1, 7, True)}
    assert snap.predictions == {D[0]: PartitionFacts(1, 3, False)}
    assert [f.rsplit("/", 1)[-1] for f in snap.quarantined[D[2]]] == ["report.html"]
    assert len(snap.leftovers) == 1 and "_staging-dt=2026-03-02" in snap.leftovers[0]
    found = {i.name: i for i in check_invariants(snap, [D[0]], [D[2]], [D[0]], COOLDOWN)}
    assert not found["one predictions partition per scored day"].held  # 3 predictions for 7 feature rows
    assert not found["no staging or temporary leftovers in the lake"].held


def test_the_table_has_a_row_per_day_and_names_what_broke():
    snap = healthy()
    snap.running_mlflow_runs.append("r9")
    text = table(
        [
            (D[0], check_invariants(healthy(), GOOD, BAD, GOOD[1:], COOLDOWN)),
            (D[1], check_invariants(snap, GOOD, BAD, GOOD[1:], COOLDOWN)),
        ]
    )
    assert text.count("\n| 2026-03-0") == 2 and "**FAILED**: run r9" in text
