"""Features for the `demand` pipeline: hourly units per store and item.

Calendar, lags and rolling windows of units come from :mod:`spark_jobs.series_features` (leak
free: everything ends at least ``horizon_hours`` before the hour). Price, promotion and the
holiday flag are planned in advance and used for the hour itself; the price is also compared
with its mean over the week before the horizon (a discount signal).
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from ml_tasks.spec import PipelineSpec
from spark_jobs.series_features import CALENDAR, lag_and_window_columns, series_features

PRICE_WINDOW_HOURS = 168
KNOWN_AHEAD = {"is_holiday": "int", "promo": "int", "price": "double"}


def categorical_columns(spec: PipelineSpec) -> list[str]:
    return list(spec.data.keys)


def feature_columns(spec: PipelineSpec) -> list[str]:
    """Model inputs in a fixed order: keys (categorical), calendar, price, lags, windows."""
    return [*categorical_columns(spec), *CALENDAR, *KNOWN_AHEAD, f"price_ratio_{PRICE_WINDOW_HOURS}h",
            *lag_and_window_columns(spec)]


def build_features(raw: DataFrame, spec: PipelineSpec) -> DataFrame:
    """Compute the feature table for every row of ``raw`` (the caller filters to the interval)."""
    return series_features(raw, spec, known_ahead=KNOWN_AHEAD, ratio_to_recent_mean={"price": PRICE_WINDOW_HOURS})
