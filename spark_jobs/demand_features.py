"""Features for the `demand` pipeline: hourly units per store and item.

Calendar, the spec's known-ahead columns (price, promotion and the holiday flag: planned in
advance, so used for the hour itself), lags and rolling windows of units come from
:mod:`spark_jobs.series_features` (leak free: everything ends at least ``horizon`` hours before
the hour). The price is also compared with its mean over the week before the horizon (a
discount signal).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_tasks.core.spec import PipelineSpec
from ml_tasks.features.columns import calendar_columns, lag_and_window_columns

if TYPE_CHECKING:  # naming the columns needs no Spark; building them does
    from pyspark.sql import DataFrame

PRICE_WINDOW_HOURS = 168


def categorical_columns(spec: PipelineSpec) -> list[str]:
    return list(spec.data.keys)


def feature_columns(spec: PipelineSpec) -> list[str]:
    """Model inputs in a fixed order: keys (categorical), calendar, price, lags, windows."""
    return [
        *categorical_columns(spec),
        *calendar_columns(spec),
        *spec.features.known_ahead,
        f"price_ratio_{PRICE_WINDOW_HOURS}h",
        *lag_and_window_columns(spec),
    ]


def build_features(raw: DataFrame, spec: PipelineSpec) -> DataFrame:
    """Compute the feature table for every row of ``raw`` (the caller filters to the interval)."""
    from spark_jobs.series_features import series_features

    return series_features(raw, spec, ratio_to_recent_mean={"price": PRICE_WINDOW_HOURS})
