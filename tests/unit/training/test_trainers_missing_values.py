"""Both model families train and predict with missing feature values, as real data has them.

Gaps in the raw data leave lags and windows null; a known-ahead column can be missing for a
whole file (a weather feed that was down for a day). LightGBM takes missing values natively,
the network through its missing-value flags; neither may fail or drop the rows.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from ml_tasks.features.columns import feature_names
from ml_tasks.training.datamodule import scan_schema
from ml_tasks.training.trainers import LightGBMTrainer, NeuralTrainer

DAYS = [date(2026, 3, 2) + timedelta(days=i) for i in range(10)]


def _feature_day(spec, features: list[str], day: date, rng: np.random.Generator) -> pd.DataFrame:
    hours = pd.date_range(pd.Timestamp(day, tz="UTC"), periods=24, freq="h")
    frames = []
    for store in ("S1", "S2"):
        for item in ("I1", "I2"):
            frame = pd.DataFrame({"store_id": store, "item_id": item, spec.data.timestamp: hours})
            for col in features:
                if col not in frame:
                    frame[col] = rng.normal(5, 2, len(hours))
            frame["hour"] = hours.hour
            frame[spec.data.target] = rng.poisson(3 + frame["lag_24h"].clip(0, 10)).astype(float)
            frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["dt"] = day.isoformat()
    return out


@pytest.fixture
def gappy_lake(lake, demand_spec):
    """Ten feature days; on day 3 `price` is null in every row, elsewhere lags have 10% gaps."""
    rng = np.random.default_rng(0)
    features = feature_names(demand_spec)
    for i, day in enumerate(DAYS):
        frame = _feature_day(demand_spec, features, day, rng)
        frame.loc[rng.random(len(frame)) < 0.1, ["lag_24h", "lag_168h", "rolling_mean_168h"]] = np.nan
        if i == 3:
            frame["price"] = np.nan
        lake.write_partition(frame, "features", demand_spec.name, day)
    return lake


def test_schema_scan_takes_a_column_that_is_entirely_null_in_one_file(gappy_lake, demand_spec):
    files = [f for d in DAYS for f in gappy_lake.parquet_files(gappy_lake.partition("features", "demand", d))]
    schema, mean, std = scan_schema(gappy_lake, files, ["store_id"], ["price", "lag_24h"], "units")
    assert np.isfinite(mean.numpy()).all() and np.isfinite(std.numpy()).all()
    only_null = [f for f in files if "dt=2026-03-05" in f]
    _, mean, _ = scan_schema(gappy_lake, only_null, ["store_id"], ["price"], "units")
    assert mean.tolist() == [0.0]  # no values: neutral scaling, not a crash


@pytest.mark.parametrize("trainer", [LightGBMTrainer, NeuralTrainer], ids=["lightgbm", "lightning"])
def test_each_family_trains_and_predicts_with_missing_values(gappy_lake, demand_spec, trainer):
    spec = demand_spec.model_copy(
        update={
            "training": demand_spec.training.model_copy(
                update={
                    "lightning": demand_spec.training.lightning.model_copy(update={"max_epochs": 2}),
                    "resources": demand_spec.training.resources.model_copy(update={"gpu": False}),
                }
            )
        }
    )
    model = trainer(spec, feature_names(spec))
    facts = model.fit(gappy_lake, DAYS[:8])
    assert facts
    holdout = gappy_lake.read_range("features", "demand", DAYS[8:])
    holdout.loc[:5, "price"] = np.nan
    holdout.loc[:, "lag_168h"] = np.nan  # a column missing for a whole day at prediction time
    prediction = model.predict(holdout)
    assert prediction.shape == (len(holdout),) and np.isfinite(prediction).all()
