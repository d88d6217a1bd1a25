"""A pipeline for data the project has never seen, from `conveyor new-pipeline` to a champion.

Hourly electricity readings per site and meter, with other column names and a float target.
Only the scaffolded files exist for it (written into a scratch copy of the project layout); no
other file is edited. The spec validates, the DAG file parses into the pipeline's DAGs, raw
days pass their profiled suite, Spark builds and gates the features, and training promotes a
first champion that beats the seasonal-naive forecast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from ml_tasks.core import tracking
from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import REPO_ROOT, load_settings
from ml_tasks.platform.scaffold.pipeline import NewPipeline
from ml_tasks.platform.scaffold.sample import ScaffoldError
from ml_tasks.registry import client as registry

pytestmark = pytest.mark.spark
DAYS = [date(2026, 5, 4) + timedelta(days=i) for i in range(8 + 24)]


def energy_day(day: date, sites: int = 3, meters: int = 4) -> pd.DataFrame:
    """kWh per site and meter and hour: a daily cycle, weekday load, per-meter scale, noise."""
    rng = np.random.default_rng(day.toordinal())
    hours = pd.date_range(pd.Timestamp(day, tz="UTC"), periods=24, freq="h")
    rows = []
    for s in range(sites):
        for m in range(meters):
            scale = 5.0 + 3.0 * s + m
            temp = 18 + 6 * np.sin((hours.hour - 9) / 24 * 2 * np.pi) + rng.normal(0, 1, 24)
            load = scale * (1 + 0.5 * np.sin((hours.hour - 7) / 24 * 2 * np.pi)) * (0.8 if day.weekday() >= 5 else 1.0)
            rows.append(
                pd.DataFrame(
                    {
                        "reading_at": hours,
                        "site": f"site-{s}",
                        "meter": f"m{m}",
                        "kwh": np.maximum(load + rng.normal(0, 0.6, 24), 0.0),
                        "temperature_c": temp,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    sample = pd.concat([energy_day(d) for d in DAYS[:2]], ignore_index=True)
    new = NewPipeline("energy", "regression", ["site", "meter"], "reading_at", "kwh", sample, root=root)
    written = new.write()
    home = root / "home"
    settings = load_settings(
        home=home,
        specs_dir=root / "dags" / "specs",
        expectations_dir=root / "expectations",
        mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
    )
    return {"root": root, "written": written, "settings": settings, "new": new}


def test_the_scaffold_writes_only_the_pipelines_own_files(scaffolded):
    root = scaffolded["root"]
    assert sorted(str(p.relative_to(root)) for p in scaffolded["written"]) == [
        "dags/energy.py",
        "dags/specs/energy.yaml",
        "expectations/energy_features.json",
        "expectations/energy_raw.json",
        "tests/pipelines/test_energy.py",
    ]
    raw = json.loads((root / "expectations" / "energy_raw.json").read_text())
    kinds = {(e["type"], e["kwargs"].get("column")) for e in raw["expectations"]}
    assert ("expect_column_to_exist", "temperature_c") in kinds and (
        "expect_column_values_to_be_between",
        "kwh",
    ) in kinds
    assert all(e["meta"]["notes"] for e in raw["expectations"])
    with pytest.raises(ScaffoldError, match="would overwrite"):
        scaffolded["new"].write()


def test_the_new_spec_validates_and_its_dags_appear_at_the_next_parse(scaffolded):
    from ml_tasks.platform.cli.spec_check import check_all

    assert check_all(scaffolded["settings"]) == {"energy": []}
    probe = (
        "import json, sys; from airflow.dag_processing.dagbag import DagBag; b = DagBag(dag_folder=sys.argv[1]); "
        "print(json.dumps({'errors': {k: str(v) for k, v in b.import_errors.items()}, 'dags': sorted(b.dags)}))"
    )
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(scaffolded["root"] / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "CONVEYOR_SPECS_DIR": str(scaffolded["settings"].specs_dir),
    }
    out = subprocess.run(
        [sys.executable, "-c", probe, str(scaffolded["root"] / "dags" / "energy.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    parsed = json.loads(out.stdout.strip().splitlines()[-1])
    assert parsed == {
        "errors": {},
        "dags": [
            "energy_drift",
            "energy_features",
            "energy_relanded",
            "energy_rollback",
            "energy_score",
            "energy_train",
        ],
    }


def test_raw_days_to_promoted_champion_through_the_real_gates_spark_and_training(scaffolded, spark):
    from ml_tasks.core.spec import load_spec
    from ml_tasks.data.backfill import backfill_features
    from ml_tasks.registry.promotion import promote_if_better
    from ml_tasks.registry.registration import train_challenger

    settings = scaffolded["settings"]
    lake = Lake.from_settings(settings)
    for d in DAYS:
        lake.write_partition(energy_day(d), "raw", "energy", d)
    spec = load_spec("energy", settings.specs_dir)
    report = backfill_features(settings, spec, DAYS[8:], progress=lambda m: None, spark=spark)
    assert report.published == DAYS[8:] and not report.quarantined, report.quarantined

    decision = promote_if_better(settings, spec, train_challenger(settings, spec))
    assert decision["promoted"], decision
    champion = registry.version_by_alias(tracking.connect(settings), "energy", registry.CHAMPION)
    assert str(champion.version) == decision["version"]
    metrics = json.loads(champion.tags["conveyor.candidates"])
    assert set(metrics) - {"ensemble"} == {"naive", "lightgbm", "lightning", "statsforecast"}
    assert decision["checks"]["thresholds"]["failed"] == {}  # MASE <= 1: it beats the strongest naive forecast

    bad = energy_day(DAYS[-1] + timedelta(days=1)).assign(kwh=-5.0)  # a broken meter feed is quarantined
    lake.write_partition(bad, "raw", "energy", DAYS[-1] + timedelta(days=1))
    late = backfill_features(settings, spec, [DAYS[-1] + timedelta(days=1)], progress=lambda m: None, spark=spark)
    assert (
        list(late.quarantined) == [DAYS[-1] + timedelta(days=1)]
        and "kwh" in late.quarantined[DAYS[-1] + timedelta(days=1)]
    )
    assert REPO_ROOT not in scaffolded["root"].parents  # nothing of this pipeline was written into the checkout
