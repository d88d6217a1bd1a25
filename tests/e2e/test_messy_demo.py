"""The headless demo loop on messy data, through Airflow's own task runner (`airflow dags test`).

Missing hours and days, null bursts in an unused sensor column, unsorted and repeated rows: the
features DAG, training (both families), scoring, the drift check and the drift-requested
retraining all run on it as on clean data, and nothing is quarantined.
"""

from __future__ import annotations

import pytest

from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import load_settings
from ml_tasks.demo.seed import DemoSize
from ml_tasks.platform.demo_loop import run_demo

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def test_the_demo_loop_runs_on_messy_data(tmp_path):
    home = tmp_path / "demo"
    settings = load_settings(home=home, mlflow_tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    summary = run_demo(settings, DemoSize(stores=2, items=6, days=8 + 42, messy=True), say=print)
    assert summary["champion_version"] and summary["predictions_written"] > 0
    assert set(summary["candidates_holdout_mae"]) == {"lightgbm", "lightning"}
    assert summary["drift_after_injection"]["drift_detected"] and not summary["drift_before"]["drift_detected"]
    lake = Lake.from_settings(settings)
    assert lake.partitions("quarantine", "demand") == []
    # hours missing, and that was fine: about 1% of each day's rows are dropped, so any single day
    # is complete by chance (0.99 ** 288, about 5%); over the whole history some are always short
    days = lake.partitions("raw", "demand")
    assert sum(len(lake.read_partition("raw", "demand", d)) for d in days) < len(days) * 2 * 6 * 24
