"""A published day is the files its manifest lists, written last: a day without one is not read, a
file changed or cut after publishing is refused by name, and `conveyor seal` adopts day folders
written before manifests existed."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
from typer.testing import CliRunner

from ml_tasks.core.lake import Lake, LakeError
from ml_tasks.core.manifest import MANIFEST
from ml_tasks.platform.cli.app import app

D = date(2026, 3, 2)


def test_a_published_day_carries_the_manifest_of_its_files(lake):
    lake.write_partition(pd.DataFrame({"a": [1, 2, 3]}), "features", "p", D)
    listed = json.loads(lake.fs.cat(f"{lake.partition('features', 'p', D)}/{MANIFEST}"))
    ((name, facts),) = listed["files"].items()
    assert name == "part-00000.parquet" and facts["size"] > 0 and len(facts["sha256"]) == 64


def test_a_day_folder_without_its_manifest_is_not_a_day(lake):
    lake.write_partition(pd.DataFrame({"a": [1]}), "raw", "p", D)
    lake.fs.rm(f"{lake.partition('raw', 'p', D)}/{MANIFEST}")  # as a copy cut before its manifest leaves it
    assert lake.partitions("raw", "p") == [] and not lake.exists("raw", "p", D)
    with pytest.raises(LakeError, match=f"has no {MANIFEST}"):
        lake.read_partition("raw", "p", D)
    with pytest.raises(LakeError, match=f"has no {MANIFEST}"):
        with lake.spark_inputs([lake.partition("raw", "p", D)]):
            pass


@pytest.mark.parametrize("damage", ["flipped", "cut"])
def test_a_file_changed_after_publishing_is_refused_by_name(lake, damage):
    lake.write_partition(pd.DataFrame({"a": list(range(100))}), "features", "p", D)
    path = f"{lake.partition('features', 'p', D)}/part-00000.parquet"
    data = bytearray(lake.fs.cat(path))
    if damage == "flipped":
        data[len(data) // 2] ^= 0xFF  # same size, other bytes
    else:
        data = data[: len(data) // 2]
    lake.fs.pipe(path, bytes(data))
    with pytest.raises(LakeError, match=r"part-00000\.parquet: .*(sha256|bytes, the day's manifest says)"):
        lake.read_partition("features", "p", D)
    # training reads the day's files itself (Lightning's data module): its plan's fingerprint checks each one
    from types import SimpleNamespace

    from ml_tasks.features.store import partitions_fingerprint

    with pytest.raises(LakeError, match=r"part-00000\.parquet: .*(sha256|bytes, the day's manifest says)"):
        partitions_fingerprint(lake, SimpleNamespace(name="p"), [D])


def test_files_beside_the_listed_ones_are_not_read(lake):
    lake.write_partition(pd.DataFrame({"a": [1]}), "predictions", "p", D)
    pd.DataFrame({"a": [666]}).to_parquet(f"{lake.partition('predictions', 'p', D)}/part-99999.parquet")
    assert lake.read_partition("predictions", "p", D)["a"].tolist() == [1]


def test_conveyor_seal_adopts_day_folders_from_before_manifests(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVEYOR_HOME", str(tmp_path))
    lake = Lake(str(tmp_path / "lake"))
    folder = lake.partition("raw", "demand", D)
    lake.fs.makedirs(folder, exist_ok=True)
    pd.DataFrame({"a": [5]}).to_parquet(f"{folder}/part-0.parquet")
    assert lake.partitions("raw", "demand") == []
    out = CliRunner().invoke(app, ["seal", "demand"])
    assert out.exit_code == 0 and "1 day folder(s) of demand sealed" in out.output, out.output
    assert lake.partitions("raw", "demand") == [D] and lake.read_partition("raw", "demand", D)["a"].tolist() == [5]
