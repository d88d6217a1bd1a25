"""The demand features written in DuckDB SQL: the benchmark's peer for the Spark job.

Same definitions as ``spark_jobs.demand_features``: lags are the value exactly N hours earlier,
rolling windows cover the hours (t - horizon - width, t - horizon], the price ratio divides by
the mean price over the 168 hours ending a horizon earlier. Written independently in SQL so
that agreement of the two outputs checks both.
"""

from __future__ import annotations

from ml_tasks.core.spec import PipelineSpec


def features_sql(spec: PipelineSpec, raw_glob: str, first_day: str, last_day: str) -> str:
    h = spec.features.horizon_hours * 3600
    keys = ", ".join(spec.data.keys)
    win = f"PARTITION BY {keys} ORDER BY t"
    cols = []
    for lag in spec.features.lags_hours:
        s = lag * 3600
        cols.append(f"first(units) OVER (w RANGE BETWEEN {s} PRECEDING AND {s} PRECEDING) AS lag_{lag}h")
    for width in spec.features.rolling_hours:
        lo = h + width * 3600 - 3600
        frame = f"(w RANGE BETWEEN {lo} PRECEDING AND {h} PRECEDING)"
        cols.append(f"avg(units) OVER {frame} AS rolling_mean_{width}h")
        cols.append(f"stddev_samp(units) OVER {frame} AS rolling_std_{width}h")
    lo = h + 168 * 3600 - 3600
    cols.append(f"coalesce(price / avg(price) OVER (w RANGE BETWEEN {lo} PRECEDING AND {h} PRECEDING), 1.0) AS price_ratio_168h")
    return f"""
WITH raw AS (
  SELECT CAST(store_id AS VARCHAR) AS store_id, CAST(item_id AS VARCHAR) AS item_id,
         CAST(ts AS TIMESTAMPTZ) AS ts, CAST(units AS DOUBLE) AS units, CAST(price AS DOUBLE) AS price,
         CAST(promo AS INTEGER) AS promo, CAST(is_holiday AS INTEGER) AS is_holiday,
         epoch(ts)::BIGINT AS t
  FROM read_parquet('{raw_glob}')
), feats AS (
  SELECT store_id, item_id, ts, units, price, promo, is_holiday,
         hour(ts) AS hour, (isodow(ts) - 1) AS day_of_week, CAST(isodow(ts) >= 6 AS INTEGER) AS is_weekend,
         {", ".join(cols)}
  FROM raw
  WINDOW w AS ({win})
)
SELECT * FROM feats WHERE CAST(ts AS DATE) BETWEEN DATE '{first_day}' AND DATE '{last_day}'
"""
