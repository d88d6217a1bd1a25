"""Benchmark: the Spark feature job against DuckDB on the same input, plus gate and incremental costs.

Run with ``make bench-features``. For each size it lands generated raw data, runs the real Spark
feature job (``spark_jobs.features_job.stage_features``) and the same features in DuckDB SQL
(``bench/features_duckdb.py``), checks that both outputs agree, gates the Spark output with the
features suite on the Spark DataFrame, and prints time ratios. It also times one day out of a
year of data against a full recompute (the job reads only its interval plus its look-back), and
how long the job's process takes to exit after the job ends. Results go to
``bench/results-features.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from bench.features_duckdb import FORMULATIONS, features_sql  # noqa: E402
from bench.features_pandas import FORMULATIONS as PANDAS_FORMULATIONS  # noqa: E402
from bench.features_pandas import read_raw  # noqa: E402
from ml_tasks.core.lake import Lake  # noqa: E402
from ml_tasks.core.settings import load_settings  # noqa: E402
from ml_tasks.core.spec import load_spec  # noqa: E402
from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data  # noqa: E402

SIZES = {"1M": (20, 50, 42), "10M": (100, 100, 42)}  # stores, items, days -> rows = s * i * 24 * d
START = date(2026, 1, 5)
# Every side runs this many times and counts its best run: this machine's speed varies by a
# third from one minute to the next, and one run each made the ratio swing from 1.6x to 2.6x.
REPEATS = 2
COMPARE = [
    "lag_24h",
    "lag_48h",
    "lag_168h",
    "rolling_mean_24h",
    "rolling_std_24h",
    "rolling_mean_168h",
    "rolling_std_168h",
    "price_ratio_168h",
    "hour",
    "day_of_week",
    "is_weekend",
]


def say(msg: str) -> None:
    print(msg, flush=True)


def land(home: Path, stores: int, items: int, days: int):
    settings = load_settings(home=home, spark_driver_memory="6g")
    cfg = DemandDataConfig(stores=stores, items=items, days=days, start=START)
    t0 = time.perf_counter()
    land_demand_data(cfg, Lake(settings.lake_uri))
    return settings, cfg, time.perf_counter() - t0


def run_spark(settings, spec, days, spark):
    from spark_jobs.features_job import stage_features

    t0 = time.perf_counter()
    staged = stage_features(settings, spec, days, spark=spark)
    return staged, time.perf_counter() - t0


def run_duckdb(settings, spec, days, out: Path, formulation: str = "range_frames") -> float:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET threads = {os.cpu_count() or 2}")
    sql = features_sql(
        spec, f"{settings.lake_uri}/raw/demand/dt=*/*.parquet", days[0].isoformat(), days[-1].isoformat(), formulation
    )
    t0 = time.perf_counter()
    con.execute(f"COPY ({sql}) TO '{out}' (FORMAT PARQUET)")
    return time.perf_counter() - t0


def run_pandas(settings, spec, days, out: Path, formulation: str = "numpy_grid") -> float:
    """The same features in one pandas process, reading the same raw Parquet files."""
    lake = Lake(settings.lake_uri)
    files = [
        Path(f)
        for d in lake.partitions("raw", "demand")
        for f in lake.parquet_files(lake.partition("raw", "demand", d))
    ]
    t0 = time.perf_counter()
    frame = PANDAS_FORMULATIONS[formulation](read_raw(files), spec, days[0], days[-1])
    took = time.perf_counter() - t0
    frame.to_parquet(out, index=False)
    return took


KEY = ["store_id", "item_id", "ts"]


def _sorted_by_key(frame: pd.DataFrame) -> pd.DataFrame:
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame.sort_values(KEY).reset_index(drop=True)


def spark_frame(staged: dict) -> pd.DataFrame:
    """Spark's output, read once and sorted by key, to check every peer against."""
    return _sorted_by_key(
        pd.concat([pd.read_parquet(p, columns=KEY + COMPARE) for p in staged.values()], ignore_index=True)
    )


def compare(spark_df: pd.DataFrame, peer_path: Path) -> dict:
    """Largest absolute difference per feature between Spark's output (:func:`spark_frame`) and a
    peer's, row by row on the keys."""
    duck_df = _sorted_by_key(pd.read_parquet(peer_path, columns=KEY + COMPARE))
    if len(spark_df) != len(duck_df) or not (spark_df[KEY] == duck_df[KEY]).all().all():
        return {"rows_spark": len(spark_df), "rows_duckdb": len(duck_df), "agree": False}
    worst = {}
    for col in COMPARE:
        a, b = spark_df[col].to_numpy(dtype=float), duck_df[col].to_numpy(dtype=float)
        same_nan = np.array_equal(np.isnan(a), np.isnan(b))
        diff = np.nanmax(np.abs(a - b)) if len(a) else 0.0
        worst[col] = float(diff) if same_nan else float("inf")
    return {"rows": len(spark_df), "max_abs_diff": worst, "agree": all(v < 1e-6 for v in worst.values())}


