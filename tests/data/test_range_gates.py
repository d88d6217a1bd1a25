"""Gating a backfill's raw days in one pass gives the per-day gate's verdict on every day.

The bad-input matrix of the per-day gate (tests/data/test_raw_gate.py) is landed in the middle of
good days; the range gate must find exactly that day, fail it on the same expectation, and pass
every good day, in far fewer validation passes than days.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ml_tasks.data.range_checks import split_suite
from ml_tasks.data.range_gates import gate_raw_days, gate_raw_each_day
from ml_tasks.demo.demand_data import DemandDataConfig, generate_day, series_params

from ..conftest import DAY0
from .test_raw_gate import BAD_FILES, BAD_FRAMES

DAYS = [DAY0 + timedelta(days=i) for i in range(20)]
CFG = DemandDataConfig(stores=3, items=4, days=len(DAYS), start=DAY0)
BAD = DAYS[12]


@pytest.fixture
def landed(lake):
    params = series_params(CFG)
    for day in DAYS:
        lake.write_partition(generate_day(CFG, params, day), "raw", "demand", day)
    return lake


def test_good_days_pass_in_one_validation_pass_with_their_coverage(settings, landed, demand_spec):
    verdict = gate_raw_days(landed, settings.expectations_dir, demand_spec, DAYS)
    assert sorted(verdict.passed) == DAYS and not verdict.failed
    assert verdict.passes == 1 and verdict.checked_per_day == []
    record = verdict.passed[DAYS[-1]]
    assert record["scope"] == f"range {DAYS[0]}..{DAYS[-1]}" and record["evaluated"] > 10
    assert record["coverage"] == {
        "rows": 288,
        "series": 12,
        "expected_rows": 288,
        "share": 1.0,
        "min_series_share": 1.0,
    }


@pytest.mark.parametrize("case", sorted(BAD_FRAMES))
def test_a_bad_day_among_good_ones_fails_alone_on_the_per_day_gates_expectation(settings, landed, demand_spec, case):
    make_bad, expectation, target = BAD_FRAMES[case]
    good = generate_day(CFG, series_params(CFG), BAD)
    landed.write_partition(make_bad(good), "raw", "demand", BAD)
    verdict = gate_raw_days(landed, settings.expectations_dir, demand_spec, DAYS)
    assert list(verdict.failed) == [BAD], verdict.failed
    assert any(f["expectation"] == expectation and target in str(f["target"]) for f in verdict.failed[BAD].failures)
    assert sorted(verdict.passed) == [d for d in DAYS if d != BAD]
    assert len(verdict.checked_per_day) <= 2 and verdict.passes <= 12  # not 20 per-day gates
    assert landed.exists("raw", "demand", BAD)  # judged, not moved: the backfill decides


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_an_unreadable_day_fails_alone(settings, landed, demand_spec, case):
    staged = landed.staging("raw", "demand", BAD)
    landed.fs.makedirs(staged, exist_ok=True)
    with landed.fs.open(f"{staged}/part-00000.parquet", "wb") as fh:
        fh.write(BAD_FILES[case]())
    landed.publish(staged, "raw", "demand", BAD)
    verdict = gate_raw_days(landed, settings.expectations_dir, demand_spec, DAYS)
    assert list(verdict.failed) == [BAD] and len(verdict.passed) == len(DAYS) - 1


def test_the_range_verdict_equals_the_per_day_loop(settings, landed, demand_spec):
    params = series_params(CFG)
    for day, (make_bad, _, _) in zip(  # noqa: B905 (as many bad days as there are frames)
        DAYS[8::3],
        [
            BAD_FRAMES["negative_demand"],
            BAD_FRAMES["duplicate_keys"],
            BAD_FRAMES["far_smaller_partition"],
            BAD_FRAMES["null_spike"],
        ],
    ):
        landed.write_partition(make_bad(generate_day(CFG, params, day)), "raw", "demand", day)
    fast = gate_raw_days(landed, settings.expectations_dir, demand_spec, DAYS[7:])
    slow = gate_raw_each_day(landed, settings.expectations_dir, demand_spec, DAYS[7:])
    assert sorted(fast.failed) == sorted(slow.failed) == DAYS[8::3]
    assert sorted(fast.passed) == sorted(slow.passed)
    for day in fast.failed:
        assert {f["expectation"] for f in fast.failed[day].failures} == {
            f["expectation"] for f in slow.failed[day].failures
        }


def test_expectations_a_pass_over_many_days_cannot_decide_fall_back_to_per_day(settings, demand_spec):
    suite = {
        "expectations": [
            {
                "type": "expect_column_mean_to_be_between",
                "kwargs": {"column": "units", "max_value": 5},
                "meta": {"notes": "x"},
            },
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "units", "min_value": 0},
                "meta": {"notes": "x"},
            },
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}, "meta": {"notes": "x"}},
        ]
    }
    in_pass, per_day, unsupported = split_suite(suite)
    assert unsupported == ["expect_column_mean_to_be_between"]
    assert [e["type"] for e in in_pass] == ["expect_column_values_to_be_between"]
    assert [e["type"] for e in per_day] == ["expect_table_row_count_to_be_between"]
