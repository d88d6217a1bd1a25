"""Streaming feature batches from Parquet for the neural model."""

import numpy as np
import pandas as pd
import torch

from ml_tasks.core.lake import Lake
from ml_tasks.training.datamodule import ParquetBatches, scan_schema


def _files(tmp_path, sizes):
    paths = []
    for i, n in enumerate(sizes):
        df = pd.DataFrame(
            {"store_id": [f"S{j % 3}" for j in range(n)], "x": np.arange(n, dtype=float) + 1000 * i, "y": np.ones(n)}
        )
        df.loc[0, "x"] = np.nan
        path = tmp_path / f"part-{i}.parquet"
        df.to_parquet(path, index=False)
        paths.append(str(path))
    return paths


def test_batches_span_small_files_and_cover_every_row_once(tmp_path):
    files = _files(tmp_path, [700, 900, 450])
    lake = Lake(str(tmp_path))
    schema, mean, std = scan_schema(lake, files, ["store_id"], ["x"], "y")
    batches = list(ParquetBatches(lake, files, schema, batch_size=512, shuffle=True, seed=3))
    sizes = [len(b[2]) for b in batches]
    assert sizes[:-1] == [512] * (len(sizes) - 1) and sum(sizes) == 2050
    seen = torch.cat([b[1][:, 0] for b in batches])
    assert torch.isnan(seen).sum() == 3 and len(torch.unique(seen[~torch.isnan(seen)])) == 2047


def test_shuffle_is_reproducible_per_seed_and_epoch(tmp_path):
    files = _files(tmp_path, [300, 300])
    lake = Lake(str(tmp_path))
    schema, _, _ = scan_schema(lake, files, ["store_id"], ["x"], "y")
    a = ParquetBatches(lake, files, schema, 128, shuffle=True, seed=1)
    first = torch.cat([b[1][:, 0] for b in a])
    again = torch.cat([b[1][:, 0] for b in ParquetBatches(lake, files, schema, 128, shuffle=True, seed=1)])
    a.set_epoch(1)
    next_epoch = torch.cat([b[1][:, 0] for b in a])
    assert torch.equal(torch.nan_to_num(first), torch.nan_to_num(again))
    assert not torch.equal(torch.nan_to_num(first), torch.nan_to_num(next_epoch))


def test_schema_scan_gives_vocab_and_nan_aware_scaling(tmp_path):
    files = _files(tmp_path, [10])
    schema, mean, std = scan_schema(Lake(str(tmp_path)), files, ["store_id"], ["x"], "y")
    assert schema.vocab == {"store_id": ["S0", "S1", "S2"]}
    assert mean.item() == np.mean(np.arange(1, 10)) and std.item() > 0
    cats, nums = schema.encode(pd.DataFrame({"store_id": ["S2", "new"], "x": [1.0, 2.0]}))
    assert cats[:, 0].tolist() == [3, 0]  # unknown keys map to 0
