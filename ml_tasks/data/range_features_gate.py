"""The features gate over many days at once (a backfill's): one Spark aggregation of per-day facts,
one validation pass over the rest, per-day checks only for the days that need them (see
:mod:, which does the same for raw days)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.data.expectations import build_suite, read_suite, validate
from ml_tasks.data.feature_nulls import explained_null_shares, features_lookback_days, raw_null_shares, raw_rows_by_day
from ml_tasks.data.features_gate import check_staged_features, validates_in_pandas
from ml_tasks.data.gate_records import gate_record
from ml_tasks.data.gates import (
    interval_parameters,
    null_share_bound,
    spanning,
)
from ml_tasks.data.range_checks import (
    RangeVerdict,
    between,
    bisect,
    count_ok,
    parameterised,
    resolve,
    settle,
    split_suite,
)

log = logging.getLogger(__name__)


def gate_features_days(
    lake: Lake,
    expectations_dir: Path,
    spec: PipelineSpec,
    staged: dict[date, str],
    spark,
    max_failures: int | None = None,
    one_pass: bool = True,
    progress: Callable[[str], None] = lambda m: None,
    pandas_max_rows: int = 0,
) -> RangeVerdict:
    """Gate staged feature days: one Spark pass plus per-day null shares from one aggregation; moves nothing.

    A day checked on its own (``one_pass=False``, or to confirm a day the pass flagged) is
    validated in pandas when it has at most ``pandas_max_rows`` rows, as the daily DAG does.
    """
    from pyspark.sql import functions as F

    days, step = sorted(staged), spec.features.step_seconds
    first = days[0] - timedelta(days=features_lookback_days(spec))
    span = [first + timedelta(days=k) for k in range((days[-1] - first).days + 1)]  # every calendar day
    rows = raw_rows_by_day(lake, spec, span)
    data = read_suite(expectations_dir, spec.data.features_suite)
    verdict = RangeVerdict()
    in_pass, per_day, unsupported = split_suite(data)
    column_nulls = raw_null_shares(expectations_dir, spec)
    explained = {d: explained_null_shares(spec, d, rows, column_nulls) for d in days}
    lag_nulls = [
        e
        for e in in_pass
        if e["type"] == "expect_column_values_to_not_be_null" and e["kwargs"].get("column") in explained[days[0]]
    ]
    in_pass = [e for e in in_pass if e not in lag_nulls]
    if not one_pass or unsupported:
        if unsupported:
            log.warning("suite %s has %s: gating each staged day", spec.data.features_suite, sorted(set(unsupported)))
        for d in days:
            _check_features_one(lake, expectations_dir, spec, d, staged[d], spark, rows, verdict, pandas_max_rows)
        return verdict

    flagged: dict[date, list[str]] = {}
    with lake.spark_inputs([staged[d] for d in days]) as paths:
        sdf = spark.read.parquet(*paths)
        day = F.to_date(F.col(spec.data.timestamp))  # the feature job's partition column (not in the files)
        checks = [*lag_nulls, *per_day]
        null_columns = [
            e["kwargs"]["column"]
            for e in checks
            if e["type"] == "expect_column_values_to_not_be_null" and e["kwargs"].get("column") in sdf.columns
        ]
        bounded = [
            e["kwargs"]["column"]
            for e in checks
            if e["type"] == "expect_column_values_to_be_between" and e["kwargs"].get("column") in sdf.columns
        ]
        facts = (
            sdf.groupBy(day.alias("dt"))
            .agg(
                F.count(F.lit(1)).alias("_rows"),
                *[F.sum(F.col(c).isNull().cast("int")).alias(c) for c in dict.fromkeys(null_columns)],
                *[F.min(c).alias(f"_min_{c}") for c in dict.fromkeys(bounded)],
                *[F.max(c).alias(f"_max_{c}") for c in dict.fromkeys(bounded)],
            )
            .toPandas()
        )
        facts["dt"] = pd.to_datetime(facts["dt"]).dt.date
        facts = facts.set_index("dt")
        for d in days:
            if d not in facts.index:
                flagged.setdefault(d, []).append("no feature rows")
                continue
            n = int(facts.at[d, "_rows"])
            params = interval_parameters(d, step=step)
            for e in checks:
                if e.get("severity", "critical") == "warning":
                    continue  # the per-day features gate reports warnings; the range does not need them
                column = e["kwargs"].get("column")
                if e["type"] == "expect_table_row_count_to_be_between" and not parameterised(e["kwargs"]):
                    if not count_ok(n, e["kwargs"]):
                        flagged.setdefault(d, []).append(f"{e['type']}(table)")
                    continue
                if e["type"] == "expect_column_values_to_be_between" and column in bounded:
                    extremes = pd.Series([facts.at[d, f"_min_{column}"], facts.at[d, f"_max_{column}"]])
                    if "now" in params and hasattr(extremes.iloc[0], "tzinfo") and extremes.iloc[0].tzinfo is None:
                        params = interval_parameters(d, naive=True, step=step)
                    if not between(extremes, resolve(e["kwargs"], params)):
                        flagged.setdefault(d, []).append(f"{e['type']}({column})")
                    continue
                if e["type"] != "expect_column_values_to_not_be_null" or column not in facts.columns:
                    flagged.setdefault(d, []).append(f"{e['type']}({column})")
                    continue
                share = explained[d].get(column, (e.get("meta") or {}).get("null_share"))
                limit = (
                    null_share_bound(share, rows.get(d, n)) if share is not None else 1 - e["kwargs"].get("mostly", 1)
                )
                if n and facts.at[d, column] / n > limit + 1e-12:
                    flagged.setdefault(d, []).append(f"{e['type']}({column})")
        range_params = spanning(interval_parameters(days[0], step=step), interval_parameters(days[-1], step=step))
        result = validate(sdf, build_suite({**data, "expectations": in_pass}), range_params)
        verdict.passes += 1
        failing: list[date] = []
        if not result.success:
            blocking = build_suite(
                {**data, "expectations": [e for e in in_pass if e.get("severity", "critical") != "warning"]}
            )

            def fails(subset: list[date]) -> bool:
                part = sdf.where(day.isin([d.isoformat() for d in subset]))
                return not validate(part, blocking, range_params, verdict_only=True).success

            verdict.passes += bisect(days, fails, max_failures if max_failures is not None else len(days), failing)
    settle(
        "features",
        days,
        flagged,
        failing,
        verdict,
        max_failures,
        progress,
        lambda d: _check_features_one(
            lake, expectations_dir, spec, d, staged[d], spark, rows, verdict, pandas_max_rows
        ),
    )
    record = gate_record(result, scope=f"range {days[0]}..{days[-1]}")
    for d in days:
        if d not in flagged:
            verdict.passed[d] = record
    return verdict


def _check_features_one(
    lake, expectations_dir, spec, d, path, spark, rows, verdict: RangeVerdict, pandas_max_rows: int = 0
) -> None:
    engine = (
        None if validates_in_pandas(rows.get(d, 0), pandas_max_rows) else spark
    )  # a day's feature rows are its raw rows
    result = check_staged_features(lake, expectations_dir, spec, d, path, engine, rows)
    verdict.checked_per_day.append(d)
    if result.success:
        verdict.passed[d] = gate_record(result)
    else:
        verdict.failed[d] = result
