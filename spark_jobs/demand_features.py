"""Features for the `demand` pipeline: a pure Spark DataFrame -> DataFrame transform.

Every lag and rolling window is a time range over the series' own past that ends at least
``horizon_hours`` before the row's hour, so a row's features only use what was known a horizon
earlier (no leakage). Ranges are over event time (seconds), not row counts, so missing hours in
the raw data do not shift a lag onto the wrong hour. Price, promotion and the holiday flag are
planned in advance and are used for the hour itself.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ml_tasks.spec import PipelineSpec

HOUR = 3600


def categorical_columns(spec: PipelineSpec) -> list[str]:
    return list(spec.data.keys)


def feature_columns(spec: PipelineSpec) -> list[str]:
    """Model inputs in a fixed order: keys (categorical), calendar, price, lags, windows."""
    f = spec.features
    lags = [f"lag_{h}h" for h in f.lags_hours]
    windows = [f"rolling_{stat}_{h}h" for h in f.rolling_hours for stat in ("mean", "std")]
    return [
        *categorical_columns(spec),
        "hour", "day_of_week", "is_weekend", "is_holiday", "promo",
        "price", "price_ratio_168h", *lags, *windows,
    ]


def _past_range(spec: PipelineSpec, order: Column, width_hours: int):
    """Window over the ``width_hours`` hours that end ``horizon_hours`` before each row."""
    horizon = spec.features.horizon_hours
    w = Window.partitionBy(*spec.data.keys).orderBy(order)
    return w.rangeBetween(-(horizon + width_hours - 1) * HOUR, -horizon * HOUR)


def build_features(raw: DataFrame, spec: PipelineSpec) -> DataFrame:
    """Compute the feature table for every row of ``raw`` (the caller filters to the interval)."""
    ts, target = spec.data.timestamp, spec.data.target
    epoch = F.col(ts).cast("long")
    series = Window.partitionBy(*spec.data.keys).orderBy(epoch)

    df = raw.select(
        *[F.col(k).cast("string").alias(k) for k in spec.data.keys],
        F.col(ts),
        F.col(target).cast("double").alias(target),
        F.col("price").cast("double").alias("price"),
        F.col("promo").cast("int").alias("promo"),
        F.col("is_holiday").cast("int").alias("is_holiday"),
    )
    cols = [
        F.hour(ts).alias("hour"),
        ((F.dayofweek(ts) + 5) % 7).alias("day_of_week"),  # Monday = 0, like Python
        F.dayofweek(ts).isin(1, 7).cast("int").alias("is_weekend"),
    ]
    for lag in spec.features.lags_hours:
        exact = series.rangeBetween(-lag * HOUR, -lag * HOUR)
        cols.append(F.first(target, ignorenulls=True).over(exact).alias(f"lag_{lag}h"))
    for width in spec.features.rolling_hours:
        window = _past_range(spec, epoch, width)
        cols.append(F.avg(target).over(window).alias(f"rolling_mean_{width}h"))
        cols.append(F.stddev_samp(target).over(window).alias(f"rolling_std_{width}h"))
    past_price = F.avg("price").over(_past_range(spec, epoch, 168))
    cols.append(F.coalesce(F.col("price") / past_price, F.lit(1.0)).alias("price_ratio_168h"))

    out = df.select("*", *cols).withColumn("dt", F.to_date(ts))
    ordered = [*spec.data.keys, ts, "dt", target, *[c for c in feature_columns(spec) if c not in spec.data.keys]]
    return out.select(*ordered)
