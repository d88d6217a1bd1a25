"""The features gate: a staged features day validated against its suite (in pandas when the day is small,
on Spark otherwise), its lag and window columns allowed the nulls the raw data's gaps explain; a day that
fails is quarantined whole, staged files and all."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.data.expectations import GateResult, build_suite, read_suite, validate
from ml_tasks.data.feature_nulls import explained_null_shares, features_lookback_days, raw_null_shares, raw_rows_by_day
from ml_tasks.data.gates import GateFailed, calibrate, interval_parameters, utc_naive
from ml_tasks.data.quarantine import quarantine


def features_suite_for(
    lake: Lake,
    expectations_dir: Path,
    spec: PipelineSpec,
    dt: date,
    rows_by_day: dict[date, int] | None = None,
    data: dict | None = None,
):
    """The features suite calibrated for day ``dt``: lag and window nulls as raw gaps explain."""
    from datetime import timedelta

    if rows_by_day is None:
        span = [dt - timedelta(days=k) for k in range(features_lookback_days(spec) + 1)]
        rows_by_day = raw_rows_by_day(lake, spec, span)
    data = data if data is not None else read_suite(expectations_dir, spec.data.features_suite)
    explained = explained_null_shares(spec, dt, rows_by_day, raw_null_shares(expectations_dir, spec))
    return build_suite(calibrate(data, spec, rows_by_day.get(dt, 0), "features", explained))


def validates_in_pandas(rows: int, pandas_max_rows: int) -> bool:
    """Whether a staged day of ``rows`` rows is validated in pandas (no Spark session) rather than on
    Spark; ``pandas_max_rows`` 0 means always Spark."""
    return 0 < pandas_max_rows and rows <= pandas_max_rows


def check_staged_features(
    lake: Lake,
    expectations_dir: Path,
    spec: PipelineSpec,
    dt: date,
    staged: str,
    spark=None,
    rows_by_day: dict[date, int] | None = None,
) -> GateResult:
    """Validate one day's staged feature rows; moves nothing.

    With a Spark session the rows are validated on Spark and never collected (a day too big for
    one process); without one, in pandas, which for a day of a few thousand rows takes a tenth of
    a second against a Spark session's start-up of 6-10 s. The same suite runs on either; pandas
    failures also name the keys and time of a few offending rows.
    """
    suite = features_suite_for(lake, expectations_dir, spec, dt, rows_by_day)
    if spark is None:
        frame = utc_naive(lake.read_folder(staged), spec.data.timestamp)
        return validate(
            frame,
            suite,
            interval_parameters(dt, naive=True, step=spec.features.step_seconds),
            keys=[*spec.data.keys, spec.data.timestamp],
        )
    with lake.spark_inputs([staged]) as paths:
        return validate(spark.read.parquet(*paths), suite, interval_parameters(dt, step=spec.features.step_seconds))


def quarantine_features(lake: Lake, spec: PipelineSpec, dt: date, staged: str, result: GateResult) -> GateFailed:
    where = quarantine(lake, spec.name, dt, "features", staged, result)
    return GateFailed(
        f"features for {spec.name} dt={dt} failed the gate and were moved to {where}\n"
        f"{result.summary()}\nreport: {where}/report.html"
    )


def gate_staged_features(
    lake: Lake, expectations_dir: Path, spec: PipelineSpec, dt: date, staged: str, spark=None
) -> GateResult:
    """Validate staged feature rows (on Spark when given a session, else in pandas: see
    :func:`check_staged_features`); on failure quarantine them and raise."""
    result = check_staged_features(lake, expectations_dir, spec, dt, staged, spark)
    if not result.success:
        raise quarantine_features(lake, spec, dt, staged, result)
    return result
