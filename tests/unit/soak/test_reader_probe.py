"""The distributed soak's reader probe: it finds a published day a reader would see only part of,
never calls a republish in flight partial, and opens again only the days whose objects changed."""

from __future__ import annotations

import os
from datetime import date

import pandas as pd

from ml_tasks.core import manifest
from soak.reader_probe import ReaderProbe

DAYS = [date(2026, 3, d) for d in (2, 3, 4)]


def _published(lake):
    for dt in DAYS:
        lake.write_partition(pd.DataFrame({"x": range(5)}), "raw", "demand", dt)
    probe = ReaderProbe(lake, [("raw", "demand")])
    probe.look()
    assert probe.take_partial() == [] and probe.checks == 3 and probe.opened == 3
    return probe


def test_unchanged_days_are_not_opened_again_and_a_changed_one_is(lake):
    probe = _published(lake)
    probe.look()
    assert probe.checks == 6 and probe.opened == 3  # the same objects: nothing opened
    lake.write_partition(pd.DataFrame({"x": range(7)}), "raw", "demand", DAYS[1])  # published again
    probe.look()
    assert probe.opened == 4 and probe.take_partial() == []


def test_a_day_whose_manifest_names_a_missing_file_is_a_partial_day(lake):
    probe = _published(lake)
    day = lake.partition("raw", "demand", DAYS[2])
    os.remove(min(lake.data_files(day)))
    probe.look()
    partial = probe.take_partial()
    assert len(partial) == 1 and "raw/demand/dt=2026-03-04" in partial[0] and "missing" in partial[0], partial
    assert probe.take_partial() == []  # reported once per take


def test_a_day_without_its_manifest_is_no_day_not_a_partial_one(lake):
    probe = _published(lake)
    day = lake.partition("raw", "demand", DAYS[0])
    os.remove(f"{day}/{manifest.MANIFEST}")
    os.remove(min(lake.data_files(lake.partition("raw", "demand", DAYS[1]))))
    os.remove(f"{lake.partition('raw', 'demand', DAYS[1])}/{manifest.MANIFEST}")  # a republish in flight
    probe.look()
    assert probe.take_partial() == [] and probe.checks == 4  # only the third day is listed now
