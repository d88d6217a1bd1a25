"""Leak-free features for series of any regular cadence, from the spec alone or from a pipeline's module.

This module is itself a complete feature module (the spec's default ``features.module``):
:func:`build_features` and :func:`feature_columns` make calendar columns, the spec's
``known_ahead`` columns, and lags and rolling windows of ``history_of`` (default: the target).
A pipeline with its own module calls :func:`series_features` with extra pieces.

Every lag and rolling window is a time range over the series' own past that ends at least
``horizon`` (in steps of the spec's cadence: minutes, hours, days or weeks) before the row's time, so a
row's features only use what was known a horizon earlier (no leakage). Ranges are over event time (microseconds), not
row counts, so missing hours or days in the raw data do not shift a lag onto the wrong time:
the lag of a missing time is null, and both model families take nulls. Known-ahead columns
(prices, promotions, holidays: planned in advance) are used for the row itself; text ones stay
text and become categories. Without keys the whole table is one series.

Speed: a sliding range frame re-aggregates its whole window for every row (O(rows x width)),
while a frame from the series' start to a fixed time before the row is evaluated incrementally
(each row adds to the aggregates of the row before). Every feature is read from such frames, all
in one window pass (one shuffle, one sort): a rolling sum, sum of squares or count is the
difference of two of them (the edges of its window), and a lag is the last row of its frame when
that row's time is exactly the lag's (else null: the hour is missing). Raw rows are unique per
series and time (the raw gate checks it).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ml_tasks.core.spec import PipelineSpec
from ml_tasks.features.columns import (
    calendar_columns,
    feature_columns,  # noqa: F401
    history_columns,
    lag_and_window_columns,
)

HOUR = 3600
CALENDAR = ["hour", "day_of_week", "is_weekend"]  # the hourly calendar, for modules written before daily data


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


DAY = 24 * HOUR
MICROS = 1_000_000  # event times cross the window as microseconds since the epoch


def _epoch_day(t: str) -> Column:
    """Days since 1970-01-01 (UTC) of the epoch seconds in column ``t``, rounded down."""
    return ((F.col(t) - F.pmod(F.col(t), F.lit(DAY))) / F.lit(DAY)).cast("int")


def _calendar(spec: PipelineSpec, t: str) -> list[Column]:
    """The cadence's calendar columns (``ml_tasks.core.cadence.calendar_columns``) in UTC from the
    epoch seconds in column ``t``, by integer arithmetic where it can: Spark's ``hour`` and
    ``dayofweek`` go through java.time per row (about a tenth of the whole job at 10M rows).
    1970-01-01 was a Thursday (3, counting from Monday = 0, like Python)."""
    dow = F.pmod(_epoch_day(t) + F.lit(3), F.lit(7))
    of_day = F.pmod(F.col(t), F.lit(DAY))
    columns = {
        "hour": (of_day / F.lit(HOUR)).cast("int"),
        "minute": (F.pmod(of_day, F.lit(HOUR)) / F.lit(60)).cast("int"),
        "day_of_week": dow,
        "is_weekend": (dow >= 5).cast("int"),
        "month": F.month(F.date_from_unix_date(_epoch_day(t))),
        "week_of_year": F.weekofyear(F.date_from_unix_date(_epoch_day(t))),
    }
    return [columns[name].alias(name) for name in calendar_columns(spec)]


def _known_ahead_column(raw: DataFrame, column: str, kind: str) -> Column:
    """A known-ahead column as its spec type; yes/no or true/false text becomes 0/1 for ``int``."""
    from pyspark.sql.types import BooleanType, StringType

    source = raw.schema[column].dataType
    if kind == "int" and isinstance(source, StringType):
        text = F.lower(F.trim(F.col(column)))
        return (
            F.when(text.isin("yes", "true", "y", "t"), 1)
            .when(text.isin("no", "false", "n", "f"), 0)
            .otherwise(F.col(column).cast("int"))
            .alias(column)
        )
    if kind == "string" and isinstance(source, BooleanType):
        return F.col(column).cast("int").cast("string").alias(column)
    return F.col(column).cast(kind).alias(column)


def series_features(
    raw: DataFrame,
    spec: PipelineSpec,
    known_ahead: dict[str, str] | None = None,
    ratio_to_recent_mean: dict[str, int] | None = None,
    history_of: list[str] | None = None,
) -> DataFrame:
    """Keys, timestamp, ``dt``, target, calendar, the ``known_ahead`` columns (name -> Spark type;
    default: the spec's), lags and rolling mean/std of each ``history_of`` column (default: the
    spec's, else the target; leave the target out when its value is only known later, like a
    churn label), and for each column in ``ratio_to_recent_mean`` its value over its mean in the
    given number of hours before the horizon (``<col>_ratio_<hours>h``).

    Columns come out as keys, timestamp, ``dt``, target, then the features in a fixed order.
    """
    ts, target = spec.data.timestamp, spec.data.target
    unit = spec.features.step_seconds
    horizon = spec.features.horizon
    keys = list(spec.data.keys)
    known_ahead = spec.features.known_ahead if known_ahead is None else known_ahead
    ratios = ratio_to_recent_mean or {}
    history = history_of or history_columns(spec)
    prefix = {c: "" if c == target else f"{c}_" for c in history}
    series = Window.partitionBy(*keys).orderBy("_t") if keys else Window.orderBy("_t")

    # Only what the window needs crosses the shuffle: the event time as one long (microseconds,
    # exact) and no calendar yet; the timestamp and calendar are made from it afterwards.
    df = raw.select(
        *[F.col(k).cast("string").alias(k) for k in keys],
        F.unix_micros(event_time(raw, ts)).alias("_t"),
        F.col(target).cast("double").alias(target),
        *[_known_ahead_column(raw, c, kind) for c, kind in known_ahead.items()],
        *[F.col(c).cast("double").alias(c) for c in history if c != target and c not in known_ahead],
    )

    # One window pass. Every frame runs from the series' start to a fixed time before the row
    # (incremental in Spark); sums and counts give the window edges, `last` the lags. Nulls add
    # nothing and count nothing.
    # name -> (what is summed or counted, the edges it is needed at: only its own windows')
    history_edges = {horizon * unit, *((horizon + w) * unit for w in spec.features.windows)}
    sums: dict[str, tuple[Column, set[int]]] = {}
    counts: dict[str, tuple[str, set[int]]] = {}
    for c in history:
        sums[f"_{c}_hs"], sums[f"_{c}_hq"] = (F.col(c), history_edges), (F.col(c) * F.col(c), history_edges)
        counts[f"_{c}_hn"] = (c, history_edges)
    for c, width in ratios.items():
        ratio_edges = {horizon * unit, horizon * unit + width * HOUR}
        sums[f"_{c}_s"], counts[f"_{c}_n"] = (F.col(c), ratio_edges), (c, ratio_edges)
    edge_seconds = set().union(*(at for _, at in (*sums.values(), *counts.values())))
    lag_seconds = {lag * unit for lag in spec.features.lags}
    cols, edges = [], {}
    for seconds in sorted(edge_seconds | lag_seconds):
        frame = series.rangeBetween(Window.unboundedPreceding, -seconds * MICROS)
        if seconds in lag_seconds:
            cols.append(F.last("_t").over(frame).alias(f"_t_at_{seconds}"))
            cols += [F.last(c).over(frame).alias(f"_{c}_last_{seconds}") for c in history]
        for name, (e, at) in sums.items():
            if seconds in at:
                edges[(name, seconds)] = f"{name}_at_{seconds}"
                cols.append(F.coalesce(F.sum(e).over(frame), F.lit(0.0)).alias(edges[(name, seconds)]))
        for name, (c, at) in counts.items():
            if seconds in at:
                edges[(name, seconds)] = f"{name}_at_{seconds}"
                cols.append(F.count(c).over(frame).alias(edges[(name, seconds)]))
    out = df.select("*", *cols)
    lags = [
        F.when(
            F.col(f"_t_at_{lag * unit}") == F.col("_t") - lag * unit * MICROS, F.col(f"_{c}_last_{lag * unit}")
        ).alias(f"{prefix[c]}lag_{spec.features.span(lag)}")
        for c in history
        for lag in spec.features.lags
    ]
    out = out.select("*", *lags)

    def window_sum(col: str, seconds: int) -> Column:
        return F.col(edges[(col, horizon * unit)]) - F.col(edges[(col, horizon * unit + seconds)])

    out = out.withColumn(ts, F.timestamp_micros("_t")).withColumn("_s", F.unix_seconds(F.col(ts)))
    derived = _calendar(spec, "_s")
    for c in history:
        for width in spec.features.windows:
            n, s, q = (window_sum(f"_{c}_h{k}", width * unit) for k in ("n", "s", "q"))
            mean = F.when(n > 0, s / n)
            var = F.when(n > 1, F.greatest((q - s * s / n) / (n - 1), F.lit(0.0)))
            name = spec.features.span(width)
            derived += [
                mean.alias(f"{prefix[c]}rolling_mean_{name}"),
                F.sqrt(var).alias(f"{prefix[c]}rolling_std_{name}"),
            ]
    for c, width in ratios.items():
        n, s = window_sum(f"_{c}_n", width * HOUR), window_sum(f"_{c}_s", width * HOUR)
        derived.append(F.coalesce(F.col(c) / F.when(n > 0, s / n), F.lit(1.0)).alias(f"{c}_ratio_{width}h"))

    out = out.select("*", *derived).withColumn("dt", F.date_from_unix_date(_epoch_day("_s")))
    features = [
        *calendar_columns(spec),
        *known_ahead,
        *[f"{c}_ratio_{w}h" for c, w in ratios.items()],
        *lag_and_window_columns(spec, history),
    ]
    return out.select(*keys, ts, "dt", target, *features)


def build_features(raw: DataFrame, spec: PipelineSpec) -> DataFrame:
    """The default feature module: everything from the spec (see :func:`feature_columns`)."""
    return series_features(raw, spec)
