"""The demand features written in DuckDB SQL, three ways: the benchmark's peers for the Spark job.

Same definitions as ``spark_jobs.demand_features``: lags are the value exactly N hours earlier,
rolling windows cover the hours (t - horizon - width, t - horizon], the price ratio divides by
the mean price over the 168 hours ending a horizon earlier (1.0 when there is none). Written
independently in SQL so that agreement of the outputs checks both sides. The formulations:

- ``range_frames``: sliding RANGE frames over event time, straight from the definitions;
- ``dense_rows``: each series on a dense hourly grid (missing hours as null rows), so that a
  range of hours is a range of rows: ``lag()`` and ROWS frames, which DuckDB evaluates faster;
- ``dense_running_sums``: the same grid, one running sum (and sum of squares, count) per column,
  and every window a difference of two lagged running sums: no frame is re-aggregated at all.

The grid ones assume timestamps on whole hours, as the demo's are. The benchmark runs each and
reports the fastest (``FORMULATIONS``).
"""

from __future__ import annotations

from ml_tasks.core.spec import PipelineSpec

HOUR = 3600


def _raw(raw_glob: str) -> str:
    return f"""raw AS (
  SELECT CAST(store_id AS VARCHAR) AS store_id, CAST(item_id AS VARCHAR) AS item_id,
         CAST(ts AS TIMESTAMPTZ) AS ts, CAST(units AS DOUBLE) AS units, CAST(price AS DOUBLE) AS price,
         CAST(promo AS INTEGER) AS promo, CAST(is_holiday AS INTEGER) AS is_holiday,
         epoch(ts)::BIGINT AS t
  FROM read_parquet('{raw_glob}')
)"""


CALENDAR = "hour(ts) AS hour, (isodow(ts) - 1) AS day_of_week, CAST(isodow(ts) >= 6 AS INTEGER) AS is_weekend"


def _dense(keys: str) -> str:
    """Every hour of each series from its first to its last row; ``present`` marks the raw rows."""
    return f"""bounds AS (SELECT {keys}, min(t) AS lo, max(t) AS hi FROM raw GROUP BY ALL),
grid AS (SELECT {keys}, unnest(range(lo, hi + {HOUR}, {HOUR})) AS t FROM bounds),
dense AS (
  SELECT {", ".join(f"g.{k}" for k in keys.split(", "))}, g.t, r.ts, r.units, r.price, r.promo, r.is_holiday,
         r.t IS NOT NULL AS present
  FROM grid g LEFT JOIN raw r USING ({keys}, t)
)"""


def _present_rows(keys: str, cols: list[str]) -> str:
    """The grid rows that were raw rows, with the calendar and the features named in ``cols``."""
    names = ", ".join(c.rsplit(" AS ", 1)[1] for c in cols)
    return f"""feats AS (
  SELECT {keys}, ts, t, units, price, promo, is_holiday, {CALENDAR}, {names} FROM windowed WHERE present
)"""


def _select(body: str, first_day: str, last_day: str) -> str:
    return f"""{body}
SELECT * EXCLUDE (t) FROM feats WHERE CAST(ts AS DATE) BETWEEN DATE '{first_day}' AND DATE '{last_day}'"""


