"""What must hold after every simulated day of a soak run, checked from the records alone.

A :class:`Snapshot` is what the lake, the MLflow registry and Airflow say at the end of a day
(collected by :func:`lake_facts` and the soak runner); :func:`check` compares it with the plan's
expectations and returns one :class:`Invariant` per rule, held or not, with the evidence. The
checks are pure, so a unit test can feed them a broken snapshot and see each one fail.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any

from ml_tasks.core.lake import Lake
from ml_tasks.data.gate_records import VALIDATION_RECORD

LEFTOVER_PREFIXES = ("_staging-", "_retired-")  # what feature jobs and Lake.publish write beside partitions
STUCK_STATES = ("running", "queued", "scheduled", "restarting", "up_for_retry", "up_for_reschedule", "deferred")


@dataclass
class PartitionFacts:
    """One published partition: its data files, rows, and whether it carries its gate record."""

    files: int
    rows: int
    validated: bool


@dataclass
class Snapshot:
    """The records at the end of one simulated day (everything the invariants look at)."""

    day: date
    features: dict[date, PartitionFacts] = field(default_factory=dict)
    predictions: dict[date, PartitionFacts] = field(default_factory=dict)
    quarantined: dict[date, list[str]] = field(default_factory=dict)  # day -> files of its quarantine folder
    leftovers: list[str] = field(default_factory=list)  # staging or temporary names left in the lake
    versions: dict[str, str] = field(default_factory=dict)  # model version -> the training run that made it
    registering_runs: list[str] = field(default_factory=list)  # training runs tagged with a registered version
    running_mlflow_runs: list[str] = field(default_factory=list)
    champion: str | None = None
    audit: list[dict[str, Any]] = field(default_factory=list)  # @champion moves, oldest first
    retrain_requests: list[datetime] = field(default_factory=list)
    stuck_tasks: list[str] = field(default_factory=list)  # "dag/run/task: state" with no run going on
    disk_bytes: dict[str, int] = field(default_factory=dict)  # logs, lake, mlflow, airflow_db


@dataclass
class Invariant:
    name: str
    held: bool
    detail: str = ""


def _result(name: str, problems: list[str], ok_detail: str) -> Invariant:
    return Invariant(
        name,
        not problems,
        "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
        if problems
        else ok_detail,
    )


def check_invariants(
    snap: Snapshot,
    good_days: list[date],
    bad_days: list[date],
    scored_days: list[date],
    cooldown: timedelta,
    previous: Snapshot | None = None,
) -> list[Invariant]:
    """Every invariant for ``snap``; ``good_days``/``bad_days`` are the plan's days landed so far."""
    out = []
    problems = [f"{d}: not published" for d in good_days if d not in snap.features]
    problems += [f"{d}: {p.files} data files" for d, p in snap.features.items() if p.files != 1 and d in good_days]
    problems += [f"{d}: published without its gate record" for d, p in snap.features.items() if not p.validated]
    out.append(_result("good days published once, gated", problems, f"{len(good_days)} day(s)"))

    problems = [f"{d}: not in quarantine" for d in bad_days if d not in snap.quarantined]
    problems += [
        f"{d}: quarantined without its report"
        for d in bad_days
        if d in snap.quarantined and not any(f.endswith("report.html") for f in snap.quarantined[d])
    ]
    problems += [f"{d}: has features" for d in bad_days if d in snap.features]
    problems += [f"{d}: has predictions" for d in bad_days if d in snap.predictions]
    problems += [f"{d}: good day in quarantine" for d in good_days if d in snap.quarantined]
    out.append(_result("bad days quarantined with report, nothing downstream", problems, f"{len(bad_days)} day(s)"))

    problems = [f"{d}: not scored" for d in scored_days if d not in snap.predictions]
    for d, p in snap.predictions.items():
        if p.files != 1:
            problems.append(f"{d}: {p.files} prediction files")
        feats = snap.features.get(d)
        if feats is None:
            problems.append(f"{d}: predictions without features")
        elif p.rows != feats.rows:
            problems.append(f"{d}: {p.rows} predictions for {feats.rows} feature rows")
    out.append(_result("one predictions partition per scored day", problems, f"{len(snap.predictions)} day(s)"))

    made = Counter(snap.versions.values())
    problems = [f"run {r} registered no version" for r in sorted(set(snap.registering_runs) - set(made))]
    problems += [
        f"v{v} from run {r}, which is not a registering training run"
        for v, r in snap.versions.items()
        if r not in snap.registering_runs
    ]
    problems += [f"run {r} registered {n} versions" for r, n in sorted(made.items()) if n > 1]
    out.append(_result("model versions = training runs that registered", problems, f"{len(snap.versions)} version(s)"))

    out.append(_champion_moves(snap, previous))

    problems = [
        f"requests at {a:%Y-%m-%d %H:%M} and {b:%Y-%m-%d %H:%M} closer than {cooldown}"
        for a, b in pairwise(sorted(snap.retrain_requests))
        if b - a < cooldown
    ]
    out.append(_result("retrain requests respect the cooldown", problems, f"{len(snap.retrain_requests)} request(s)"))
    out.append(_result("no MLflow run left RUNNING", [f"run {r}" for r in snap.running_mlflow_runs], "none"))
    out.append(_result("no staging or temporary leftovers in the lake", list(snap.leftovers), "none"))
    out.append(_result("no Airflow task stuck in a running state", list(snap.stuck_tasks), "none"))
    return out


