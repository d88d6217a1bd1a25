"""Feature backfill: the `<pipeline>_features` DAG's steps for a range of days in one Spark job.

Running the daily DAG once per historical day costs a Spark start per day; a backfill gates
every raw day, builds all days' features in one job, gates each staged day and publishes the
ones that pass, with the same functions the DAG calls. Days that fail a gate are quarantined
and reported; the others are published.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from ml_tasks.gates import GateFailed, gate_raw_partition, gate_record, gate_staged_features, stamp_validation
from ml_tasks.lake import Lake
from ml_tasks.settings import ConveyorSettings
from ml_tasks.spec import PipelineSpec

log = logging.getLogger(__name__)


@dataclass
class BackfillReport:
    published: list[date] = field(default_factory=list)
    quarantined: dict[date, str] = field(default_factory=dict)


def backfill_features(
    settings: ConveyorSettings, spec: PipelineSpec, days: list[date],
    progress: Callable[[str], None] = print, spark=None,
) -> BackfillReport:
    """Gate, build, gate and publish the features of ``days``; returns what happened per day."""
    from spark_jobs.features_job import stage_features
    from spark_jobs.session import spark_session

    lake = Lake.from_settings(settings)
    report = BackfillReport()
    good, raw_records = [], {}
    for i, d in enumerate(sorted(days), start=1):
        try:
            raw_records[d] = gate_record(gate_raw_partition(lake, settings.expectations_dir, spec, d))
            good.append(d)
        except GateFailed as exc:
            report.quarantined[d] = str(exc)
            progress(f"[{i}/{len(days)}] raw {d}: QUARANTINED")
    if not good:
        return report
    progress(f"raw gate passed for {len(good)}/{len(days)} day(s); building features with Spark")
    spark = spark or spark_session(settings, f"{spec.name}_features_backfill")
    staged = stage_features(settings, spec, good, spark=spark)
    whole = _whole_range_result(lake, settings, spec, staged, spark)
    if whole.success:
        progress(f"features gate passed for all {len(staged)} staged day(s) at once")
        range_record = gate_record(whole, scope=f"range {min(staged)}..{max(staged)}")
    for i, (d, path) in enumerate(sorted(staged.items()), start=1):
        if whole.success:
            features_record = range_record
        else:  # find the failing days one by one, publish the rest
            try:
                features_record = gate_record(gate_staged_features(lake, settings.expectations_dir, spec, d, path, spark))
            except GateFailed as exc:
                report.quarantined[d] = str(exc)
                progress(f"[{i}/{len(staged)}] features {d}: QUARANTINED")
                continue
        stamp_validation(lake, path, d, raw_records[d], features_record)
        lake.publish(path, "features", spec.name, d)
        report.published.append(d)
        if i % 7 == 0 or i == len(staged):
            progress(f"[{i}/{len(staged)}] features published through {d}")
    return report


def _whole_range_result(lake: Lake, settings: ConveyorSettings, spec: PipelineSpec, staged: dict, spark):
    from ml_tasks.gates import interval_parameters
    from ml_tasks.validation import load_suite, validate

    first, last = min(staged), max(staged)
    params = {"interval_start": interval_parameters(first)["interval_start"],
              "interval_last_hour": interval_parameters(last)["interval_last_hour"]}
    # The day folders themselves: Spark skips a path whose name starts with '_' (the staging root).
    with lake.spark_inputs(list(staged.values())) as paths:
        sdf = spark.read.parquet(*paths)
        return validate(sdf, load_suite(settings.expectations_dir, spec.data.features_suite), params)