def gate_seconds(settings, spec, staged, spark) -> float:
    """The features gate as the pipeline runs it (cached Spark DataFrame, no collection to pandas).

    Only days with a full look-back are gated: the first days of the benchmark's history have
    no lags yet, which the suite rightly rejects.
    """
    from ml_tasks.data.expectations import load_suite, validate
    from ml_tasks.data.gates import interval_parameters, spanning
    from ml_tasks.features.columns import lookback_days

    staged = dict(sorted(staged.items())[lookback_days(spec) :])
    suite = load_suite(settings.expectations_dir, spec.data.features_suite)
    sdf = spark.read.parquet(*staged.values())
    params = spanning(interval_parameters(min(staged)), interval_parameters(max(staged)))
    t0 = time.perf_counter()
    result = validate(sdf, suite, params)
    took = time.perf_counter() - t0
    if not result.success:
        raise SystemExit(f"the features gate failed on benchmark data:\n{result.summary()}")
    return took


def try_formulations(label: str, formulations: dict, run, stem: Path) -> dict:
    """Run every formulation of a peer (``run(name, out) -> seconds``) ``REPEATS`` times, each
    counting its best run; the fastest is the peer of record, the others are kept. Outputs are
    checked afterwards (:func:`check_outputs`), so no check's memory is held while a peer is timed."""
    tries, runs, outputs = {}, {}, {}
    for formulation in formulations:
        outputs[formulation] = stem.with_name(f"{stem.name}-{formulation}.parquet")
        runs[formulation] = [round(run(formulation, outputs[formulation]), 2) for _ in range(REPEATS)]
        tries[formulation] = min(runs[formulation])
        say(f"{label} ({formulation}): {tries[formulation]:.1f}s (runs: {runs[formulation]})")
    best = min(tries, key=tries.get)
    return {"label": label, "best": best, "s": tries[best], "tries": tries, "runs": runs, "outputs": outputs}


def check_outputs(reference: pd.DataFrame, peer: dict) -> None:
    """Compare each formulation's output with Spark's; adds ``check`` (the fastest's) and ``all_agree``."""
    checks = {}
    for formulation, out in peer.pop("outputs").items():
        checks[formulation] = compare(reference, out)
        worst = max(checks[formulation].get("max_abs_diff", {"-": float("nan")}).values())
        say(
            f"{peer['label']} ({formulation}): outputs agree with Spark: {checks[formulation]['agree']} "
            f"(max abs diff {worst:.1e})"
        )
    peer["check"], peer["all_agree"] = checks[peer["best"]], all(c["agree"] for c in checks.values())


def bench_size(name: str, spark, spec, workdir: Path) -> dict:
    stores, items, days = SIZES[name]
    settings, cfg, land_s = land(workdir / name, stores, items, days)
    rows = cfg.rows_per_day * cfg.days
    say(f"[{name}] landed {rows:,} raw rows in {land_s:.1f}s")
    from spark_jobs.features_job import discard_staging

    spark_runs, staged = [], {}
    for _ in range(REPEATS):
        if spark_runs:  # the run before's output is not needed: every run writes the same rows
            discard_staging(Lake(settings.lake_uri), str(Path(next(iter(staged.values()))).parent))
        staged, took = run_spark(settings, spec, cfg.dates, spark)
        spark_runs.append(round(took, 2))
    spark_s = min(spark_runs)
    say(f"[{name}] Spark feature job: {spark_s:.1f}s (runs: {spark_runs})")
    duck = try_formulations(
        f"[{name}] DuckDB",
        FORMULATIONS,
        lambda f, out: run_duckdb(settings, spec, cfg.dates, out, f),
        workdir / f"{name}-duckdb",
    )
    pandas = try_formulations(
        f"[{name}] pandas",
        PANDAS_FORMULATIONS,
        lambda f, out: run_pandas(settings, spec, cfg.dates, out, f),
        workdir / f"{name}-pandas",
    )
    reference = spark_frame(staged)  # read once, after the timings
    for peer in (duck, pandas):
        check_outputs(reference, peer)
    del reference
    duck_s, check, pandas_s, pandas_check = duck["s"], duck["check"], pandas["s"], pandas["check"]
    gate_s = gate_seconds(settings, spec, staged, spark)
    say(f"[{name}] features gate on the Spark DataFrame: {gate_s:.1f}s")
    return {
        "rows": rows,
        "spark_s": round(spark_s, 2),
        "spark_runs": spark_runs,
        "duckdb_s": round(duck_s, 2),
        "duckdb_formulation": duck["best"],
        "duckdb_tries": duck["tries"],
        "duckdb_runs": duck["runs"],
        "duckdb_all_agree": duck["all_agree"],
        "pandas_s": round(pandas_s, 2),
        "pandas_formulation": pandas["best"],
        "pandas_tries": pandas["tries"],
        "pandas_runs": pandas["runs"],
        "pandas_all_agree": pandas["all_agree"],
        "spark_over_duckdb": round(spark_s / duck_s, 2),
        "spark_over_pandas": round(spark_s / pandas_s, 2),
        "outputs_agree": check["agree"] and pandas_check["agree"],
        "gate_s": round(gate_s, 2),
        "gate_over_job": round(gate_s / spark_s, 2),
    }


