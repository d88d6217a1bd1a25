"""The benchmark report: every row carries its peer and the ratio; a missing benchmark is an error."""

from __future__ import annotations

import json

import pytest

from bench import report

RESULTS = {
    "features": {"1M": {"rows": 1_008_000, "spark_s": 14.0, "duckdb_s": 2.0, "pandas_s": 7.0, "outputs_agree": True,
                        "gate_s": 4.2},
                 "10M": {"rows": 10_080_000, "spark_s": 30.0, "duckdb_s": 12.0, "duckdb_formulation": "dense_rows",
                         "duckdb_tries": {"range_frames": 28.0, "dense_rows": 12.0}, "pandas_s": 40.0,
                         "pandas_formulation": "numpy_grid", "pandas_tries": {"numpy_grid": 40.0, "groupby_rolling": 60.0},
                         "outputs_agree": True, "gate_s": 12.0}},
    "backfill": {"target_s": 60.0, "two_years_one_hourly_series": {
        "days": 730, "raw_rows": 17_300, "one_pass_s": 40.0, "per_day_s": 400.0, "same_outcome": True}},
    "training": {"rows": 400_000, "device": "cpu", "lightning_samples_per_s": 300_000.0,
                 "plain_pytorch_samples_per_s": 320_000.0},
    "drift": {"quiet": {"rows": 10_000_000, "conveyor_seconds": 1.5, "scipy_seconds": 24.0, "verdicts_agree": True}},
    "loop": {"loop_wall_s": 200.0, "loop_busy_s": 150.0, "orchestration_overhead_s": 50.0, "overhead_share": 0.25},
    "serving": {"rows_per_request": 8, "concurrency": 4, "rate": 100.0, "failed_requests": 0,
                "floor": {"predict_rows": {"p50_ms": 0.2}, "pyfunc_predict_pandas": {"p50_ms": 2.0}},
                "conveyor": {"closed": {"rps": 600.0}, "open_100rps": {"p50_ms": 2.0, "p99_ms": 6.0},
                             "key_only": {"closed": {"rps": 500.0}, "open_100rps": {"p99_ms": 7.0}},
                             "closed_across_champion_change": {"rps": 550.0}},
                "peer_mlflow_models_serve": {"workers": 2, "closed": {"rps": 150.0}, "open_100rps": {"p99_ms": 30.0}}},
    "dag-parse": {"peer_one_task_dag_s": 0.005, "files": {"demand.py": {"seconds": 0.4, "dags": 5, "tasks": 18}}},
    "view": {"days": 365, "versions": 50, "target_s": 1.0, "conveyor": {"first_s": 0.5, "median_s": 0.4},
             "peer_mlflow_model_page": {"first_s": 0.05, "median_s": 0.05}},
}


def test_every_row_has_a_peer_and_a_ratio(tmp_path, capsys):
    for name, data in RESULTS.items():
        (tmp_path / f"results-{name}.json").write_text(json.dumps(data))
    table = report.rows(report.load(tmp_path))
    assert all(t["peer_value"] and t["ratio"] is not None for t in table)
    by_peer = {t["peer"]: t for t in table}
    assert by_peer["DuckDB SQL, same features"]["ratio"] == 7.0
    assert by_peer["DuckDB SQL, same features (dense_rows, fastest of 2)"]["ratio"] == 2.5
    assert by_peer["pandas, same features"]["ratio"] == 2.0
    assert by_peer["the feature job it gates"]["ratio"] in (0.3, 0.4)
    assert by_peer["scipy on every row"]["ratio"] == 0.062
    assert by_peer["a one-task DAG file"]["conveyor"] == 400.0
    assert by_peer["the same command gating each day on its own (--gate-each-day)"]["ratio"] == 0.1
    assert "overhead 50.0 s (25%)" in by_peer["time a task was running (Airflow's task records)"]["note"]
    assert by_peer["MLflow UI's registered-model page requests (versions only)"]["ratio"] == 8.0
    throughput = next(t for t in table if t["what"].startswith("serving throughput, 8 rows"))
    assert throughput["ratio"] == 4.0 and "2 worker(s)" in throughput["peer"]
    md = report.markdown(table, "2 cores")
    assert md.count("\n|") == len(table) + 2


def test_a_missing_benchmark_stops_the_report(tmp_path):
    (tmp_path / "results-features.json").write_text(json.dumps(RESULTS["features"]))
    with pytest.raises(SystemExit, match="results-backfill.json is missing"):
        report.load(tmp_path)
