"""The raw gate against a matrix of bad inputs, through the real Great Expectations suite.

Each bad case must fail at the gate with a message naming the expectation and column, move the
partition (never delete it) to quarantine with its JSON result and HTML report, and leave every
downstream zone exactly as it was.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from ml_tasks.data.gates import GateFailed, gate_raw_partition
from ml_tasks.data.quarantine import list_quarantine
from ml_tasks.demo.demand_data import DemandDataConfig, generate_day, series_params

from ..conftest import DAY0

HISTORY = 7
D = DAY0 + timedelta(days=HISTORY)  # the day under test, after a week of good history
CFG = DemandDataConfig(stores=3, items=4, days=HISTORY + 1, start=DAY0)


def good_day(day=D) -> pd.DataFrame:
    return generate_day(CFG, series_params(CFG), day)


@pytest.fixture
def world(lake):
    """A week of good raw history plus downstream partitions that a bad day must not touch."""
    for day in CFG.dates[:-1]:
        lake.write_partition(good_day(day), "raw", "demand", day)
    lake.write_partition(pd.DataFrame({"x": [1.0]}), "features", "demand", DAY0)
    lake.write_partition(pd.DataFrame({"y": [2.0]}), "predictions", "demand", DAY0)
    return lake


def downstream_fingerprint(lake) -> str:
    digest = hashlib.sha256()
    for zone in ("features", "predictions"):
        base = lake.zone(zone, "demand")
        for f in sorted(lake.fs.find(base)):
            digest.update(f.encode() + lake.fs.cat(f))
    return digest.hexdigest()


def land_bytes(lake, payload: bytes, name="part-00000.parquet"):
    staged = lake.staging("raw", "demand", D)
    lake.fs.makedirs(staged, exist_ok=True)
    with lake.fs.open(f"{staged}/{name}", "wb") as fh:
        fh.write(payload)
    lake.publish(staged, "raw", "demand", D)


def parquet_bytes(df: pd.DataFrame) -> bytes:
    import io

    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def _with_jump(df):
    df = df.copy()
    first = (df["store_id"] == df["store_id"].iloc[0]) & (df["item_id"] == df["item_id"].iloc[0])
    df.loc[first, "units"] = df.loc[first, "units"] * 1000 + 1000
    return df


def _null_spike(df, share=0.6):
    """A known-ahead input missing in ``share`` of the rows (0.6: its feed collapsed)."""
    df = df.copy()
    df.loc[df.sample(frac=share, random_state=1).index, "price"] = np.nan
    return df


BAD_FRAMES = {
    "missing_column": (lambda df: df.drop(columns=["price"]), "expect_column_to_exist", "price"),
    "renamed_column": (lambda df: df.rename(columns={"units": "qty"}), "expect_column_to_exist", "units"),
    "wrong_type": (
        lambda df: df.assign(units=df["units"].astype(str)),
        "expect_column_values_to_be_in_type_list",
        "units",
    ),
    "empty_partition": (lambda df: df.iloc[:0], "expect_table_row_count_to_be_between", "table"),
    "null_spike": (_null_spike, "expect_column_values_to_not_be_null", "price"),
    "negative_demand": (
        lambda df: df.assign(units=np.where(df.index % 50 == 0, -3, df["units"])),
        "expect_column_values_to_be_between",
        "units",
    ),
    "zero_or_negative_price": (
        lambda df: df.assign(price=np.where(df.index % 2 == 0, 0.0, -1.0)),
        "expect_column_values_to_be_between",
        "price",
    ),
    "duplicate_keys": (
        lambda df: pd.concat([df, df.head(3)], ignore_index=True),
        "expect_compound_columns_to_be_unique",
        "store_id",
    ),
    "timestamps_outside_interval": (
        lambda df: df.assign(ts=df["ts"] - pd.Timedelta(days=2)),
        "expect_column_values_to_be_between",
        "ts",
    ),
    "far_smaller_partition": (
        lambda df: df[df["store_id"] == df["store_id"].iloc[0]].head(20),
        "expect_table_row_count_to_be_between",
        "table",
    ),
    "series_jumps_by_orders_of_magnitude": (_with_jump, "expect_column_values_to_be_between", "_target_jump_ratio"),
}

BAD_FILES = {
    "corrupt_parquet": lambda: b"PAR1" + bytes(range(256)) * 4 + b"PAR1",
    "truncated_parquet": lambda: parquet_bytes(good_day())[: len(parquet_bytes(good_day())) // 2],
    "csv_instead_of_parquet": lambda: good_day().to_csv(index=False).encode(),
}


def _assert_quarantined(lake, err, expectation, target, before):
    message = str(err.value)
    assert expectation in message and target in message, message
    assert "quarantine/demand/dt=2026-03-09/raw" in message and "report.html" in message
    assert not lake.exists("raw", "demand", D), "the bad partition must leave the raw zone"
    base = lake.partition("quarantine", "demand", D) + "/raw"
    assert lake.fs.exists(f"{base}/report.html") and lake.fs.find(f"{base}/data"), "data kept with its report"
    record = json.loads(lake.fs.cat(f"{base}/validation.json"))
    assert any(f["expectation"] == expectation for f in record["failures"])
    assert downstream_fingerprint(lake) == before, "downstream zones changed"
    entries = list_quarantine(lake, "demand")
    assert [e["dt"] for e in entries] == [D.isoformat()] and entries[0]["reasons"]


def test_gaps_in_a_known_ahead_input_warn_with_their_share_and_only_a_collapse_blocks(settings, world):
    world.write_partition(_null_spike(good_day(), share=0.05), "raw", "demand", D)  # a station missing a few hours
    result = gate_raw_partition(world, settings.expectations_dir, _spec(), D)
    assert result.success and world.exists("raw", "demand", D)
    from ml_tasks.data.gate_records import gate_record

    assert "expect_column_values_to_not_be_null(price): 4.86% of rows" in gate_record(result)["warnings"]


def test_good_partition_passes_and_stays_in_place(settings, world):
    world.write_partition(good_day(), "raw", "demand", D)
    result = gate_raw_partition(world, settings.expectations_dir, _spec(), D)
    assert result.success and not result.failures and not result.warnings
    assert world.exists("raw", "demand", D) and list_quarantine(world, "demand") == []


@pytest.mark.parametrize("case", sorted(BAD_FRAMES))
def test_bad_partition_is_quarantined_with_a_clear_reason(settings, world, case):
    corrupt, expectation, target = BAD_FRAMES[case]
    world.write_partition(corrupt(good_day()), "raw", "demand", D)
    before = downstream_fingerprint(world)
    with pytest.raises(GateFailed) as err:
        gate_raw_partition(world, settings.expectations_dir, _spec(), D)
    _assert_quarantined(world, err, expectation, target, before)


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_unreadable_file_is_quarantined_not_crashed(settings, world, case):
    land_bytes(world, BAD_FILES[case]())
    before = downstream_fingerprint(world)
    with pytest.raises(GateFailed) as err:
        gate_raw_partition(world, settings.expectations_dir, _spec(), D)
    _assert_quarantined(world, err, "readable_parquet_partition", "cannot read", before)


def test_timestamps_in_the_future_are_rejected(settings, world):
    world.write_partition(good_day(), "raw", "demand", D)
    noon = datetime(D.year, D.month, D.day, 12, tzinfo=UTC)
    before = downstream_fingerprint(world)
    with pytest.raises(GateFailed) as err:
        gate_raw_partition(world, settings.expectations_dir, _spec(), D, now=noon)
    _assert_quarantined(world, err, "expect_column_max_to_be_between", "ts", before)


def test_extra_column_is_allowed_and_reported(settings, world):
    world.write_partition(good_day().assign(channel="web"), "raw", "demand", D)
    result = gate_raw_partition(world, settings.expectations_dir, _spec(), D)
    assert result.success and world.exists("raw", "demand", D)
    assert [w["expectation"] for w in result.warnings] == ["expect_table_columns_to_match_set"]
    assert "channel" in json.dumps(result.warnings[0]["observed"])
    assert "warning, not blocking" in result.summary()


def test_failure_message_shows_offending_rows_with_their_keys(settings, world):
    df = good_day()
    df.loc[5, "units"] = -7
    world.write_partition(df, "raw", "demand", D)
    with pytest.raises(GateFailed) as err:
        gate_raw_partition(world, settings.expectations_dir, _spec(), D)
    assert f"'store_id': '{df.loc[5, 'store_id']}'" in str(err.value) and "-7" in str(err.value)


def test_relanded_fixed_data_passes_after_a_quarantine(settings, world):
    world.write_partition(good_day().assign(price=0.0), "raw", "demand", D)
    with pytest.raises(GateFailed):
        gate_raw_partition(world, settings.expectations_dir, _spec(), D)
    world.write_partition(good_day(), "raw", "demand", D)  # fixed and landed again
    assert gate_raw_partition(world, settings.expectations_dir, _spec(), D).success
    assert len(list_quarantine(world, "demand")) == 1  # the evidence of the bad load stays


def test_bad_matrix_covers_at_least_fourteen_cases():
    assert len(BAD_FRAMES) + len(BAD_FILES) + 1 >= 14


def _spec():
    from ml_tasks.core.settings import load_settings
    from ml_tasks.core.spec import load_spec

    return load_spec("demand", load_settings().specs_dir)
