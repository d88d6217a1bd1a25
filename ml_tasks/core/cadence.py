"""A pipeline's cadence: the regular step between one series' rows, and durations counted in it.

The spec's ``features.frequency`` is a name (``hourly``, ``daily``, ``weekly``) or a pandas offset
alias for a step that divides a day (``30min``, ``15min``, ``5min``, ``2h``). Everything that
depends on the cadence asks this module: how many slots a day has, the last slot a day's rows may
have, the seasonal periods, the calendar columns, and how a lag or window is named (``lag_24h``,
``lag_30min``, ``lag_7d``, ``lag_52w``: in hours below a day, days for daily data, weeks for
weekly). Lags, windows and the horizon may be written as counts of steps (``48``) or as durations
(``24h``, ``7d``), which must be whole numbers of steps.
"""

from __future__ import annotations

import re
from datetime import timedelta

MINUTE, HOUR, DAY, WEEK = 60, 3600, 86_400, 604_800
NAMED = {"hourly": HOUR, "daily": DAY, "weekly": WEEK}
# Steps below a day must divide it, so that every day holds the same slots.
SUB_DAILY = sorted(
    {m * MINUTE for m in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)} | {h * HOUR for h in (1, 2, 3, 4, 6, 8, 12)}
)
SUPPORTED = [*SUB_DAILY, DAY, WEEK]
_DURATION = re.compile(r"^\s*(\d+)\s*([a-zA-Z]+)\s*$")
_UNITS = {
    "s": 1,
    "sec": 1,
    "min": MINUTE,
    "t": MINUTE,
    "h": HOUR,
    "hour": HOUR,
    "hours": HOUR,
    "d": DAY,
    "day": DAY,
    "days": DAY,
    "w": WEEK,
    "week": WEEK,
    "weeks": WEEK,
}


class CadenceError(ValueError):
    """A frequency or duration that is not a supported regular cadence; the message names the fix."""


def supported_names() -> str:
    return ", ".join(name(s) for s in SUPPORTED)


def seconds_of(text: str) -> int:
    """Seconds in a duration or offset alias: ``30min``, ``24h``, ``7d``, ``1w``, ``h``, ``D``, ``W``."""
    if text in NAMED:
        return NAMED[text]
    match = _DURATION.match(text) or _DURATION.match(f"1{text}")
    unit = _UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise CadenceError(f"{text!r} is not a duration; write a number and a unit, like 30min, 24h, 7d or 1w")
    return int(match.group(1)) * unit


def step_of(frequency: str) -> int:
    """The step in seconds of a spec's ``features.frequency``; unsupported ones are refused."""
    step = seconds_of(str(frequency))
    if step not in SUPPORTED:
        raise CadenceError(
            f"frequency {frequency!r} ({timedelta(seconds=step)}) is not a supported cadence: use one "
            f"of {supported_names()} (a step below a day must divide the day)"
        )
    return step


def name(step: int) -> str:
    """The canonical frequency of a step: ``hourly``, ``daily``, ``weekly``, else an alias like ``30min``."""
    for word, seconds in NAMED.items():
        if seconds == step:
            return word
    return f"{step // HOUR}h" if step % HOUR == 0 else f"{step // MINUTE}min"


def steps(value: int | str, step: int, what: str) -> int:
    """A count of steps, given as one (``48``) or as a duration that is a whole number of steps (``24h``)."""
    if isinstance(value, bool):
        raise CadenceError(f"{what}: {value!r} is not a count of steps or a duration")
    if isinstance(value, int):
        return value
    if str(value).strip().isdigit():
        return int(value)
    seconds = seconds_of(str(value))
    if seconds % step:
        raise CadenceError(
            f"{what}: {value} is not a whole number of {name(step)} steps "
            f"({timedelta(seconds=step)} each); use a multiple of it"
        )
    return seconds // step


def label(seconds: int, step: int) -> str:
    """How a feature names a span: hours below a day (minutes when not whole hours), days for daily data,
    weeks for weekly: ``24h``, ``30min``, ``7d``, ``52w``."""
    if step >= WEEK:
        return f"{seconds // WEEK}w"
    if step >= DAY:
        return f"{seconds // DAY}d"
    return f"{seconds // HOUR}h" if seconds % HOUR == 0 else f"{seconds // MINUTE}min"


def slots_per_day(step: int) -> int:
    """Rows one series has in a complete day: 48 half-hourly, 24 hourly, 1 daily (and 1 on a weekly
    series' day)."""
    return max(1, DAY // step)


def last_slot(step: int) -> timedelta:
    """The latest time of day a row may have: the day's last slot below a day (23:30 half-hourly),
    any time of the day for daily and weekly data."""
    return timedelta(seconds=DAY - step) if step < DAY else timedelta(seconds=DAY - 1)


def seasonal_periods(step: int) -> tuple[int, ...]:
    """Seasonal periods in steps: a day and a week below a day, a week and a year for daily data,
    a year for weekly data."""
    if step >= WEEK:
        return (52,)
    if step >= DAY:
        return (7, 365)
    return (DAY // step, WEEK // step)


def calendar_columns(step: int) -> list[str]:
    """The calendar features of a cadence (all in UTC)."""
    if step >= WEEK:
        return ["week_of_year", "month"]
    if step >= DAY:
        return ["day_of_week", "is_weekend", "month"]
    if step < HOUR:
        return ["hour", "minute", "day_of_week", "is_weekend"]
    return ["hour", "day_of_week", "is_weekend"]


def check_zone(zone: str) -> str:
    """``zone`` when it is an IANA time zone this machine knows, else a ValueError that says so."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{zone!r} is not an IANA time zone (like Europe/London or America/New_York)") from exc
    return zone


def detect(times, series=None, share: float = 0.9) -> int:
    """The step of a sample's timestamps (any order, gaps allowed), within each series when ``series``
    (one id per time) is given.

    The step is the most common spacing between a series' distinct times; it must be a supported
    cadence and at least ``share`` of all spacings must be whole multiples of it (a gap is a
    multiple). Anything else is irregular and refused, naming the spacings seen and the fix.
    """
    import pandas as pd

    frame = pd.DataFrame(
        {
            "t": pd.to_datetime(pd.Series(list(times)), utc=True, errors="coerce"),
            "s": 0 if series is None else pd.Series(list(series)).astype(str),
        }
    ).dropna()
    frame = frame.drop_duplicates().sort_values(["s", "t"])
    gaps = frame.groupby("s")["t"].diff().dropna().dt.total_seconds().astype("int64")
    gaps = gaps[gaps > 0]
    if gaps.empty:
        raise CadenceError("the sample has fewer than two distinct timestamps in a series; pass --frequency")
    common = gaps.value_counts()
    step = int(common.index[0])
    on_grid = float((gaps % step == 0).mean())
    if step not in SUPPORTED or on_grid < share:
        seen = ", ".join(f"{timedelta(seconds=int(s))} ({n / len(gaps):.0%})" for s, n in common.head(3).items())
        raise CadenceError(
            f"the timestamps are irregular: the spacings seen most are {seen}, and only {on_grid:.0%} of them are "
            f"multiples of the most common one; a pipeline needs a regular cadence ({supported_names()}). "
            f"Aggregate the rows to one first (or declare them as events in the spec), or pass --frequency"
        )
    return step
