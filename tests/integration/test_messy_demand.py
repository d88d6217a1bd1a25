"""The demand loop on messy data: missing hours and days, null bursts, unsorted and repeated rows.

Nothing of that is wrong with the data, so no day is quarantined: every landed day after the
look-back is published, both model families train on the gaps, a champion is promoted and
scores every row of a day with missing hours.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import load_settings
from ml_tasks.data.backfill import backfill_features
from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data
from ml_tasks.features.columns import lookback_days

pytestmark = pytest.mark.spark


def test_messy_demand_data_is_published_whole_and_trains_a_champion(tmp_path, demand_spec, spark):
    from ml_tasks.registry.promotion import promote_if_better
    from ml_tasks.registry.registration import train_challenger
    from ml_tasks.serving.batch import score_partition

    settings = load_settings(home=tmp_path, mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    lake = Lake.from_settings(settings)
    # With this seed and start, 2025-09-18 never arrives: a day missing in the middle of the window.
    cfg = DemandDataConfig(stores=2, items=4, days=lookback_days(demand_spec) + 60, start=date(2025, 7, 14), messy=True)
    landed = land_demand_data(cfg, lake)
    assert date(2025, 9, 18) not in landed and len(landed) == cfg.days - 1
    wanted = [d for d in landed if d >= cfg.dates[lookback_days(demand_spec)]][-40:]
    report = backfill_features(settings, demand_spec, wanted, progress=lambda m: None, spark=spark)
    assert report.published == wanted and not report.quarantined, report.quarantined
    after_gap = lake.read_partition("features", "demand", date(2025, 9, 19))
    assert after_gap["lag_24h"].isna().all() and after_gap["lag_48h"].notna().mean() > 0.9  # published all the same

    trained = train_challenger(settings, demand_spec)
    assert set(trained["candidates"]) - {"ensemble"} == {"naive", "lightgbm", "lightning"} and not trained["failed"]
    decision = promote_if_better(settings, demand_spec, trained)
    assert decision["promoted"], decision
    scored = score_partition(settings, demand_spec, wanted[-1])
    predictions = lake.read_partition("predictions", "demand", wanted[-1])
    assert len(predictions) == len(lake.read_partition("features", "demand", wanted[-1]))
    assert np.isfinite(predictions["prediction"]).all() and scored
