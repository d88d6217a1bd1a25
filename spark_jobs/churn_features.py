"""Features for the `churn` pipeline: one row per customer and day.

The label (`churned`: leaves within the week) is only known a week later, so it gets no lags;
the customer's activity does: usage, logins and support tickets, each lagged and averaged over
the last week, all ending a day (``horizon_hours``) before the row. The plan, region, fee and
tenure are the customer's state at the start of the day and are used as they are.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from ml_tasks.spec import PipelineSpec
from spark_jobs.series_features import lag_and_window_columns, series_features

KNOWN_AHEAD = {"plan": "string", "region": "string", "tenure_days": "double", "monthly_fee": "double"}
ACTIVITY = ["usage_minutes", "logins", "support_tickets"]


def categorical_columns(spec: PipelineSpec) -> list[str]:
    return ["plan", "region"]


def feature_columns(spec: PipelineSpec) -> list[str]:
    """Model inputs: plan and region (categorical), state, day of week, activity history."""
    return [*categorical_columns(spec), "day_of_week", "tenure_days", "monthly_fee",
            *lag_and_window_columns(spec, ACTIVITY)]


def build_features(raw: DataFrame, spec: PipelineSpec) -> DataFrame:
    out = series_features(raw, spec, known_ahead=KNOWN_AHEAD, history_of=ACTIVITY)
    return out.select(*spec.data.keys, spec.data.timestamp, "dt", spec.data.target, *feature_columns(spec))
