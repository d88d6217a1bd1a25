"""The sample `conveyor new-pipeline --from-sample` profiles: the whole file, or a uniform sample of it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

SAMPLE_ROWS = 500_000  # a larger --from-sample file is read in full, streamed, and sampled uniformly


class ScaffoldError(ValueError):
    """The request cannot become a pipeline; the message says what to change."""


def read_sample(
    path: Path, max_rows: int = SAMPLE_ROWS, seed: int = 0, delimiter: str | None = None, decimal: str | None = None
) -> pd.DataFrame:
    """Raw data to profile: the whole file, or, when it has more than ``max_rows`` rows, a uniform
    random sample of them read in a stream (Parquet record batches or CSV chunks), never the whole
    file in memory. CSV files are read as `conveyor land` reads them (dialect sniffed or given)."""
    import numpy as np

    from ml_tasks.data.landing import LandingError, csv_options, read_table

    if not path.exists():
        raise ScaffoldError(f"--from-sample {path}: no such file")
    if path.suffix.lower() in (".csv", ".tsv", ".txt"):
        try:
            chunks = pd.read_csv(path, chunksize=max(max_rows // 4, 1), **csv_options(path, delimiter, decimal))
        except LandingError as exc:
            raise ScaffoldError(f"--from-sample {exc}") from exc
    else:
        try:
            import pyarrow.parquet as pq

            batches = pq.ParquetFile(path).iter_batches(batch_size=max(max_rows // 4, 1))
            chunks = (b.to_pandas() for b in batches)
        except Exception:  # a folder of Parquet files, or not Parquet: let the table reader say what it is
            try:
                return read_table(path)
            except LandingError as exc:
                raise ScaffoldError(f"--from-sample {exc}") from exc
    rng = np.random.default_rng(seed)
    kept: pd.DataFrame | None = None
    try:
        for chunk in chunks:  # keep the rows with the max_rows smallest random keys: a uniform sample
            chunk = chunk.assign(_key=rng.random(len(chunk)))
            kept = chunk if kept is None else pd.concat([kept, chunk], ignore_index=True)
            if len(kept) > max_rows:
                kept = kept.nsmallest(max_rows, "_key")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ScaffoldError(f"--from-sample {path}: not readable as CSV ({str(exc).splitlines()[0]})") from exc
    if kept is None:
        raise ScaffoldError(f"--from-sample {path}: the file has no rows")
    return kept.drop(columns="_key").reset_index(drop=True)
