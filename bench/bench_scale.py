"""Benchmark: how the nightly and daily stages grow with the number of series (the scale curve).

Run with ``make bench-scale``. For 1x, 4x and 16x the demo's series count (5 x 20, 10 x 40 and
20 x 80 store-item series, hourly, over the days the demand spec's training needs) it lands raw
data and backfills features once (setup, timed apart), then runs each stage as the DAGs run it,
each in a fresh process, measuring wall time and the peak resident memory of the stage's whole
process tree (Python, Spark's JVM, data-loader workers), sampled every 0.1 s:

- daily: ``features`` (one day through both gates and the Spark job), ``score`` (the champion on
  that day), ``drift`` (the monitoring check of the window ending that day);
- nightly: ``plan``, ``train_lightgbm``, ``train_lightning`` (each with its backtest folds, as
  the train DAG runs them), ``register_and_gate``.

It prints one table per stage with time and memory per scale and the growth from 1x to 16x
against the growth in rows (16), and writes ``bench/results-scale.json``. The daily stages run
after the nightly ones, since scoring and the drift check need a champion.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.harness import quiet_environment, say  # noqa: E402

quiet_environment()

SCALES = {"1x": (5, 20), "4x": (10, 40), "16x": (20, 80), "64x": (40, 160)}
DEFAULT_SCALES = ["1x", "4x", "16x"]  # 64x (6,400 series, 5.4M training rows) on request: --scales 64x
STAGES = [
    "land",
    "backfill",
    "plan",
    "train_lightgbm",
    "train_lightning",
    "register_and_gate",
    "features",
    "score",
    "drift",
]
SETUP = {"land", "backfill"}
MEMORY_LIMIT_GB = 24.0


def _spec_and_days(settings):
    from ml_tasks.core.spec import load_spec
    from ml_tasks.demo.seed import yesterday
    from ml_tasks.features.columns import lookback_days

    spec = load_spec("demand", settings.specs_dir)
    days = lookback_days(spec) + spec.training.window_days + spec.training.holdout_days + 2
    last = yesterday()
    return spec, [last - timedelta(days=days - 1 - i) for i in range(days)]


def run_stage(stage: str, stores: int, items: int) -> dict:
    """One stage in this (child) process; returns facts worth printing (rows, versions)."""
    from ml_tasks.core.lake import Lake
    from ml_tasks.core.settings import load_settings

    settings = load_settings()
    spec, days = _spec_and_days(settings)
    lake = Lake.from_settings(settings)
    state = settings.home / "bench-state.json"
    saved = json.loads(state.read_text()) if state.exists() else {}
    out: dict = {}
    if stage == "land":
        from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data

        cfg = DemandDataConfig(stores=stores, items=items, days=len(days), start=days[0])
        land_demand_data(cfg, lake)
        out["raw_rows"] = cfg.rows_per_day * cfg.days
    elif stage in ("backfill", "features"):
        from ml_tasks.data.backfill import backfill_features
        from ml_tasks.features.columns import lookback_days

        todo = days[lookback_days(spec) : -1] if stage == "backfill" else days[-1:]
        report = backfill_features(settings, spec, todo, progress=lambda m: None)
        out["published_days"] = len(report.published)
    elif stage == "plan":
        from ml_tasks.training.plan import plan_training

        saved["plan"] = plan_training(settings, spec, end=days[-2])
        out["train_days"] = len(saved["plan"]["train_dates"])
    elif stage.startswith("train_"):
        from ml_tasks.training.candidate import train_model

        result = train_model(settings, spec, saved["plan"], stage.removeprefix("train_"))
        saved.setdefault("results", []).append(result)
        out["holdout"] = {k: round(v, 4) for k, v in result["metrics"].items() if k in ("mae", "mase")}
    elif stage == "register_and_gate":
        from ml_tasks.registry.promotion import promote_if_better
        from ml_tasks.registry.registration import register_best

        registered = register_best(settings, spec, saved["plan"], saved["results"])
        out["promoted"] = promote_if_better(settings, spec, registered)["promoted"]
    elif stage == "score":
        from ml_tasks.serving.batch import score_partition

        out["rows"] = score_partition(settings, spec, days[-1])["rows"]
    elif stage == "drift":
        from ml_tasks.monitoring.checks import check_drift

        verdict = check_drift(settings, spec, days[-1], progress=lambda m: None)
        out["window_rows"] = verdict["window_rows"]
    state.write_text(json.dumps(saved, default=str))
    return out


def measure(stage: str, home: Path, stores: int, items: int) -> dict:
    """Run ``stage`` in a fresh process; wall time and the peak RSS of its process tree."""
    import psutil

    env = {
        **os.environ,
        "CONVEYOR_HOME": str(home),
        "CONVEYOR_MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "CONVEYOR_SPARK_DRIVER_MEMORY": "4g",
    }
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", stage, "--stores", str(stores), "--items", str(items)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"stage {stage} failed ({proc.returncode}):\n{err[-4000:]}")
    facts = json.loads(next(line for line in reversed(out.splitlines()) if line.startswith("{")))
    return {"seconds": round(wall, 1), "peak_gb": round(peak / 2**30, 2), **facts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", default=DEFAULT_SCALES, choices=list(SCALES))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results-scale.json"))
    parser.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--stores", type=int, default=5, help=argparse.SUPPRESS)
    parser.add_argument("--items", type=int, default=20, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_stage(args.child, args.stores, args.items), default=str), flush=True)
        return 0

    results: dict = {"machine": f"{os.cpu_count()} cores", "series": {}, "stages": {}}
    for scale in args.scales:
        stores, items = SCALES[scale]
        results["series"][scale] = stores * items
        with tempfile.TemporaryDirectory(prefix=f"conveyor-scale-{scale}-") as tmp:
            for stage in STAGES:
                took = measure(stage, Path(tmp), stores, items)
                results["stages"].setdefault(stage, {})[scale] = took
                say(
                    f"[{scale}, {stores * items} series] {stage:<18} {took['seconds']:>7.1f} s  "
                    f"peak {took['peak_gb']:5.2f} GB"
                    f"  {json.dumps({k: v for k, v in took.items() if k not in ('seconds', 'peak_gb')})}"
                )
    scales = args.scales
    say(
        f"\n| stage | {' | '.join(f'{s} s' for s in scales)} | {' | '.join(f'{s} GB' for s in scales)} | "
        f"time {scales[-1]} / {scales[0]} (series x{results['series'][scales[-1]] // results['series'][scales[0]]}) |"
    )
    say("|---|" + "---|" * (2 * len(scales) + 1))
    for stage, by_scale in results["stages"].items():
        growth = by_scale[scales[-1]]["seconds"] / max(by_scale[scales[0]]["seconds"], 0.1)
        results["stages"][stage]["growth"] = round(growth, 2)
        say(
            f"| {stage}{' (setup)' if stage in SETUP else ''} | "
            + " | ".join(f"{by_scale[s]['seconds']}" for s in scales)
            + " | "
            + " | ".join(f"{by_scale[s]['peak_gb']}" for s in scales)
            + f" | {growth:.1f}x |"
        )
    peak = max(v["peak_gb"] for by_scale in results["stages"].values() for k, v in by_scale.items() if k in scales)
    results["peak_gb"], results["within_memory"] = peak, peak < MEMORY_LIMIT_GB
    Path(args.out).write_text(json.dumps(results, indent=1))
    say(f"\nlargest peak {peak} GB (limit {MEMORY_LIMIT_GB:g} GB); results in {args.out}")
    return 0 if results["within_memory"] else 1


if __name__ == "__main__":
    sys.exit(main())
