"""Leak-free features for hourly series, shared by every pipeline's feature module.

A pipeline's feature module says which raw columns it uses and calls :func:`series_features`.
Every lag and rolling window is a time range over the series' own past that ends at least
``horizon_hours`` before the row's hour, so a row's features only use what was known a horizon
earlier (no leakage). Ranges are over event time (seconds), not row counts, so missing hours in
the raw data do not shift a lag onto the wrong hour. Columns named ``known_ahead`` (prices,
promotions, holidays: planned in advance) are used for the hour itself.

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
CALENDAR = ["hour", "day_of_week", "is_weekend"]


def lag_and_window_columns(spec: PipelineSpec, history_of: list[str] | None = None) -> list[str]:
    """Names of the lag and rolling-window features of each ``history_of`` column (default: the target).

    The target's are ``lag_24h``, ``rolling_mean_168h``...; another column's carry its name first,
    ``logins_lag_24h``, ``logins_rolling_mean_168h``.
    """
    f = spec.features
    out = []
    for col in history_of or [spec.data.target]:
        prefix = "" if col == spec.data.target else f"{col}_"
        out += [f"{prefix}lag_{h}h" for h in f.lags_hours]
        out += [f"{prefix}rolling_{stat}_{h}h" for h in f.rolling_hours for stat in ("mean", "std")]
    return out


def event_time(raw: DataFrame, column: str) -> Column:
    """The event-time column as a Spark timestamp, whatever precision the raw Parquet has.

    Microsecond and millisecond timestamps read as timestamps (naive ones are taken as UTC);
    nanosecond ones (pandas' default) arrive as long nanoseconds since the epoch (see
    ``spark_jobs.session``) and are truncated to microseconds.
    """
    from pyspark.sql.types import LongType

    if isinstance(raw.schema[column].dataType, LongType):
        return F.timestamp_micros((F.col(column) / F.lit(1000)).cast("long"))
    return F.col(column).cast("timestamp")


def _edge(series: Window, column: str, hours_back: int) -> Column:
    """The running value of ``column`` at the last row at or before ``hours_back`` hours ago."""
    frame = series.rangeBetween(Window.unboundedPreceding, -hours_back * HOUR)
    return F.coalesce(F.last(column).over(frame), F.lit(0.0))


def series_features(raw: DataFrame, spec: PipelineSpec, known_ahead: dict[str, str] | None = None,
                    ratio_to_recent_mean: dict[str, int] | None = None,
                    history_of: list[str] | None = None) -> DataFrame:
    """Keys, timestamp, ``dt``, target, calendar, the ``known_ahead`` columns (name -> Spark type),
    lags and rolling mean/std of each ``history_of`` column (default: the target; leave the target
    out when its value is only known later, like a churn label), and for each column in
    ``ratio_to_recent_mean`` its value over its mean in the given number of hours before the
    horizon (``<col>_ratio_<hours>h``).

    Columns come out as keys, timestamp, ``dt``, target, then the features in a fixed order.
    """
    ts, target = spec.data.timestamp, spec.data.target
    horizon = spec.features.horizon_hours
    keys = list(spec.data.keys)
    known_ahead = known_ahead or {}
    ratios = ratio_to_recent_mean or {}
    history = history_of or [target]
    prefix = {c: "" if c == target else f"{c}_" for c in history}
    series = Window.partitionBy(*keys).orderBy("_t")
    running = series.rowsBetween(Window.unboundedPreceding, Window.currentRow)

    df = raw.select(
        *[F.col(k).cast("string").alias(k) for k in keys],
        event_time(raw, ts).alias(ts),
        F.col(target).cast("double").alias(target),
        *[F.col(c).cast(kind).alias(c) for c, kind in known_ahead.items()],
        *[F.col(c).cast("double").alias(c) for c in history if c != target and c not in known_ahead],
    ).withColumn("_t", F.col(ts).cast("long"))

    # Pass 1: running sums per series (an incremental frame).
    sums, counts = {}, {}
    for c in history:
        sums[f"_{c}_hs"], sums[f"_{c}_hq"] = F.col(c), F.col(c) * F.col(c)
        counts[f"_{c}_hn"] = c
    for c in ratios:
        sums[f"_{c}_s"] = F.col(c)
        counts[f"_{c}_n"] = c
    df = df.select("*", *[F.sum(e).over(running).alias(n) for n, e in sums.items()],
                   *[F.count(c).over(running).alias(n) for n, c in counts.items()])

    # Pass 2: lags (zero-width frames) and window edges (incremental frames), same ordering.
    cols = [
        F.hour(ts).alias("hour"),
        ((F.dayofweek(ts) + 5) % 7).alias("day_of_week"),  # Monday = 0, like Python
        F.dayofweek(ts).isin(1, 7).cast("int").alias("is_weekend"),
    ]
    for c in history:
        for lag in spec.features.lags_hours:
            exact = series.rangeBetween(-lag * HOUR, -lag * HOUR)
            cols.append(F.first(c, ignorenulls=True).over(exact).alias(f"{prefix[c]}lag_{lag}h"))
    edges = {}
    widths = {horizon, *(horizon + w for w in spec.features.rolling_hours), *(horizon + w for w in ratios.values())}
    for hours in widths:
        for col in [*sums, *counts]:
            edges[(col, hours)] = f"{col}_at_{hours}"
            cols.append(_edge(series, col, hours).alias(edges[(col, hours)]))
    out = df.select("*", *cols)

    def window_sum(col: str, width: int) -> Column:
        return F.col(edges[(col, horizon)]) - F.col(edges[(col, horizon + width)])

    derived = []
    for c in history:
        for width in spec.features.rolling_hours:
            n, s, q = window_sum(f"_{c}_hn", width), window_sum(f"_{c}_hs", width), window_sum(f"_{c}_hq", width)
            mean = F.when(n > 0, s / n)
            var = F.when(n > 1, F.greatest((q - s * s / n) / (n - 1), F.lit(0.0)))
            derived += [mean.alias(f"{prefix[c]}rolling_mean_{width}h"), F.sqrt(var).alias(f"{prefix[c]}rolling_std_{width}h")]
    for c, width in ratios.items():
        n, s = window_sum(f"_{c}_n", width), window_sum(f"_{c}_s", width)
        derived.append(F.coalesce(F.col(c) / F.when(n > 0, s / n), F.lit(1.0)).alias(f"{c}_ratio_{width}h"))

    out = out.select("*", *derived).withColumn("dt", F.to_date(ts))
    features = [*CALENDAR, *known_ahead, *[f"{c}_ratio_{w}h" for c, w in ratios.items()],
                *lag_and_window_columns(spec, history)]
    return out.select(*keys, ts, "dt", target, *features)