def range_frames(spec: PipelineSpec, raw_glob: str, first_day: str, last_day: str) -> str:
    h = spec.features.horizon_seconds
    keys = ", ".join(spec.data.keys)
    cols = []
    for lag in [s // 3600 for s in spec.features.lag_seconds]:
        s = lag * HOUR
        cols.append(f"first(units) OVER (w RANGE BETWEEN {s} PRECEDING AND {s} PRECEDING) AS lag_{lag}h")
    for width in [s // 3600 for s in spec.features.window_seconds]:
        frame = f"(w RANGE BETWEEN {h + width * HOUR - HOUR} PRECEDING AND {h} PRECEDING)"
        cols.append(f"avg(units) OVER {frame} AS rolling_mean_{width}h")
        cols.append(f"stddev_samp(units) OVER {frame} AS rolling_std_{width}h")
    frame = f"(w RANGE BETWEEN {h + 168 * HOUR - HOUR} PRECEDING AND {h} PRECEDING)"
    cols.append(f"coalesce(price / avg(price) OVER {frame}, 1.0) AS price_ratio_168h")
    return _select(
        f"""WITH {_raw(raw_glob)}, feats AS (
  SELECT {keys}, ts, t, units, price, promo, is_holiday, {CALENDAR}, {", ".join(cols)}
  FROM raw WINDOW w AS (PARTITION BY {keys} ORDER BY t)
)""",
        first_day,
        last_day,
    )


def dense_rows(spec: PipelineSpec, raw_glob: str, first_day: str, last_day: str) -> str:
    h = spec.features.horizon_seconds // 3600
    keys = ", ".join(spec.data.keys)
    cols = [f"lag(units, {lag}) OVER w AS lag_{lag}h" for lag in [s // 3600 for s in spec.features.lag_seconds]]
    for width in [s // 3600 for s in spec.features.window_seconds]:
        frame = f"(w ROWS BETWEEN {h + width - 1} PRECEDING AND {h} PRECEDING)"
        cols.append(f"avg(units) OVER {frame} AS rolling_mean_{width}h")
        cols.append(f"stddev_samp(units) OVER {frame} AS rolling_std_{width}h")
    cols.append(
        f"coalesce(price / avg(price) OVER (w ROWS BETWEEN {h + 167} PRECEDING AND {h} PRECEDING), 1.0) "
        "AS price_ratio_168h"
    )
    return _select(
        f"""WITH {_raw(raw_glob)}, {_dense(keys)}, windowed AS (
  SELECT *, {", ".join(cols)} FROM dense WINDOW w AS (PARTITION BY {keys} ORDER BY t)
), {_present_rows(keys, cols)}""",
        first_day,
        last_day,
    )


def dense_running_sums(spec: PipelineSpec, raw_glob: str, first_day: str, last_day: str) -> str:
    h = spec.features.horizon_seconds // 3600
    keys = ", ".join(spec.data.keys)
    run = "OVER (w ROWS UNBOUNDED PRECEDING)"

    def between(name: str, width: int) -> str:
        """Sum of the running column ``name`` over rows (i - h - width, i - h]."""
        return f"(lag({name}, {h}) OVER w - coalesce(lag({name}, {h + width}) OVER w, 0))"

    cols = [f"lag(units, {lag}) OVER w AS lag_{lag}h" for lag in [s // 3600 for s in spec.features.lag_seconds]]
    for width in [s // 3600 for s in spec.features.window_seconds]:
        n, s, q = between("cn", width), between("cs", width), between("cq", width)
        cols.append(f"{s} / nullif({n}, 0) AS rolling_mean_{width}h")
        cols.append(
            f"CASE WHEN {n} >= 2 THEN sqrt(greatest(({q} - {s} * {s} / {n}) / ({n} - 1), 0)) END "
            f"AS rolling_std_{width}h"
        )
    pn, ps = between("pn", 168), between("ps", 168)
    cols.append(f"coalesce(price / ({ps} / nullif({pn}, 0)), 1.0) AS price_ratio_168h")
    return _select(
        f"""WITH {_raw(raw_glob)}, {_dense(keys)}, running AS (
  SELECT *, sum(units) {run} AS cs, sum(units * units) {run} AS cq, count(units) {run} AS cn,
         sum(price) {run} AS ps, count(price) {run} AS pn
  FROM dense WINDOW w AS (PARTITION BY {keys} ORDER BY t)
), windowed AS (
  SELECT *, {", ".join(cols)} FROM running WINDOW w AS (PARTITION BY {keys} ORDER BY t)
), {_present_rows(keys, cols)}""",
        first_day,
        last_day,
    )


FORMULATIONS = {"range_frames": range_frames, "dense_rows": dense_rows, "dense_running_sums": dense_running_sums}


def features_sql(
    spec: PipelineSpec, raw_glob: str, first_day: str, last_day: str, formulation: str = "range_frames"
) -> str:
    return FORMULATIONS[formulation](spec, raw_glob, first_day, last_day)
