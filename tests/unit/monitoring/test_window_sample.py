"""Sampling a monitoring window: exact size, no repeats, every file in proportion, reproducible."""

from datetime import date, timedelta

import numpy as np
import pandas as pd

from ml_tasks.monitoring.sampling import sample_partitions

DAYS = [date(2026, 5, 1) + timedelta(days=i) for i in range(4)]


def _land(lake, rows_per_day=(1000, 3000, 500, 2500)):
    offset = 0
    for d, n in zip(DAYS, rows_per_day, strict=True):
        lake.write_partition(
            pd.DataFrame(
                {
                    "row": np.arange(offset, offset + n),
                    "x": np.random.default_rng(n).normal(size=n),
                    "day": d.isoformat(),
                }
            ),
            "features",
            "p",
            d,
        )
        offset += n
    return offset


def test_sample_is_exact_without_repeats_and_proportional(lake):
    total = _land(lake)
    sample, population = sample_partitions(lake, "features", "p", DAYS, ["row", "day"], 1400, seed=1)
    assert population == total == 7000 and len(sample) == 1400
    assert sample["row"].is_unique and list(sample.columns) == ["row", "day"]
    share = sample["day"].value_counts(normalize=True).reindex([d.isoformat() for d in DAYS]).to_numpy()
    assert np.allclose(share, np.array([1000, 3000, 500, 2500]) / 7000, atol=0.04)


def test_same_seed_same_rows_and_small_windows_are_read_whole(lake):
    _land(lake)
    a, _ = sample_partitions(lake, "features", "p", DAYS, ["row"], 800, seed=9)
    b, _ = sample_partitions(lake, "features", "p", DAYS, ["row"], 800, seed=9)
    c, _ = sample_partitions(lake, "features", "p", DAYS, ["row"], 800, seed=10)
    assert a["row"].tolist() == b["row"].tolist() != c["row"].tolist()
    whole, population = sample_partitions(lake, "features", "p", DAYS[:1], None, 5000, seed=1)
    assert len(whole) == population == 1000 and set(whole.columns) == {"row", "x", "day"}