def bench_incremental(spark, spec, workdir: Path) -> dict:
    settings, cfg, _ = land(workdir / "year", 10, 20, 365)
    from spark_jobs.features_job import stage_features

    t0 = time.perf_counter()
    stage_features(settings, spec, cfg.dates, spark=spark)
    full = time.perf_counter() - t0
    t0 = time.perf_counter()
    stage_features(settings, spec, cfg.dates[-1:], spark=spark)
    one = time.perf_counter() - t0
    say(
        f"[year] full recompute of {len(cfg.dates)} days ({cfg.rows_per_day * cfg.days:,} rows): {full:.1f}s; "
        f"one day: {one:.1f}s"
    )
    return {
        "rows": cfg.rows_per_day * cfg.days,
        "full_recompute_s": round(full, 2),
        "one_day_s": round(one, 2),
        "full_over_one_day": round(full / one, 2),
    }


def bench_exit(workdir: Path) -> dict:
    """Wall time of the job as a process vs the job's own time: start-up and shut-down cost."""
    home = workdir / "1M"
    days = sorted(Lake(load_settings(home=home).lake_uri).partitions("raw", "demand"))[-1:]
    env = {**os.environ, "CONVEYOR_HOME": str(home)}
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "spark_jobs.features_job", "demand", days[0].isoformat(), "--timing"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - t0
    timing = json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])
    exit_lag = wall - timing["session_start_s"] - timing["job_s"] - timing["import_s"]
    say(
        f"[process] imports {timing['import_s']:.1f}s, session start {timing['session_start_s']:.1f}s, "
        f"job {timing['job_s']:.1f}s, exit after job {exit_lag:.1f}s (wall {wall:.1f}s)"
    )
    return {**timing, "wall_s": round(wall, 2), "exit_after_job_s": round(exit_lag, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results-features.json"))
    parser.add_argument("--skip-incremental", action="store_true")
    args = parser.parse_args()

    from spark_jobs.session import spark_session

    spec = load_spec("demand", load_settings().specs_dir)
    results: dict = {"machine": f"{os.cpu_count()} cores", "date": date.today().isoformat()}
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-") as tmp:
        workdir = Path(tmp)
        t0 = time.perf_counter()
        spark = spark_session(load_settings(home=workdir, spark_driver_memory="6g"), "bench-features")
        results["spark_session_start_s"] = round(time.perf_counter() - t0, 2)
        say(f"Spark session start: {results['spark_session_start_s']}s (reported apart from job times)")
        for name in args.sizes:
            results[name] = bench_size(name, spark, spec, workdir)
        if not args.skip_incremental:
            results["incremental"] = bench_incremental(spark, spec, workdir)
        spark.stop()
        if "1M" in args.sizes:
            results["process"] = bench_exit(workdir)
    Path(args.out).write_text(json.dumps(results, indent=2))
    say(
        "\n| size | rows | Spark s | DuckDB s | pandas s | Spark/DuckDB | Spark/pandas | outputs agree | gate s "
        "| gate/job |"
    )
    say("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.sizes:
        r = results[name]
        say(
            f"| {name} | {r['rows']:,} | {r['spark_s']} | {r['duckdb_s']} | {r['pandas_s']} | "
            f"{r['spark_over_duckdb']}x | "
            f"{r['spark_over_pandas']}x | {r['outputs_agree']} | {r['gate_s']} | {r['gate_over_job']} |"
        )
    inc = results.get("incremental", {"rows": 0, "one_day_s": "-", "full_recompute_s": "-", "full_over_one_day": "-"})
    say(
        f"\nincremental: one day of a {inc['rows']:,}-row year in {inc['one_day_s']}s vs full recompute "
        f"{inc['full_recompute_s']}s ({inc['full_over_one_day']}x)"
    )
    say(f"results written to {args.out}")
    if not all(results[n]["outputs_agree"] for n in args.sizes):
        raise SystemExit("Spark's output disagrees with a peer's (DuckDB or pandas)")


if __name__ == "__main__":
    main()
