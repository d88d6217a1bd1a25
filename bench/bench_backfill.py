"""Benchmark: `conveyor backfill-features` end to end, one validation pass vs the per-day loop.

Run with ``make bench-backfill``. Two cases, each landed once and copied, so both ways gate the
same bytes:

- **two years of one hourly series** (730 days, about 17,300 rows after the messy generator drops
  1% of the hours and one day in 150: real-export shape, with null bursts in an unused column,
  unsorted and repeated rows);
- **a year of the demand demo** (5 stores x 20 items, 365 days, 876,000 rows).

For each it runs the real command in a fresh process, as a user does, and times it from start
to exit (Python and Spark start-up included):

- Conveyor: ``conveyor backfill-features demand`` (raw days in one pass, one Spark job, feature
  days in one pass; per-day checks only for days that fail);
- the peer: the same command with ``--gate-each-day``, which validates every raw and feature day
  on its own, as the daily DAG does (everything else identical: one Spark job for the features).

Both must publish and quarantine the same days. Results go to ``bench/results-backfill.json``.
The target: two years of one hourly series in at most 60 s on 2 cores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml_tasks.core.lake import Lake  # noqa: E402
from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data  # noqa: E402

TARGET_SECONDS = 60.0
LOOKBACK = 8  # the demand spec's look-back days, landed before the backfilled range
CASES = {
    "two_years_one_hourly_series": DemandDataConfig(
        stores=1, items=1, days=730 + LOOKBACK, start=date(2024, 1, 1), messy=True
    ),
    "one_year_demand_demo": DemandDataConfig(stores=5, items=20, days=365 + LOOKBACK, start=date(2025, 1, 1)),
}


def say(msg: str) -> None:
    print(msg, flush=True)


def run_backfill(home: Path, extra: list[str]) -> tuple[float, str]:
    env = {**os.environ, "CONVEYOR_HOME": str(home), "CONVEYOR_LAKE_URI": str(home / "lake")}
    started = time.perf_counter()
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "conveyor"), "backfill-features", "demand", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: some days quarantined, which the comparison checks
        raise SystemExit(f"backfill failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def outcome(home: Path) -> dict:
    lake = Lake(str(home / "lake"))
    return {
        "published": [d.isoformat() for d in lake.partitions("features", "demand")],
        "quarantined": [d.isoformat() for d in lake.partitions("quarantine", "demand")],
    }


def bench_case(name: str, cfg: DemandDataConfig, scratch: Path) -> dict:
    ours, peer = scratch / name / "one-pass", scratch / name / "per-day"
    landed = land_demand_data(cfg, Lake(str(ours / "lake")))
    shutil.copytree(ours / "lake", peer / "lake")
    rows = sum(len(Lake(str(ours / "lake")).read_partition("raw", "demand", d, columns=["ts"])) for d in landed)
    say(
        f"{name}: {len(landed)} raw days landed ({rows:,} rows); "
        f"backfilling the {len(landed) - LOOKBACK} after the look-back"
    )
    one_pass_s, out = run_backfill(ours, [])
    say(f"  one pass:    {one_pass_s:6.1f} s  ({out.strip().splitlines()[-1] if out.strip() else ''})")
    per_day_s, _ = run_backfill(peer, ["--gate-each-day"])
    say(f"  per-day loop: {per_day_s:6.1f} s")
    a, b = outcome(ours), outcome(peer)
    return {
        "days": len(landed) - LOOKBACK,
        "raw_rows": rows,
        "one_pass_s": round(one_pass_s, 2),
        "per_day_s": round(per_day_s, 2),
        "ratio": round(one_pass_s / per_day_s, 3),
        "published": len(a["published"]),
        "quarantined": len(a["quarantined"]),
        "same_outcome": a == b,
    }


def main() -> None:
    results: dict = {"machine": f"{os.cpu_count()} cores", "target_s": TARGET_SECONDS}
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-backfill-") as tmp:
        for name, cfg in CASES.items():
            results[name] = bench_case(name, cfg, Path(tmp))
    two_years = results["two_years_one_hourly_series"]
    results["meets_target"] = two_years["one_pass_s"] <= TARGET_SECONDS
    (ROOT / "bench" / "results-backfill.json").write_text(json.dumps(results, indent=1) + "\n")
    for name in CASES:
        r = results[name]
        say(
            f"{name}: {r['one_pass_s']} s vs per-day loop {r['per_day_s']} s (ratio {r['ratio']}); "
            f"{r['published']} published, {r['quarantined']} quarantined; same outcome: {r['same_outcome']}"
        )
    say(
        f"two years of one hourly series in {two_years['one_pass_s']} s: "
        f"{'within' if results['meets_target'] else 'OVER'} the {TARGET_SECONDS:.0f} s target"
    )
    if not all(results[n]["same_outcome"] for n in CASES):
        raise SystemExit("the one-pass and per-day backfills disagree on which days to publish")


if __name__ == "__main__":
    main()
