"""A lake with weeks of demand features and a registered champion, shared by the integration tests."""

from __future__ import annotations

import pytest

from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import load_settings
from ml_tasks.data.backfill import backfill_features
from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data
from ml_tasks.features.columns import lookback_days

from ..conftest import DAY0

HISTORY = 24


@pytest.fixture(scope="package")
def loop(tmp_path_factory, demand_spec, spark):
    """A lake with HISTORY days of features and a registered champion."""
    home = tmp_path_factory.mktemp("loop")
    settings = load_settings(home=home, mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    lake = Lake.from_settings(settings)
    cfg = DemandDataConfig(stores=2, items=6, days=lookback_days(demand_spec) + HISTORY, start=DAY0)
    land_demand_data(cfg, lake)
    report = backfill_features(settings, demand_spec, cfg.dates[-HISTORY:], progress=lambda m: None, spark=spark)
    assert len(report.published) == HISTORY
    from ml_tasks.registry.promotion import promote_if_better
    from ml_tasks.registry.registration import train_challenger

    trained = train_challenger(settings, demand_spec, {"airflow.dag_id": "test"})
    decision = promote_if_better(settings, demand_spec, trained)
    return {"settings": settings, "lake": lake, "cfg": cfg, "trained": trained, "decision": decision}
