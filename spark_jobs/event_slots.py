"""Events to slots on Spark: the feature job's view of a pipeline whose raw data is events.

The same aggregation as :func:`ml_tasks.core.events.aggregate` (see that module for the rules):
one row per key and slot of every day the events fall on, a count or sum of 0 where a slot has no
events, the last value by event time for ``last``. The result has the spec's keys, timestamp and
event outputs, so the feature module that follows sees an ordinary regular series.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml_tasks.core import events
from ml_tasks.core.cadence import DAY
from ml_tasks.core.spec import PipelineSpec
from spark_jobs.series_features import event_time


def aggregate_events(raw: DataFrame, spec: PipelineSpec) -> DataFrame:
    aggregations = events.parse(spec.data.events or {})
    keys, ts, step = list(spec.data.keys), spec.data.timestamp, spec.features.step_seconds
    t = F.unix_seconds(event_time(raw, ts))
    df = raw.select(
        *[F.col(k).cast("string").alias(k) for k in keys],
        (t - F.pmod(t, F.lit(step))).alias("_slot"),
        t.alias("_t"),
        *[F.col(c) for c in events.sources(aggregations)],
    )
    exprs = []
    for name, (op, column) in aggregations.items():
        if op == "count":
            exprs.append(F.count(F.lit(1)).alias(name))
        elif op == "last":
            exprs.append(F.max_by(F.col(column), F.col("_t")).alias(name))
        else:
            value = F.col(column).cast("double")
            exprs.append({"sum": F.sum, "mean": F.avg, "max": F.max, "min": F.min}[op](value).alias(name))
    table = df.groupBy(*keys, "_slot").agg(*exprs)
    if step < DAY:
        days = df.select((F.col("_slot") - F.pmod(F.col("_slot"), F.lit(DAY))).alias("_day")).distinct()
        slots = days.select(
            F.explode(F.sequence(F.col("_day"), F.col("_day") + F.lit(DAY - step), F.lit(step))).alias("_slot")
        )
    else:
        slots = df.select("_slot").distinct()
    grid = df.select(*keys).distinct().crossJoin(slots) if keys else slots
    out = grid.join(table, on=[*keys, "_slot"], how="left")
    filled = [
        F.coalesce(F.col(name), F.lit(0)).alias(name) if op in events.ZERO_WHEN_EMPTY else F.col(name)
        for name, (op, _) in aggregations.items()
    ]
    return out.select(*keys, F.timestamp_seconds(F.col("_slot")).alias(ts), *filled)
