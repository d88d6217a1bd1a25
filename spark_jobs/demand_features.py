"""Features for the `demand` pipeline: a pure Spark DataFrame -> DataFrame transform.

Every lag and rolling window is a time range over the series' own past that ends at least
``horizon_hours`` before the row's hour, so a row's features only use what was known a horizon
earlier (no leakage). Ranges are over event time (seconds), not row counts, so missing hours in
the raw data do not shift a lag onto the wrong hour. Price, promotion and the holiday flag are
planned in advance and are used for the hour itself.

Speed: a sliding range frame re-aggregates its whole window for every row (O(rows x width)).
Rolling sums are instead differences of running sums: one pass accumulates the running sum,
sum of squares and count per series, and each window edge is the last running value at or
before that edge, read through a frame that starts at the series' beginning (which Spark
evaluates incrementally). Both passes share one partitioning and ordering: one shuffle, one sort.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ml_tasks.spec import PipelineSpec

HOUR = 3600
PRICE_WINDOW_HOURS = 168


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
        "price", f"price_ratio_{PRICE_WINDOW_HOURS}h", *lags, *windows,
    ]


def _edge(series: Window, column: str, hours_back: int) -> Column:
    """The running value of ``column`` at the last row at or before ``hours_back`` hours ago."""
    frame = series.rangeBetween(Window.unboundedPreceding, -hours_back * HOUR)
    return F.coalesce(F.last(column).over(frame), F.lit(0.0))


def build_features(raw: DataFrame, spec: PipelineSpec) -> DataFrame:
    """Compute the feature table for every row of ``raw`` (the caller filters to the interval)."""
    ts, target = spec.data.timestamp, spec.data.target
    horizon = spec.features.horizon_hours
    keys = list(spec.data.keys)
    series = Window.partitionBy(*keys).orderBy("_t")
    running = series.rowsBetween(Window.unboundedPreceding, Window.currentRow)

    df = raw.select(
        *[F.col(k).cast("string").alias(k) for k in keys],
        F.col(ts).cast("timestamp").alias(ts),  # naive (NTZ) input is read as UTC
        F.col(target).cast("double").alias(target),
        F.col("price").cast("double").alias("price"),
        F.col("promo").cast("int").alias("promo"),
        F.col("is_holiday").cast("int").alias("is_holiday"),
    ).withColumn("_t", F.col(ts).cast("long"))

    # Pass 1: running sums per series (an incremental frame).
    df = df.select(
        "*",
        F.sum(target).over(running).alias("_s"),
        F.sum(F.col(target) * F.col(target)).over(running).alias("_q"),
        F.count(target).over(running).alias("_n"),
        F.sum("price").over(running).alias("_ps"),
        F.count("price").over(running).alias("_pn"),
    )

    # Pass 2: lags (zero-width frames) and window edges (incremental frames), same ordering.
    cols = [
        F.hour(ts).alias("hour"),
        ((F.dayofweek(ts) + 5) % 7).alias("day_of_week"),  # Monday = 0, like Python
        F.dayofweek(ts).isin(1, 7).cast("int").alias("is_weekend"),
    ]
    for lag in spec.features.lags_hours:
        exact = series.rangeBetween(-lag * HOUR, -lag * HOUR)
        cols.append(F.first(target, ignorenulls=True).over(exact).alias(f"lag_{lag}h"))
    edges = {}
    for hours in {horizon, *(horizon + w for w in spec.features.rolling_hours), horizon + PRICE_WINDOW_HOURS}:
        for col in ("_s", "_q", "_n", "_ps", "_pn"):
            name = f"{col}_at_{hours}"
            edges[(col, hours)] = name
            cols.append(_edge(series, col, hours).alias(name))
    out = df.select("*", *cols)

    def window_sum(col: str, width: int) -> Column:
        return F.col(edges[(col, horizon)]) - F.col(edges[(col, horizon + width)])

    derived = []
    for width in spec.features.rolling_hours:
        n, s, q = window_sum("_n", width), window_sum("_s", width), window_sum("_q", width)
        mean = F.when(n > 0, s / n)
        var = F.when(n > 1, F.greatest((q - s * s / n) / (n - 1), F.lit(0.0)))
        derived += [mean.alias(f"rolling_mean_{width}h"), F.sqrt(var).alias(f"rolling_std_{width}h")]
    pn, ps = window_sum("_pn", PRICE_WINDOW_HOURS), window_sum("_ps", PRICE_WINDOW_HOURS)
    derived.append(F.coalesce(F.col("price") / F.when(pn > 0, ps / pn), F.lit(1.0)).alias(f"price_ratio_{PRICE_WINDOW_HOURS}h"))

    out = out.select("*", *derived).withColumn("dt", F.to_date(ts))
    ordered = [*keys, ts, "dt", target, *[c for c in feature_columns(spec) if c not in keys]]
    return out.select(*ordered)
