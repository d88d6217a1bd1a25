"""Training, promotion, scoring and drift through real LightGBM, MLflow (SQLite) and Evidently."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from ml_tasks.core import tracking
from ml_tasks.data.backfill import backfill_features
from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data
from ml_tasks.registry import client as registry

from .variants import variant as _variant

pytestmark = pytest.mark.spark


def test_first_model_becomes_champion_with_lineage(loop):
    assert loop["decision"]["promoted"] and loop["decision"]["reason"].startswith("first model of the pipeline")
    client = tracking.connect(loop["settings"])
    champion = registry.version_by_alias(client, "demand", registry.CHAMPION)
    assert str(champion.version) == loop["trained"]["version"]
    run = client.get_run(champion.run_id)
    assert run.data.tags["airflow.dag_id"] == "test"
    assert len(run.data.tags["conveyor.features_sha256"]) == 64
    assert "holdout_mase" in run.data.metrics and "backtest_mean_mase" in run.data.metrics
    tags = champion.tags
    assert tags["conveyor.holdout_window"].endswith(loop["cfg"].dates[-1].isoformat())
    assert tags["conveyor.model_family"] in ("lightgbm", "lightning")
    assert set(json.loads(tags["conveyor.candidates"])) - {"ensemble"} == {"naive", "lightgbm", "lightning"}
    assert tags["conveyor.chosen_by"] == "backtest mae" and json.loads(tags["conveyor.baseline"])["ratio"] < 1.0
    assert champion.description.startswith(f"# demand v{champion.version}")
    assert len(tags["conveyor.artifact_sha256"]) == 64  # what every later load checks the files against
    assert "MLmodel" in json.loads(tags["conveyor.artifact_files"])
    validation = json.loads(tags["conveyor.validation"])  # each partition's recorded gate results
    days = json.loads(tags["conveyor.feature_partitions"])
    assert validation["partitions"] == validation["passed_both_gates"] == len(days) and not validation["unrecorded"]
    records = loop["lake"].read_json(
        loop["lake"].partition("features", "demand", loop["cfg"].dates[-1]) + "/_validation.json"
    )
    assert records["raw"]["suite"] == "demand_raw" and records["raw"]["passed"] and records["raw"]["evaluated"] > 5
    assert records["features"]["suite"] == "demand_features" and records["features"]["passed"]
    logged = client.download_artifacts(tags["conveyor.parent_run_id"], "lineage/validation.json")
    assert sorted(json.loads(open(logged).read())) == days
    artifacts = {a.path for a in client.list_artifacts(tags["conveyor.reference_run_id"], "reference")}
    assert artifacts == {"reference/features.parquet", "reference/holdout.parquet"}
    evaluation = {a.path for a in client.list_artifacts(champion.run_id, "evaluation")}
    assert {
        "evaluation/holdout_forecast.png",
        "evaluation/residuals_and_error_by_hour.png",
        "evaluation/feature_importance.png",
        "evaluation/evaluation.json",
    } <= evaluation


def test_champion_loads_from_the_registry_alias_and_forecasts(loop):
    import mlflow

    model = mlflow.pyfunc.load_model(registry.model_uri("demand"))
    features = loop["lake"].read_partition("features", "demand", loop["cfg"].dates[-1])
    prediction = model.predict(features)
    assert len(prediction) == len(features) and (prediction >= 0).all()
    assert model.metadata.signature is not None


def test_model_beats_seasonal_naive_on_demo_data(loop):
    assert loop["trained"]["metrics"]["mase"] < 1.0


def test_retraining_on_identical_data_keeps_the_champion(loop, demand_spec):
    from ml_tasks.registry.promotion import promote_if_better
    from ml_tasks.registry.registration import train_challenger

    again = train_challenger(loop["settings"], demand_spec)
    decision = promote_if_better(loop["settings"], demand_spec, again)
    for kind in ("lightgbm", "lightning"):  # same seed, same data, same metrics
        assert again["candidates"][kind]["mae"] == pytest.approx(loop["trained"]["candidates"][kind]["mae"], rel=1e-6)
    assert not decision["promoted"] and decision["champion"] == loop["trained"]["version"]
    client = tracking.connect(loop["settings"])
    assert str(registry.version_by_alias(client, "demand", registry.CHALLENGER).version) == again["version"]


def test_scoring_writes_the_same_predictions_on_rerun(loop, demand_spec):
    from ml_tasks.serving.batch import score_partition

    day = loop["cfg"].dates[-1]
    first = score_partition(loop["settings"], demand_spec, day)
    a = loop["lake"].read_partition("predictions", "demand", day)
    score_partition(loop["settings"], demand_spec, day)
    b = loop["lake"].read_partition("predictions", "demand", day)
    assert first["rows"] == len(a) == 2 * 6 * 24
    pd.testing.assert_frame_equal(a, b)


def test_drift_is_quiet_on_unchanged_data_and_fires_on_a_price_regime_change(loop, demand_spec, spark):
    from ml_tasks.monitoring.checks import check_drift

    settings, lake, cfg = loop["settings"], loop["lake"], loop["cfg"]
    quiet = check_drift(settings, demand_spec, cfg.dates[-1])
    assert not quiet["signals"]["data_drift"]["detected"] and not quiet["signals"]["prediction_drift"]["detected"]

    start = cfg.dates[-1] + timedelta(days=1)
    drifted = DemandDataConfig(
        stores=2, items=6, days=demand_spec.drift.window_days, start=start, drift_from=start, drift_kind="price"
    )
    land_demand_data(drifted, lake)
    backfill_features(settings, demand_spec, drifted.dates, progress=lambda m: None, spark=spark)
    loud = check_drift(settings, demand_spec, drifted.dates[-1])
    assert loud["signals"]["data_drift"]["detected"] and "price" in loud["signals"]["data_drift"]["drifted_columns"]
    assert loud["signals"]["prediction_drift"]["detected"]  # demand answers to price: so does the model
    client = tracking.connect(settings)
    files = {a.path for a in client.list_artifacts(loud["monitor_run_id"], f"checks/dt={drifted.dates[-1]}")}
    assert {f"checks/dt={drifted.dates[-1]}/data_drift.html", f"checks/dt={drifted.dates[-1]}/data_drift.json"} <= files


def test_every_family_is_evaluated_on_the_same_rows_and_the_best_by_backtest_registered(loop):
    from ml_tasks.core import tracking

    trained = loop["trained"]
    assert set(trained["candidates"]) - {"ensemble"} == {
        "naive",
        "lightgbm",
        "lightning",
    }  # + one if it backtests better
    naive = {kind: m["naive_mae"] for kind, m in trained["candidates"].items()}
    assert naive["lightgbm"] == naive["lightning"] == naive["naive"]  # identical holdout rows
    backtest = json.loads(
        tracking.connect(loop["settings"])
        .get_model_version("demand", trained["version"])
        .tags["conveyor.candidates_backtest"]
    )
    assert trained["model"] == min(backtest, key=backtest.get) and trained["chosen_by"] == "backtest mae"
    # The naive family forecasts with the naive that was best on the training days: on the holdout it is
    # one of the naive forecasts MASE divides by, so never better than the strongest of them.
    naive_family = trained["candidates"]["naive"]
    assert naive_family["mase"] >= 1.0 - 1e-9
    assert any(
        naive_family["mase"] == pytest.approx(v / naive_family["naive_mae"])
        for k, v in naive_family.items()
        if k.startswith("naive_mae_")
    )
    assert trained["baseline"]["name"].startswith("naive ") and trained["baseline"]["ratio"] < 1.0


@pytest.mark.parametrize("family", ["lightning", "lightgbm"])
def test_each_family_loads_from_its_logged_pyfunc_and_predicts_the_same_on_rows(loop, demand_spec, family):
    """Each model's pyfunc carries its code; it predicts like the trainer did, and its online path
    (``predict_rows``: dicts in, no pandas) gives the same numbers as its pandas ``predict``."""
    import mlflow

    from ml_tasks.training.candidate import train_model
    from ml_tasks.training.plan import plan_training

    plan = plan_training(loop["settings"], demand_spec)
    result = train_model(loop["settings"], demand_spec, plan, family)
    model = mlflow.pyfunc.load_model(result["model_uri"])
    features = loop["lake"].read_partition("features", "demand", loop["cfg"].dates[-1])
    prediction = model.predict(features)
    assert len(prediction) == len(features) and (prediction > 0).all()
    assert result["metrics"]["mase"] < 1.5
    if family == "lightning":
        assert result["fit"]["accelerator"] == "cpu"

    features = features.reset_index(drop=True)
    features.loc[0, "store_id"] = "a store never seen"  # unseen category: the same fallback both ways
    features.loc[1, ["lag_24h", "price"]] = np.nan  # missing values
    expected = model.predict(features)
    rows = features.astype(object).where(features.notna(), None).to_dict("records")
    online = model.unwrap_python_model().predict_rows(rows)
    np.testing.assert_allclose(online, np.asarray(expected, dtype=float), rtol=1e-5, atol=1e-7)


def test_gate_promotes_a_clearly_better_model_but_not_one_better_by_noise(loop, demand_spec, tmp_path):
    from ml_tasks.registry.promotion import promote_if_better
    from ml_tasks.registry.registration import train_challenger

    settings = loop["settings"].model_copy(
        update={
            "mlflow_tracking_uri": f"sqlite:///{tmp_path / 'gate.db'}",
            "mlflow_artifacts_dir": str(tmp_path / "artifacts"),
        }
    )
    weak = train_challenger(settings, _variant(demand_spec, trees=5))
    forced = promote_if_better(settings, demand_spec, weak, force=True)  # a weak champion, put there by hand
    assert forced["promoted"]  # forced only if it failed the thresholds

    strong = train_challenger(settings, _variant(demand_spec))
    decision = promote_if_better(settings, demand_spec, strong)
    assert decision["promoted"], decision["reason"]
    assert decision["checks"]["paired_bootstrap"]["ci_high"] < 0

    reseeded = train_challenger(settings, _variant(demand_spec, seed=7))  # as good, by a different draw
    noise = promote_if_better(settings, demand_spec, reseeded)
    assert not noise["promoted"], noise["reason"]
    boot = noise["checks"]["paired_bootstrap"]
    assert boot["ci_low"] < 0 < boot["ci_high"] or boot["ci_low"] > 0
    client = tracking.connect(settings)
    assert str(registry.version_by_alias(client, "demand", registry.CHAMPION).version) == strong["version"]


def test_history_rollback_and_lineage_from_the_cli(loop, demand_spec, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from ml_tasks.platform.cli.app import app
    from ml_tasks.registry.promotion import promote_if_better
    from ml_tasks.registry.registration import train_challenger

    db = f"sqlite:///{tmp_path / 'audit.db'}"
    settings = loop["settings"].model_copy(
        update={"mlflow_tracking_uri": db, "mlflow_artifacts_dir": str(tmp_path / "a")}
    )
    first = train_challenger(
        settings, _variant(demand_spec), {"airflow.dag_id": "demand_train", "airflow.run_id": "r1"}
    )
    promote_if_better(settings, demand_spec, first, {"airflow.dag_id": "demand_train", "airflow.run_id": "r1"})
    second = train_challenger(settings, _variant(demand_spec, seed=7))
    forced = promote_if_better(
        settings, demand_spec, second, {"airflow.dag_id": "demand_train", "airflow.run_id": "r2"}, force=True
    )
    assert forced["forced"] and forced["champion"] == second["version"]

    monkeypatch.setenv("CONVEYOR_HOME", str(settings.home))
    monkeypatch.setenv("CONVEYOR_MLFLOW_TRACKING_URI", db)
    monkeypatch.setenv("CONVEYOR_MLFLOW_ARTIFACTS_DIR", str(tmp_path / "a"))
    runner = CliRunner()
    out = runner.invoke(app, ["history", "demand"]).output
    assert out.count("@champion") == 2 and "FORCED" in out and "r2" in out

    result = runner.invoke(app, ["rollback", "demand", "--reason", "forced model misbehaves"])
    assert result.exit_code == 0, result.output
    client = tracking.connect(settings)
    assert str(registry.version_by_alias(client, "demand", registry.CHAMPION).version) == first["version"]
    out = runner.invoke(app, ["history", "demand"]).output
    assert out.count("@champion") == 3 and "rollback: forced model misbehaves" in out

    bad = runner.invoke(app, ["rollback", "demand", "--to", "99"])
    assert bad.exit_code == 1 and "has no version '99'" in bad.output

    chain = runner.invoke(app, ["lineage", "demand@champion"])
    assert chain.exit_code == 0, chain.output
    assert f"demand v{first['version']}" in chain.output and "@champion" in chain.output
    assert "features/demand" in chain.output and "raw/demand" in chain.output and "sha256" in chain.output
    assert "partitions passed both" in chain.output and "no record" not in chain.output
    assert runner.invoke(app, ["lineage", "demand"]).exit_code == 1


def test_a_failed_family_is_named_and_the_finished_one_is_still_registered_and_gated(loop, demand_spec, monkeypatch):
    """The neural task dies (an out-of-memory on its worker, say): LightGBM's model is not lost."""
    from ml_tasks.registry.promotion import promote_if_better
    from ml_tasks.registry.registration import train_challenger
    from ml_tasks.training.trainers import NeuralTrainer

    def out_of_memory(self, lake, dates, logger=None):
        raise RuntimeError("CUDA out of memory (injected)")

    monkeypatch.setattr(NeuralTrainer, "fit", out_of_memory)
    trained = train_challenger(loop["settings"], demand_spec)
    assert trained["model"] == "lightgbm" and set(trained["candidates"]) == {"naive", "lightgbm"}
    assert "CUDA out of memory" in trained["failed"]["lightning"]
    client = tracking.connect(loop["settings"])
    version = client.get_model_version("demand", trained["version"])
    assert "lightning" in json.loads(version.tags["conveyor.failed_families"])
    assert "## Failed candidates" in version.description and "CUDA out of memory" in version.description
    decision = promote_if_better(loop["settings"], demand_spec, trained)
    assert "not compared, training failed: lightning" in decision["reason"]
    assert "paired_bootstrap" in decision["checks"]  # gated against the champion like any challenger


def test_a_window_too_short_for_folds_still_hands_plain_json_to_register(loop, demand_spec, tmp_path):
    """Airflow passes each family's result on as strict JSON. With no backtest folds (a young
    pipeline), LightGBM's transforms have no backtest to compare; a NaN there failed the Airflow
    task in CI of 6b32cfd ("Out of range float values are not JSON compliant")."""
    from ml_tasks.training.candidate import train_model
    from ml_tasks.training.plan import plan_training

    settings = loop["settings"].model_copy(
        update={
            "mlflow_tracking_uri": f"sqlite:///{tmp_path / 'young.db'}",
            "mlflow_artifacts_dir": str(tmp_path / "artifacts"),
        }
    )
    spec = _variant(demand_spec)
    spec = spec.model_copy(update={"training": spec.training.model_copy(update={"backtest_folds": 0})})
    result = train_model(settings, spec, plan_training(settings, spec), "lightgbm")
    json.dumps(result, allow_nan=False)
    assert result["backtest_mean"] == {} and "transforms_backtest" not in result["fit"]
    assert np.isfinite(result["metrics"]["mae"])
