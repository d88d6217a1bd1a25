"""Fixtures of the family tests: the demand spec made quick to train, a lake of two drifting series."""

from __future__ import annotations

import numpy as np
import pytest

from ml_tasks.core.settings import load_settings
from ml_tasks.core.spec import load_spec

from .series_data import series_features


@pytest.fixture(scope="module")
def spec():
    demand = load_spec("demand", load_settings().specs_dir)
    training = demand.training.model_copy(
        update={
            "lightning": demand.training.lightning.model_copy(update={"max_epochs": 2, "batch_size": 256}),
            "resources": demand.training.resources.model_copy(update={"gpu": False}),
        }
    )
    return demand.model_copy(update={"training": training})


@pytest.fixture
def series_lake(lake, spec):
    rows = series_features(spec, np.random.default_rng(0))
    for day, frame in rows.groupby("dt"):
        lake.write_partition(frame.drop(columns=["dt"]), "features", spec.name, day)
    return lake
