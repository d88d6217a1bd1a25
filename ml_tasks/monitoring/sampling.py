"""Reading a monitoring window: a simple random sample of rows across many Parquet files.

Drift tests on millions of rows cost time but barely change the verdict: the statistics the
tests use (distances between distributions) are estimated to within a fraction of their
thresholds from 100k rows. The sample is drawn without replacement, uniformly over every row of
the window (each file contributes in proportion to its size), with a seed so that a re-run of
an interval sees the same rows. Only the requested columns are read.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from ml_tasks.core.lake import Lake


def sample_partitions(
    lake: Lake, zone: str, pipeline: str, dates: list[date], columns: list[str] | None, rows: int, seed: int
) -> tuple[pd.DataFrame, int]:
    """``rows`` rows drawn uniformly without replacement from the partitions (all rows if fewer).

    Returns the sample and the number of rows it was drawn from.
    """
    import pyarrow.parquet as pq

    fs = lake.fs
    files = [f for d in dates for f in lake.parquet_files(lake.partition(zone, pipeline, d))]
    counts = []
    for f in files:
        with fs.open(f, "rb") as fh:
            counts.append(pq.ParquetFile(fh).metadata.num_rows)
    total = int(sum(counts))
    picks = None if total <= rows else np.sort(np.random.default_rng(seed).choice(total, size=rows, replace=False))
    parts, start = [], 0
    for f, n in zip(files, counts, strict=True):
        end = start + n
        if picks is None:
            local = None
        else:
            lo, hi = np.searchsorted(picks, [start, end])
            local = picks[lo:hi] - start
        start = end
        if local is not None and len(local) == 0:
            continue
        with fs.open(f, "rb") as fh:
            table = pq.read_table(fh, columns=columns)
        parts.append((table if local is None else table.take(local)).to_pandas())
    if not parts:
        return pd.DataFrame(columns=columns or []), total
    return pd.concat(parts, ignore_index=True), total
