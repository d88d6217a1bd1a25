"""Feature backfill: the `<pipeline>_features` DAG's steps for a range of days in one Spark job.

Running the daily DAG once per historical day costs a Spark start and a gate per day. A backfill
gates every raw day in one validation pass (:mod:`ml_tasks.data.range_gates`: per-day checks only for
days whose facts or rows fail), builds all days' features in one Spark job, gates them the same
way (:mod:`ml_tasks.data.range_features_gate`) and publishes the days that pass, with each day's gate
record. Released days (:mod:`ml_tasks.data.release`) skip the raw gate with their release record; the
newest landed day, when it is only short of rows or series, is left pending in the raw zone rather
than quarantined.

Nothing good is lost and a broken suite does not empty the lake: before anything is moved, a
backfill in which more than ``max_quarantine_share`` of the days (and more than
``MIN_DAYS_TO_STOP`` days) would fail stops with :class:`SuiteProblem`, which names the
expectations responsible. That many bad days is nearly always a suite that does not fit the
data (a null share profiled from a small sample, a range too tight), not bad data.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.data.day_history import publish_features
from ml_tasks.data.features_gate import quarantine_features
from ml_tasks.data.gate_records import stamp_validation
from ml_tasks.data.gates import quarantine_raw
from ml_tasks.data.range_checks import RangeVerdict
from ml_tasks.data.range_features_gate import gate_features_days
from ml_tasks.data.range_gates import gate_raw_days, gate_raw_each_day
from ml_tasks.data.release import release_record, released_gate_record, still_arriving

log = logging.getLogger(__name__)
MAX_QUARANTINE_SHARE = 0.05
MIN_DAYS_TO_STOP = 3  # a short backfill with one or two bad days is data, not a suite problem


class SuiteProblem(RuntimeError):
    """Too many days would be quarantined: the message names the expectations that failed most."""


@dataclass
class BackfillReport:
    published: list[date] = field(default_factory=list)
    quarantined: dict[date, str] = field(default_factory=dict)
    pending: dict[date, str] = field(default_factory=dict)  # the newest day, short of rows: still arriving
    released: list[date] = field(default_factory=list)  # published as they are (`conveyor quarantine release`)
    missing: list[date] = field(default_factory=list)  # asked for, but no raw data landed
    raw_passes: int = 0
    features_passes: int = 0
    checked_per_day: int = 0


def _limit(days: int, share: float) -> int:
    """The most failing days a backfill of ``days`` days accepts before it stops."""
    return max(MIN_DAYS_TO_STOP - 1, int(share * days))


def _refuse_if_too_many(spec: PipelineSpec, stage: str, verdict: RangeVerdict, days: int, share: float) -> None:
    limit = _limit(days, share)
    if len(verdict.failed) <= limit:
        return
    blame = Counter(f"{f['expectation']}({f['target']})" for r in verdict.failed.values() for f in r.failures)
    named = "\n".join(f"  - {what}: failed on {n} day(s)" for what, n in blame.most_common(8))
    examples = ", ".join(d.isoformat() for d in sorted(verdict.failed)[:5])
    suite = spec.data.raw_suite if stage == "raw" else spec.data.features_suite
    timing = any(what.endswith(f"({spec.data.timestamp})") for what in blame)
    hint = (
        (
            f" Failures on {spec.data.timestamp!r} often mean the data's cadence is not the spec's "
            f"features.frequency ({spec.features.frequency}): `conveyor validate {spec.name}` checks it."
        )
        if timing
        else ""
    )
    raise SuiteProblem(
        f"{spec.name}: the {stage} gate would quarantine at least {len(verdict.failed)} of {days} day(s) (more than "
        f"{share:.0%}), so nothing was quarantined or published. This looks like a problem with the suite "
        f"expectations/{suite}.json rather than with the data. Expectations responsible:\n{named}\n"
        f"Days such as {examples}. Fix or loosen those expectations (`conveyor profile {spec.name}` re-profiles the "
        f"suite from the landed data), then run the backfill again; --max-quarantine-share 1 quarantines them anyway."
        + hint
    )


def backfill_features(
    settings: ConveyorSettings,
    spec: PipelineSpec,
    days: list[date],
    progress: Callable[[str], None] = print,
    spark=None,
    max_quarantine_share: float = MAX_QUARANTINE_SHARE,
    one_pass: bool = True,
) -> BackfillReport:
    """Gate, build, gate and publish the features of ``days``; returns what happened per day.

    ``one_pass=False`` gates day by day as the daily DAG does (the peer of ``make bench-backfill``).
    """
    from spark_jobs.features_job import stage_features
    from spark_jobs.session import spark_session

    lake = Lake.from_settings(settings)
    report = BackfillReport()
    landed = set(lake.partitions("raw", spec.name))
    report.missing = sorted(d for d in set(days) if d not in landed)
    days = sorted(d for d in set(days) if d in landed)
    if report.missing:
        progress(f"{len(report.missing)} day(s) have no raw data and are skipped")
    if not days:
        return report
    limit = _limit(len(days), max_quarantine_share)
    released = {d: r for d in days if (r := release_record(lake, spec, d)) is not None}  # accepted as they are
    to_gate = [d for d in days if d not in released]
    if not to_gate:
        raw = RangeVerdict()
    elif one_pass:
        raw = gate_raw_days(lake, settings.expectations_dir, spec, to_gate, max_failures=limit, progress=progress)
    else:
        raw = gate_raw_each_day(lake, settings.expectations_dir, spec, to_gate)
    report.raw_passes, report.checked_per_day = raw.passes, len(raw.checked_per_day)
    _refuse_if_too_many(spec, "raw", raw, len(days), max_quarantine_share)
    raw.passed.update({d: released_gate_record(spec, r) for d, r in released.items()})
    report.released = sorted(released)
    newest = max(landed)
    for d, result in sorted(raw.failed.items()):
        if d == newest and still_arriving(result):
            report.pending[d] = "; ".join(
                f"{f['expectation']}({f['target']}): {f['observed']}" for f in result.failures
            )
            progress(
                f"raw {d}: PENDING (the newest day, with fewer rows or series than usual: still arriving? It is "
                f"gated again when more of it lands; `conveyor quarantine release` accepts it as it is)"
            )
            continue
        report.quarantined[d] = str(quarantine_raw(lake, spec, d, result))
        progress(f"raw {d}: QUARANTINED ({len(result.failures)} failed expectation(s))")
    good = sorted(raw.passed)
    if not good:
        return report
    progress(f"raw gate passed for {len(good)}/{len(days)} day(s); building features with Spark")
    spark = spark or spark_session(settings, f"{spec.name}_features_backfill")
    staged = stage_features(settings, spec, good, spark=spark)
    features = gate_features_days(
        lake,
        settings.expectations_dir,
        spec,
        staged,
        spark,
        max_failures=limit,
        one_pass=one_pass,
        progress=progress,
        pandas_max_rows=settings.features_gate_pandas_max_rows,
    )
    report.features_passes = features.passes
    report.checked_per_day += len(features.checked_per_day)
    try:
        _refuse_if_too_many(spec, "features", features, len(good), max_quarantine_share)
    except SuiteProblem:
        for path in staged.values():
            lake.fs.rm(path, recursive=True)
            lake._drop_empty_staging_root(path)
        raise
    for d, result in sorted(features.failed.items()):
        report.quarantined[d] = str(quarantine_features(lake, spec, d, staged[d], result))
        progress(f"features {d}: QUARANTINED ({len(result.failures)} failed expectation(s))")
    published = [d for d in sorted(staged) if d in features.passed]
    for i, d in enumerate(published, start=1):
        stamp_validation(lake, staged[d], d, raw.passed[d], features.passed[d])
        publish_features(lake, spec.name, staged[d], d, by="backfill-features")
        report.published.append(d)
        if i % 30 == 0 or i == len(published):
            progress(f"[{i}/{len(published)}] features published through {d}")
    return report
