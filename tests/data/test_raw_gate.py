"""The raw gate on good and bad partitions, through the real Great Expectations suite."""

from datetime import date

import json

import pytest

from ml_tasks.demand_data import DemandDataConfig, generate_day, series_params
from ml_tasks.gates import GateFailed, gate_raw_partition, list_quarantine

D = date(2026, 3, 2)


def _land(lake, df, dt=D):
    lake.write_partition(df, "raw", "demand", dt)


def _good_day():
    cfg = DemandDataConfig(stores=2, items=3, days=1, start=D)
    return generate_day(cfg, series_params(cfg), D)


def _gate(settings, lake):
    return gate_raw_partition(lake, settings.expectations_dir, "demand", "demand_raw", D)


def test_good_partition_passes_and_stays_in_place(settings, lake):
    _land(lake, _good_day())
    result = _gate(settings, lake)
    assert result.success and not result.failures
    assert lake.exists("raw", "demand", D)
    assert list_quarantine(lake, "demand") == []


@pytest.mark.parametrize(
    "corrupt, expectation, target",
    [
        (lambda df: df.assign(units=df["units"] - 1000), "expect_column_values_to_be_between", "units"),
        (lambda df: df.assign(price=0.0), "expect_column_values_to_be_between", "price"),
        (lambda df: df.drop(columns=["price"]), "expect_column_to_exist", "price"),
        (lambda df: df.iloc[:0], "expect_table_row_count_to_be_between", "table"),
        (lambda df: df.assign(ts=df["ts"] + __import__("pandas").Timedelta(days=3)), "expect_column_values_to_be_between", "ts"),
    ],
    ids=["negative_units", "zero_price", "missing_price_column", "empty_partition", "timestamps_outside_interval"],
)
def test_bad_partition_is_quarantined_with_its_reason(settings, lake, corrupt, expectation, target):
    _land(lake, corrupt(_good_day()))
    with pytest.raises(GateFailed) as err:
        _gate(settings, lake)
    message = str(err.value)
    assert expectation in message and target in message and "quarantine/demand/dt=2026-03-02/raw" in message
    assert not lake.exists("raw", "demand", D)
    base = lake.partition("quarantine", "demand", D) + "/raw"
    assert lake.fs.exists(f"{base}/report.html")
    record = json.loads(lake.fs.cat(f"{base}/validation.json"))
    assert any(f["expectation"] == expectation and f["target"] == target for f in record["failures"])
    assert [e["dt"] for e in list_quarantine(lake, "demand")] == ["2026-03-02"]


def test_duplicate_keys_fail_with_example_rows(settings, lake):
    df = _good_day()
    import pandas as pd

    _land(lake, pd.concat([df, df.head(2)], ignore_index=True))
    with pytest.raises(GateFailed, match="expect_compound_columns_to_be_unique") as err:
        _gate(settings, lake)
    assert "store_id" in str(err.value) and "e.g." in str(err.value)


def test_unreadable_file_is_quarantined_not_crashed(settings, lake):
    staged = lake.staging("raw", "demand", D)
    lake.fs.makedirs(staged, exist_ok=True)
    with lake.fs.open(f"{staged}/part-0.parquet", "wb") as fh:
        fh.write(b"store_id,item_id\nS1,I1\n")  # CSV under a .parquet name
    lake.publish(staged, "raw", "demand", D)
    with pytest.raises(GateFailed, match="readable_parquet_partition"):
        _gate(settings, lake)
    assert lake.fs.exists(lake.partition("quarantine", "demand", D) + "/raw/data/part-0.parquet")