def _champion_moves(snap: Snapshot, previous: Snapshot | None) -> Invariant:
    """The audit trail is a chain ending at today's champion, and any move since yesterday is in it."""
    problems = []
    for before, after in pairwise(snap.audit):
        if (after.get("from_version") or None) != (before.get("to_version") or None):
            problems.append(f"audit jumps from v{before.get('to_version')} to a move from v{after.get('from_version')}")
    last = snap.audit[-1].get("to_version") if snap.audit else None
    if (snap.champion or None) != (last or None):
        problems.append(f"@champion is v{snap.champion} but the audit trail ends at v{last}")
    if previous is not None:
        if snap.audit[: len(previous.audit)] != previous.audit:
            problems.append("audit records changed or disappeared since the day before")
        if snap.champion != previous.champion and len(snap.audit) == len(previous.audit):
            problems.append(f"@champion moved v{previous.champion} -> v{snap.champion} without an audit record")
    return _result(
        "the champion moved only through the gate (alias moves = audit records)",
        problems,
        f"{len(snap.audit)} move(s), champion v{snap.champion}",
    )


def disk_growth(snapshots: list[Snapshot], tolerance: float = 3.0) -> Invariant:
    """Disk use grows about linearly: no day adds more than ``tolerance`` x the median day's growth
    (plus 5 MB of slack for small stores), and nothing shrinks by more than it grew."""
    problems = []
    kinds = sorted({k for s in snapshots for k in s.disk_bytes})
    for kind in kinds:
        sizes = [s.disk_bytes.get(kind, 0) for s in snapshots]
        steps = [b - a for a, b in pairwise(sizes)]
        if len(steps) < 3:
            continue
        median = sorted(steps)[len(steps) // 2]
        limit = tolerance * max(median, 0) + 5 * 2**20
        problems += [
            f"{kind}: day {snapshots[i + 1].day} added {step / 2**20:.1f} MB (median {median / 2**20:.1f} MB)"
            for i, step in enumerate(steps)
            if step > limit
        ]
    return _result(
        "disk use grows about linearly with days",
        problems,
        ", ".join(f"{k} {snapshots[-1].disk_bytes.get(k, 0) / 2**20:.0f} MB" for k in kinds)
        if snapshots
        else "no days",
    )


def lake_facts(lake: Lake, pipeline: str, snap: Snapshot) -> Snapshot:
    """Fill ``snap``'s lake fields from the lake: published partitions, quarantine, leftovers."""
    import pyarrow.parquet as pq

    fs = lake.fs

    def partition(zone: str, d: date) -> PartitionFacts:
        path = lake.partition(zone, pipeline, d)
        files = lake.parquet_files(path)
        rows = sum(pq.ParquetFile(fs.open(f, "rb")).metadata.num_rows for f in files)
        return PartitionFacts(len(files), rows, fs.exists(f"{path}/{VALIDATION_RECORD}"))

    snap.features = {d: partition("features", d) for d in lake.partitions("features", pipeline)}
    snap.predictions = {d: partition("predictions", d) for d in lake.partitions("predictions", pipeline)}
    snap.quarantined = {
        d: sorted(fs.find(lake.partition("quarantine", pipeline, d))) for d in lake.partitions("quarantine", pipeline)
    }
    for zone in ("raw", "features", "predictions"):
        base = lake.zone(zone, pipeline)
        if fs.exists(base):
            snap.leftovers += [
                p for p in fs.ls(base, detail=False) if p.rstrip("/").rsplit("/", 1)[-1].startswith(LEFTOVER_PREFIXES)
            ]
    return snap


def lake_fingerprint(
    lake: Lake, pipelines: tuple[str, ...], zones: tuple[str, ...] = ("raw", "features", "predictions")
) -> dict[str, str]:
    """A digest per zone of every published row, independent of file names and row order: two
    soak runs of the same seed must print the same digests (the same lake contents)."""
    import hashlib

    import pandas as pd

    out = {}
    for zone in zones:
        digest = hashlib.sha256()
        for pipeline in pipelines:
            for d in lake.partitions(zone, pipeline):
                frame = lake.read_partition(zone, pipeline, d)
                frame = frame[sorted(frame.columns)]
                rows = pd.util.hash_pandas_object(frame.round(9) if zone != "raw" else frame, index=False)
                digest.update(f"{pipeline}/{d}:{len(frame)}:".encode())
                digest.update(rows.sort_values().to_numpy().tobytes())
        out[zone] = digest.hexdigest()[:16]
    return out


def table(rows: list[tuple[date | str, list[Invariant]]]) -> str:
    """One line per day (or day and pipeline), one column per invariant: "ok" or what broke."""
    if not rows:
        return "(no days checked)"
    names = [i.name for i in rows[0][1]]
    lines = ["| day | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for day, invariants in rows:
        lines.append(
            f"| {day} | " + " | ".join("ok" if i.held else f"**FAILED**: {i.detail}" for i in invariants) + " |"
        )
    return "\n".join(lines)
