"""The benchmark report: every row carries its peer and the ratio; a missing benchmark is an error."""

from __future__ import annotations

import json

import pytest

from bench import report

RESULTS = {
    "features": {"1M": {"rows": 1_008_000, "spark_s": 14.0, "duckdb_s": 2.0, "pandas_s": 7.0, "outputs_agree": True,
                        "gate_s": 4.2}},
    "backfill": {"target_s": 60.0, "two_years_one_hourly_series": {
        "days": 730, "raw_rows": 17_300, "one_pass_s": 40.0, "per_day_s": 400.0, "same_outcome": True}},
    "training": {"rows": 400_000, "device": "cpu", "lightning_samples_per_s": 300_000.0,
                 "plain_pytorch_samples_per_s": 320_000.0},
    "drift": {"quiet": {"rows": 10_000_000, "conveyor_seconds": 1.5, "scipy_seconds": 24.0, "verdicts_agree": True}},
    "loop": {"loop_wall_s": 200.0, "loop_busy_s": 150.0, "orchestration_overhead_s": 50.0, "overhead_share": 0.25},
    "serving": {"rows_per_request": 8, "threads": 4, "p50_ms": 27.0, "p99_ms": 40.0, "rps": 140.0,
                "failed_requests": 0, "peer_in_process": {"p50_ms": 9.0, "p99_ms": 12.0, "calls_per_s": 100.0}},
    "dag-parse": {"peer_one_task_dag_s": 0.005, "files": {"demand.py": {"seconds": 0.4, "dags": 5, "tasks": 18}}},
}


def test_every_row_has_a_peer_and_a_ratio(tmp_path, capsys):
    for name, data in RESULTS.items():
        (tmp_path / f"results-{name}.json").write_text(json.dumps(data))
    table = report.rows(report.load(tmp_path))
    assert all(t["peer_value"] and t["ratio"] is not None for t in table)
    by_peer = {t["peer"]: t for t in table}
    assert by_peer["DuckDB SQL, same features"]["ratio"] == 7.0
    assert by_peer["pandas, same features"]["ratio"] == 2.0
    assert by_peer["the feature job it gates"]["ratio"] == 0.3
    assert by_peer["scipy on every row"]["ratio"] == 0.062
    assert by_peer["a one-task DAG file"]["conveyor"] == 400.0
    assert by_peer["the same command gating each day on its own (--gate-each-day)"]["ratio"] == 0.1
    assert "overhead 50.0 s (25%)" in by_peer["time a task was running (Airflow's task records)"]["note"]
    md = report.markdown(table, "2 cores")
    assert md.count("\n|") == len(table) + 2


def test_a_missing_benchmark_stops_the_report(tmp_path):
    (tmp_path / "results-features.json").write_text(json.dumps(RESULTS["features"]))
    with pytest.raises(SystemExit, match="results-backfill.json is missing"):
        report.load(tmp_path)
