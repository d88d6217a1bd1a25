"""Real public datasets that ship inside PyPI packages (installed by the Makefile; never downloaded here).

- ISLP's ``Bikeshare.csv`` (the textbook *An Introduction to Statistical Learning*): hourly bike
  rentals in Washington D.C. through 2011, one series, 8,645 of 8,760 hours present (1.3% of the
  hours are missing, one day has 8 of them), weather and calendar columns, a text weather
  category, and ``bikers = casual + registered``.
- vega_datasets' ``seattle-weather.csv``: daily weather in Seattle 2012-2015, one series, a text
  weather category and dates written ``2012/01/01``.

Each loader returns the data as a user exports it for `conveyor land` (the bike data only gets the
timestamp its day-of-year and hour columns describe).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pandas as pd
import pytest


def packaged_file(package: str, relative: str) -> Path:
    try:
        path = Path(distribution(package).locate_file(relative))
    except PackageNotFoundError:
        pytest.fail(f"package {package} is not installed: run `make venv` (it installs the real test datasets)")
    if not path.is_file():
        pytest.fail(f"{relative} not found in the installed {package}")
    return path


def bikeshare() -> pd.DataFrame:
    """Hourly rentals in 2011 with an ``hour_start`` timestamp (UTC, as the export has no zone)."""
    raw = pd.read_csv(packaged_file("ISLP", "ISLP/data/Bikeshare.csv"))
    hour_start = (pd.Timestamp("2011-01-01") + pd.to_timedelta(raw["day"] - 1, unit="D")
                  + pd.to_timedelta(raw["hr"].astype(int), unit="h"))
    return raw.assign(hour_start=hour_start).drop(columns=["day", "hr"])


def seattle_weather() -> pd.DataFrame:
    return pd.read_csv(packaged_file("vega_datasets", "vega_datasets/_data/seattle-weather.csv"))
