"""Landing raw data: split files by UTC day into the lake's raw partitions, atomically.

Ingestion tools usually write the raw zone themselves; for a first pipeline, a sample, or a
historical export, `conveyor land PIPELINE FILE...` does it from Parquet or CSV files. Event
times are converted to UTC (naive ones are taken as UTC already, strings are parsed); a day
that already has a partition is replaced whole, as re-landing fixed data should.

Real deliveries repeat themselves: the same file twice, or one day in two overlapping files.
Rows identical in every column are landed once, so a repeated delivery is idempotent; rows that
share a series and time but differ in a value are kept, and the raw gate quarantines their day
(which of two conflicting values is right is not the platform's to guess). Files may come in
any order and unsorted; each day's rows are written sorted by time.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Callable

import pandas as pd

from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import PipelineSpec


class LandingError(ValueError):
    pass


def read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise LandingError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    try:
        return pd.read_parquet(path)
    except Exception as exc:
        raise LandingError(f"{path}: not readable as Parquet or CSV ({type(exc).__name__}: {exc})") from exc


def utc_times(frame: pd.DataFrame, column: str, source: str) -> pd.Series:
    if column not in frame.columns:
        raise LandingError(f"{source}: no column {column!r} (the spec's data.timestamp); it has {list(frame.columns)}")
    values = frame[column]
    try:
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            return values.dt.tz_convert("UTC")
        return pd.to_datetime(values, utc=True)
    except (ValueError, TypeError) as exc:
        bad = values[pd.to_datetime(values, utc=True, errors="coerce").isna() & values.notna()].head(3).tolist()
        raise LandingError(f"{source}: column {column!r} has values that are not times, e.g. {bad}") from exc


def drop_repeated_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The frame without rows identical in every column to an earlier one, and how many went."""
    repeated = frame.duplicated()
    return (frame[~repeated].reset_index(drop=True), int(repeated.sum())) if repeated.any() else (frame, 0)


def land_files(lake: Lake, spec: PipelineSpec, paths: list[Path], say: Callable[[str], None] = print) -> list[date]:
    """Land every row of ``paths`` into ``raw/<pipeline>/dt=<UTC day>/``; returns the days written."""
    frames = []
    for path in paths:
        frame = read_table(path)
        frame[spec.data.timestamp] = utc_times(frame, spec.data.timestamp, str(path))
        frames.append(frame)
    rows, repeated = drop_repeated_rows(pd.concat(frames, ignore_index=True))
    if repeated:
        say(f"{repeated:,} row(s) repeated identically across or within the files: landed once")
    rows = rows.sort_values([spec.data.timestamp, *spec.data.keys], kind="stable")
    days = rows[spec.data.timestamp].dt.date
    written = []
    for i, (day, part) in enumerate(rows.groupby(days, sort=True), start=1):
        lake.write_partition(part.reset_index(drop=True), "raw", spec.name, day)
        written.append(day)
        say(f"[{i}/{days.nunique()}] raw/{spec.name}/dt={day}: {len(part):,} rows")
    return written
