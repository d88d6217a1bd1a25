"""Features for the `churn` pipeline: one row per customer and day.

The label (`churned`: leaves within the week) is only known a week later, so it gets no lags;
the customer's activity does (the spec's ``history_of``: usage, logins and support tickets),
each lagged and averaged over the last week, all ending a day (``horizon``) before the row. The
plan, region, fee and tenure (the spec's ``known_ahead``) are the customer's state at the start
of the day and are used as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_tasks.core.spec import PipelineSpec
from ml_tasks.features.columns import categorical_columns, lag_and_window_columns  # noqa: F401

if TYPE_CHECKING:  # naming the columns needs no Spark; building them does
    from pyspark.sql import DataFrame


def feature_columns(spec: PipelineSpec) -> list[str]:
    """Model inputs: plan and region (categorical), state, day of week, activity history."""
    return [
        *(c for c in categorical_columns(spec) if c not in spec.data.keys),
        "day_of_week",
        *(c for c, kind in spec.features.known_ahead.items() if kind != "string"),
        *lag_and_window_columns(spec),
    ]


def build_features(raw: DataFrame, spec: PipelineSpec) -> DataFrame:
    from spark_jobs.series_features import series_features

    out = series_features(raw, spec)
    return out.select(*spec.data.keys, spec.data.timestamp, "dt", spec.data.target, *feature_columns(spec))
