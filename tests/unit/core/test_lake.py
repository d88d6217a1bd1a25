from datetime import date

import pandas as pd
import pytest

from ml_tasks.core.lake import LakeError

D = date(2026, 3, 2)


def test_rewriting_a_partition_replaces_it_whole(lake):
    lake.write_partition(pd.DataFrame({"a": [1, 2, 3]}), "features", "p", D)
    lake.write_partition(pd.DataFrame({"a": [9]}), "features", "p", D)
    assert lake.read_partition("features", "p", D)["a"].tolist() == [9]
    assert lake.partitions("features", "p") == [D]


def test_staging_folders_are_invisible_to_readers(lake):
    staged = lake.staging("features", "p", D)
    lake.fs.makedirs(staged, exist_ok=True)
    pd.DataFrame({"a": [1]}).to_parquet(f"{staged}/part-0.parquet")
    assert lake.partitions("features", "p") == []
    lake.publish(staged, "features", "p", D)
    assert lake.partitions("features", "p") == [D]
    assert not lake.fs.exists(staged)


def test_reading_a_missing_partition_names_the_path(lake):
    with pytest.raises(LakeError, match=r"partition not found: .*raw/p/dt=2026-03-02"):
        lake.read_partition("raw", "p", D)


def test_unknown_zone_is_rejected(lake):
    with pytest.raises(ValueError, match="unknown lake zone 'bronze'"):
        lake.zone("bronze", "p")
