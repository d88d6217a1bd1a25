"""Event times as they come, made UTC: zoned or naive datetimes, text, epoch integers, local times.

- Zoned values (``2022-03-20T11:00:00+01:00``, a zoned dtype) are converted to UTC, mixed offsets
  included (a file that crosses a daylight-saving change).
- Naive values are UTC, unless the spec gives ``data.timezone``: then they are local times there.
  A local time that occurs twice (the hour the clocks go back) is taken in the order the rows of a
  series come: the first is the summer time, the second the winter time. A local time that never
  occurs (the hour the clocks skip) is an error that names the rows. Dates alone (daily or weekly
  data) are days, not instants, and stay on their day.
- Integers (or floats) are epoch times, their unit told by magnitude: seconds, milliseconds,
  microseconds or nanoseconds since 1970 for any time between 1973 and 5138. Eight-digit integers
  that read as ``YYYYMMDD`` are dates. Anything else is refused with a message.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Epoch values of 1973-03-03 .. 5138-11-16 in each unit; the magnitude decides which unit it is.
EPOCH_UNITS = [("s", 1e8, 1e11), ("ms", 1e11, 1e14), ("us", 1e14, 1e17), ("ns", 1e17, 1e20)]


class TimestampError(ValueError):
    """Timestamps that cannot be read as times; the message names the column, examples and the fix."""


def epoch_unit(values: pd.Series) -> str:
    """The unit of integer epoch times, from the magnitude of their median; refused when it fits none."""
    magnitude = float(np.nanmedian(np.abs(values.to_numpy(dtype=float))))
    for unit, low, high in EPOCH_UNITS:
        if low <= magnitude < high:
            return unit
    raise TimestampError(
        f"numbers like {values.dropna().head(3).tolist()} are not epoch times in seconds, "
        f"milliseconds, microseconds or nanoseconds of a year after 1973; convert them to "
        f"ISO 8601 times (2024-01-31T13:00:00Z) before landing"
    )


def _yyyymmdd(values: pd.Series) -> pd.Series | None:
    whole = values.dropna()
    if whole.empty or not ((whole >= 1e7) & (whole < 1e8) & (whole == whole.round())).all():
        return None
    parsed = pd.to_datetime(values.astype("Int64").astype("string"), format="%Y%m%d", errors="coerce")
    return parsed if parsed.notna().sum() == len(whole) else None


def _from_numbers(values: pd.Series) -> pd.Series:
    dates = _yyyymmdd(values)
    if dates is not None:
        return dates.dt.tz_localize("UTC").astype("datetime64[ns, UTC]")
    unit = epoch_unit(values)
    return pd.to_datetime(values.astype("Int64"), unit=unit, utc=True).astype("datetime64[ns, UTC]")


def _localized(naive: pd.Series, timezone: str, series: pd.Series | None) -> pd.Series:
    """Naive local times in ``timezone`` as UTC (see the module's rules for repeated and skipped hours)."""
    order = pd.DataFrame({"t": naive, "s": 0 if series is None else series.astype(str).to_numpy()})
    first = (order.groupby(["s", "t"], sort=False).cumcount() == 0).to_numpy()  # summer time comes first
    try:
        local = naive.dt.tz_localize(timezone, ambiguous=first, nonexistent="raise")
    except Exception as exc:  # pytz/zoneinfo raise their own NonExistentTimeError
        if "NonExistent" not in type(exc).__name__:
            raise
        skipped = naive.dt.tz_localize(timezone, ambiguous=first, nonexistent="NaT").isna() & naive.notna()
        rows = np.flatnonzero(skipped.to_numpy())
        raise TimestampError(
            f"{int(skipped.sum())} row(s) have local times that do not exist in {timezone} (the "
            f"clocks skip them), e.g. rows {rows[:3].tolist()}: {naive[skipped].head(3).astype(str).tolist()}; "
            f"fix the export or give the times with their UTC offset"
        ) from exc
    return local.dt.tz_convert("UTC")


def to_utc(
    values: pd.Series, timezone: str | None = None, series: pd.Series | None = None, dates_are_days: bool = False
) -> pd.Series:
    """``values`` as UTC times (see the module). ``series`` (one id per row) orders repeated local
    hours within each series; ``dates_are_days`` keeps midnight-only values on their day whatever
    the time zone (daily and weekly data)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    if pd.api.types.is_bool_dtype(values):
        raise TimestampError(f"true/false values are not times, e.g. {values.head(3).tolist()}")
    if pd.api.types.is_numeric_dtype(values):
        return _from_numbers(values)
    if pd.api.types.is_datetime64_dtype(values):
        naive = values
    else:
        text = values.astype("string").str.strip()
        try:  # one format throughout, inferred once: fast
            parsed = pd.to_datetime(text, utc=True)
        except (ValueError, TypeError):  # formats differ from row to row, or some values are not times
            parsed = pd.to_datetime(text, utc=True, errors="coerce", format="mixed")
            bad = parsed.isna() & text.notna() & (text != "")
            if bad.any():
                raise TimestampError(
                    f"{int(bad.sum())} value(s) are not times, e.g. {text[bad].head(3).tolist()}"
                ) from None
        if text.str.contains(r"(?:[+-]\d\d:?\d\d|Z)\s*$", regex=True).any():
            return parsed  # written with their offsets: already the true instants
        naive = parsed.dt.tz_localize(None)
    if timezone is None or (dates_are_days and (naive.dropna() == naive.dropna().dt.normalize()).all()):
        return naive.dt.tz_localize("UTC")
    return _localized(naive, timezone, series)
