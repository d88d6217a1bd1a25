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


KILLED_PUBLISH = """
import os, sys
from datetime import date
import pandas as pd
from ml_tasks.core.lake import Lake

lake = Lake(sys.argv[1])
staged = lake.staging("features", "p", date(2026, 3, 2))
lake.fs.makedirs(staged, exist_ok=True)
pd.DataFrame({"a": [2]}).to_parquet(f"{staged}/part-0.parquet")
moves = []
real_move = Lake.move

def move_then_die(self, src, dst):
    real_move(self, src, dst)
    moves.append(dst)
    if len(moves) == 1:  # the old version is aside, the new one not yet in: the process dies here
        os._exit(137)

Lake.move = move_then_die
lake.publish(staged, "features", "p", date(2026, 3, 2))
"""


def _publish_killed_between_moves(lake) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", KILLED_PUBLISH, lake.root], capture_output=True, text=True)
    assert done.returncode == 137, done.stderr


def test_a_publish_killed_between_its_two_moves_loses_nothing(lake):
    lake.write_partition(pd.DataFrame({"a": [1]}), "features", "p", D)
    _publish_killed_between_moves(lake)
    assert lake.partitions("features", "p") == []  # the day is aside, the new version still staged
    assert lake.restore_interrupted("features", "p") == [D]
    assert lake.read_partition("features", "p", D)["a"].tolist() == [1]
    assert [n for n in lake.fs.ls(lake.zone("features", "p"), detail=False) if "_retired-" in n] == []


def test_the_next_publish_of_the_day_removes_what_a_killed_one_left_aside(lake):
    lake.write_partition(pd.DataFrame({"a": [1]}), "features", "p", D)
    _publish_killed_between_moves(lake)
    lake.write_partition(pd.DataFrame({"a": [3]}), "features", "p", D)
    assert lake.read_partition("features", "p", D)["a"].tolist() == [3]
    assert [n for n in lake.fs.ls(lake.zone("features", "p"), detail=False) if "_retired-" in n] == []
    assert lake.restore_interrupted("features", "p") == []  # nothing to put back: the day has its version
