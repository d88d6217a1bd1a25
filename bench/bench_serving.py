"""Load test of the online service on loopback, with a champion change in the middle.

Run with ``make bench-serving``. It builds a small lake and registry (demo data, features, one
LightGBM champion), starts ``conveyor serve demand`` on 127.0.0.1, sends requests from several
threads for ``--seconds`` (60 by default), promotes a second version halfway through, and
reports p50/p99 latency, requests per second, failed requests and the versions that answered.
Results go to ``bench/results-serving.json``. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def say(msg: str) -> None:
    print(msg, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_registry(home: Path):
    from ml_tasks.core.lake import Lake
    from ml_tasks.core.settings import load_settings
    from ml_tasks.core.spec import load_spec
    from ml_tasks.data.backfill import backfill_features
    from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data
    from ml_tasks.features.columns import lookback_days
    from ml_tasks.registry.promotion import promote_if_better
    from ml_tasks.registry.registration import train_challenger

    settings = load_settings(home=home, mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    spec = load_spec("demand", settings.specs_dir)
    training = spec.training.model_copy(update={"models": ["lightgbm"], "backtest_folds": 0})
    spec = spec.model_copy(update={"training": training})
    cfg = DemandDataConfig(stores=3, items=10, days=lookback_days(spec) + 14, start=date(2026, 3, 2))
    lake = Lake(settings.lake_uri)
    land_demand_data(cfg, lake)
    backfill_features(settings, spec, cfg.dates[-14:], progress=lambda m: None)
    first = train_challenger(settings, spec)
    promote_if_better(settings, spec, first)
    second = train_challenger(settings, spec.model_copy(update={"training": training.model_copy(update={"seed": 9})}))
    rows = json.loads(lake.read_partition("features", "demand", cfg.dates[-1]).head(8)
                      .drop(columns=["ts", "units"]).to_json(orient="records"))
    return settings, spec, first, second, rows


def in_process_peer(settings, rows: list[dict], seconds: float = 10.0) -> dict:
    """The floor under the service: the champion's predict on the same rows, typed as the service
    types them (its own loader and conversion), in process: the service minus HTTP and threads."""
    from ml_tasks.serving.holder import load_champion
    from ml_tasks.serving.online import _frame

    served = load_champion(settings, "demand")
    model, frame = served.model, _frame(rows, served.fields)
    model.predict(frame)  # warm up
    took: list[float] = []
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        t0 = time.perf_counter()
        model.predict(frame)
        took.append(time.perf_counter() - t0)
    lat = np.array(took) * 1000
    return {"calls": len(took), "calls_per_s": round(len(took) / seconds, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 3), "p99_ms": round(float(np.percentile(lat, 99)), 3)}


def main() -> None:
    from ml_tasks.core.polling import wait_until

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results-serving.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-serve-") as tmp:
        home = Path(tmp)
        say("building a lake and a registry with a champion and a second version ...")
        settings, spec, first, second, rows = build_registry(home)
        peer = in_process_peer(settings, rows)
        say(f"peer: the champion's predict in process on the same {len(rows)} rows: p50 {peer['p50_ms']} ms, "
            f"{peer['calls_per_s']} calls/s on one thread")
        port = free_port()
        env = {**os.environ, "CONVEYOR_HOME": str(home), "CONVEYOR_MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri}
        server = subprocess.Popen([sys.executable, "-m", "ml_tasks.platform.cli", "serve", "demand", "--port", str(port),
                                   "--refresh-seconds", "1"], env=env, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: requests.get(f"{url}/health", timeout=2).status_code == 200, 120,
                       f"the server at {url} to serve a champion", every=0.5, transient=(requests.RequestException,))
            say(f"serving v{first['version']} at {url}; load for {args.seconds:.0f}s from {args.threads} threads")
            latencies: list[float] = []
            failures: list[str] = []
            versions: dict[str, int] = {}
            lock = threading.Lock()
            stop_at = time.monotonic() + args.seconds

            def worker():
                session = requests.Session()
                while time.monotonic() < stop_at:
                    t0 = time.perf_counter()
                    try:
                        r = session.post(f"{url}/predict", json={"rows": rows}, timeout=10)
                        ok = r.status_code == 200
                        version = r.json().get("model_version") if ok else None
                    except requests.RequestException as exc:
                        ok, version, r = False, None, exc
                    took = time.perf_counter() - t0
                    with lock:
                        if ok:
                            latencies.append(took)
                            versions[version] = versions.get(version, 0) + 1
                        else:
                            failures.append(str(getattr(r, "status_code", r)))

            threads = [threading.Thread(target=worker) for _ in range(args.threads)]
            start = time.monotonic()
            for t in threads:
                t.start()
            time.sleep(args.seconds / 2)
            from ml_tasks.registry.promotion import promote_if_better

            promote_if_better(settings, spec, second, {"trigger": "bench"}, force=True)
            say(f"promoted v{second['version']} at {time.monotonic() - start:.0f}s")
            for t in threads:
                t.join()
            elapsed = time.monotonic() - start
        finally:
            server.terminate()
            server.wait(timeout=30)
    lat = np.array(latencies) * 1000
    result = {
        "date": date.today().isoformat(), "machine": f"{os.cpu_count()} cores", "seconds": round(elapsed, 1),
        "threads": args.threads, "rows_per_request": len(rows), "requests": len(latencies) + len(failures),
        "failed_requests": len(failures), "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 2), "p99_ms": round(float(np.percentile(lat, 99)), 2),
        "answered_by_version": versions,
        "peer_in_process": peer,
        "p50_over_in_process_p50": round(float(np.percentile(lat, 50)) / peer["p50_ms"], 2),
        "rps_over_in_process_calls_per_s": round(len(latencies) / elapsed / peer["calls_per_s"], 2),
    }
    Path(args.out).write_text(json.dumps(result, indent=2))
    say(json.dumps(result, indent=2))
    if failures or len(versions) < 2:
        raise SystemExit(f"{len(failures)} failed requests; versions seen {versions}")


if __name__ == "__main__":
    main()
