"""Landing raw data: split files by UTC day into the lake's raw partitions, atomically.

Ingestion tools usually write the raw zone themselves; for a first pipeline, a sample, or a
historical export, `conveyor land PIPELINE FILE...` does it from Parquet or CSV files (the CSV
delimiter and decimal mark sniffed, or given). Event times are converted to UTC as
:mod:`ml_tasks.data.timestamps` explains (epoch integers by magnitude, naive times in the spec's
``data.timezone``, UTC without one); days decades away from the pipeline's others are refused
unless allowed. A day that already has a partition is replaced whole, as re-landing fixed data
should; its quarantine entries are marked replaced, and each day's story
(:mod:`ml_tasks.data.day_history`) records what the landing replaced. An empty, unreadable or
wrongly shaped file is one clear error, and nothing is landed.

Real deliveries repeat themselves: the same file twice, or one day in two overlapping files.
Rows identical in every column are landed once, so a repeated delivery is idempotent; rows that
share a series and time but differ in a value are kept, and the raw gate quarantines their day
(which of two conflicting values is right is not the platform's to guess). Files may come in
any order and unsorted; each day's rows are written sorted by time.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from ml_tasks.core.cadence import DAY
from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.data import day_history
from ml_tasks.data.quarantine import list_quarantine, supersede
from ml_tasks.data.timestamps import TimestampError, to_utc


class LandingError(ValueError):
    pass


@dataclass
class Landed:
    """What a landing wrote: the days, and for each day landed again what its new data replaced
    ('raw', 'quarantined at the raw gate', 'published')."""

    days: list[date] = field(default_factory=list)
    replaced: dict[date, list[str]] = field(default_factory=dict)

    @property
    def again(self) -> list[date]:
        """The days that held data or a verdict before: their features are due to be built again."""
        return [d for d in self.days if self.replaced.get(d)]


DISTANT_YEARS = 10  # landed days this far from the pipeline's other days are refused unless allowed
SNIFF_BYTES = 64 * 1024


def csv_options(path: Path, delimiter: str | None = None, decimal: str | None = None) -> dict[str, str]:
    """``pandas.read_csv`` options for a CSV file: the delimiter and decimal mark given, else sniffed
    from its start (``,`` ``;`` tab or ``|``; a decimal comma when fields are ``;``-separated and
    numbers are written ``1,5``)."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES).decode("utf-8", errors="replace")
    if not head.strip():
        raise LandingError(f"{path}: the file is empty")
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(head.split("\n", 1)[0] + "\n", delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    if decimal is None:
        body = head.splitlines()[1:20]
        decimal = (
            ","
            if delimiter != ","
            and any(re.search(r"(^|[^\d,])-?\d+,\d+($|[^\d,])", line.replace(delimiter, " ")) for line in body)
            else "."
        )
    return {"sep": delimiter, "decimal": decimal}


def read_table(path: Path, delimiter: str | None = None, decimal: str | None = None) -> pd.DataFrame:
    """A Parquet or CSV file as a frame; an empty, unreadable or header-only file is one clear error."""
    if not path.exists():
        raise LandingError(f"{path}: no such file")
    if path.is_file() and path.stat().st_size == 0:
        raise LandingError(f"{path}: the file is empty")
    try:
        if path.suffix.lower() in (".csv", ".tsv", ".txt"):
            frame = pd.read_csv(path, **csv_options(path, delimiter, decimal))
        else:
            frame = pd.read_parquet(path)
    except LandingError:
        raise
    except Exception as exc:
        kind = "CSV" if path.suffix.lower() in (".csv", ".tsv", ".txt") else "Parquet"
        raise LandingError(
            f"{path}: not readable as {kind} ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from exc
    if frame.empty:
        raise LandingError(f"{path}: no rows (columns {list(frame.columns)})")
    return frame


def utc_times(frame: pd.DataFrame, spec: PipelineSpec, source: str) -> pd.Series:
    """The spec's timestamp column as UTC times (see :mod:`ml_tasks.data.timestamps`)."""
    column, keys = spec.data.timestamp, list(spec.data.keys)
    if column not in frame.columns:
        hint = (
            " (it looks like one column holding all fields: give --delimiter)"
            if len(frame.columns) == 1 and any(c in frame.columns[0] for c in ";,\t|")
            else ""
        )
        raise LandingError(
            f"{source}: no column {column!r} (the spec's data.timestamp); it has {list(frame.columns)}{hint}"
        )
    series = frame[keys].astype(str).agg("|".join, axis=1) if keys and set(keys) <= set(frame.columns) else None
    try:
        return to_utc(frame[column], spec.data.timezone, series, dates_are_days=spec.features.step_seconds >= DAY)
    except TimestampError as exc:
        raise LandingError(f"{source}: column {column!r}: {exc}") from exc


def check_not_distant(days: list[date], known: list[date], source: str) -> None:
    """Refuse days decades away from the pipeline's others (a misread epoch unit or a wrong column):
    more than ``DISTANT_YEARS`` from the landed days, or from the spec's start date when none are."""
    if not days or not known:
        return
    low, high = min(known), max(known)
    reach = timedelta(days=365 * DISTANT_YEARS)
    far = [d for d in (min(days), max(days)) if d < low - reach or d > high + reach]
    if far:
        raise LandingError(
            f"{source}: rows fall on {far[0]}, more than {DISTANT_YEARS} years from the pipeline's "
            f"other days ({low} .. {high}); check the timestamp column and its unit, or pass "
            f"--allow-distant if these days are right"
        )


def drop_repeated_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The frame without rows identical in every column to an earlier one, and how many went."""
    repeated = frame.duplicated()
    return (frame[~repeated].reset_index(drop=True), int(repeated.sum())) if repeated.any() else (frame, 0)


def held_before(lake: Lake, pipeline: str) -> dict[date, list[str]]:
    """What each day of a pipeline holds now: 'raw', 'quarantined at the <stage> gate', 'published'."""
    held: dict[date, list[str]] = {d: ["raw"] for d in lake.partitions("raw", pipeline)}
    for entry in list_quarantine(lake, pipeline):
        held.setdefault(date.fromisoformat(entry["dt"]), []).append(
            f"quarantined at the {entry['stage'].split('-')[0]} gate"
        )
    for d in lake.partitions("features", pipeline):
        held.setdefault(d, []).append("published")
    return held


def land_files(
    lake: Lake,
    spec: PipelineSpec,
    paths: list[Path],
    say: Callable[[str], None] = print,
    delimiter: str | None = None,
    decimal: str | None = None,
    allow_distant: bool = False,
) -> Landed:
    """Land every row of ``paths`` into ``raw/<pipeline>/dt=<UTC day>/``; returns the days written and
    what each replaced.

    Every file is read and checked before anything is written: a bad file lands nothing.
    """
    frames = []
    known = lake.partitions("raw", spec.name) or [spec.features.start_date]
    for path in paths:
        frame = read_table(path, delimiter, decimal)
        frame[spec.data.timestamp] = utc_times(frame, spec, str(path))
        if frame[spec.data.timestamp].isna().all():
            raise LandingError(f"{path}: column {spec.data.timestamp!r} is empty in every row")
        if not allow_distant:
            check_not_distant(sorted(set(frame[spec.data.timestamp].dropna().dt.date)), known, str(path))
        frames.append(frame)
    rows, repeated = drop_repeated_rows(pd.concat(frames, ignore_index=True))
    if repeated:
        say(f"{repeated:,} row(s) repeated identically across or within the files: landed once")
    rows = rows.sort_values([spec.data.timestamp, *spec.data.keys], kind="stable")
    days = rows[spec.data.timestamp].dt.date
    held, files = held_before(lake, spec.name), sorted({p.name for p in paths})
    landed = Landed()
    for i, (day, part) in enumerate(rows.groupby(days, sort=True), start=1):
        lake.write_partition(part.reset_index(drop=True), "raw", spec.name, day)
        record = day_history.note(
            lake, spec.name, day, "landed", rows=len(part), files=files[:10], replaced=held.get(day, [])
        )
        if any(h.startswith("quarantined") for h in held.get(day, [])):
            supersede(lake, spec.name, day, record)
        landed.days.append(day)
        landed.replaced[day] = held.get(day, [])
        again = f" (replaces: {', '.join(held[day])})" if held.get(day) else ""
        say(f"[{i}/{days.nunique()}] raw/{spec.name}/dt={day}: {len(part):,} rows{again}")
    return landed
