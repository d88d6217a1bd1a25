"""Benchmark: `conveyor serve` against `mlflow models serve` on the same model, rows and load.

Run with ``make bench-serving``. It builds a small lake and registry (demo data, features, one
LightGBM champion and a second version), then, with one load generator for everything
(``bench/loadgen.py``: asyncio + aiohttp in its own process, on 127.0.0.1) and 8-row requests:

- the floor: the model's own ``predict_rows`` on the same rows in process (and its pandas
  ``predict`` through MLflow's pyfunc, for scale);
- the peer: ``mlflow models serve`` of the same version (``--env-manager local``), once per
  worker count tried (1, 2, 4 and 8); the fastest is the peer of record, measured again as
  Conveyor is (throughput, then latency at the rate while warm; its better throughput run
  counts), the others stay in the JSON;
- Conveyor: ``conveyor serve demand``: throughput at saturation (closed loop, 4 clients) with
  `@champion` moved to the second version half-way (zero failed requests, both versions seen),
  latency at a fixed 100 requests/s (open loop: latency counts from each request's scheduled
  start), and the same two with key-only rows (keys and hour; features from the lake).

Results go to ``bench/results-serving.json``. Targets: at least 3x the peer's throughput, p99 at
most 15 ms at 100 requests/s, no failed request.
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
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.harness import free_port, quiet_environment, say  # noqa: E402

quiet_environment()

TARGET_RATIO = 3.0
TARGET_P99_MS = 15.0
RATE = 100.0


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
    day = lake.read_partition("features", "demand", cfg.dates[-1]).iloc[::37].head(8)
    rows = json.loads(day.drop(columns=["ts", "units"]).to_json(orient="records"))
    keys = [{"store_id": r.store_id, "item_id": r.item_id, "ts": r.ts.isoformat()} for r in day.itertuples()]
    return settings, spec, first, second, rows, keys


def floor(settings, rows: list[dict], seconds: float = 5.0) -> dict:
    """The model's own predict on the same rows, in process, one thread: the service minus HTTP."""
    from ml_tasks.serving.holder import load_champion
    from ml_tasks.serving.online import _frame

    served = load_champion(settings, "demand")
    frame = _frame(rows, served.fields)  # typed to the signature, as the pandas path of the service does

    def timed(call) -> dict:
        call()
        took, stop_at = [], time.monotonic() + seconds
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            call()
            took.append(time.perf_counter() - t0)
        lat = np.array(took) * 1000
        return {
            "calls_per_s": round(len(took) / seconds, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 3),
            "p99_ms": round(float(np.percentile(lat, 99)), 3),
        }

    return {
        "predict_rows": timed(lambda: served.predict_rows(rows)),
        "pyfunc_predict_pandas": timed(lambda: served.model.predict(frame)),
    }


def load(url: str, body: dict, mode: str, seconds: float, body_dir: Path, concurrency: int = 4) -> subprocess.Popen:
    path = body_dir / f"body-{abs(hash(json.dumps(body)))}.json"
    path.write_text(json.dumps(body))
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "loadgen.py"),
            "--url",
            url,
            "--body-file",
            str(path),
            "--mode",
            mode,
            "--seconds",
            str(seconds),
            "--concurrency",
            str(concurrency),
            "--rate",
            str(RATE),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def result_of(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate(timeout=600)
    return json.loads(out.strip().splitlines()[-1])


def measure(url: str, body: dict, seconds: float, body_dir: Path) -> dict:
    closed = result_of(load(url, body, "closed", seconds, body_dir))
    opened = result_of(load(url, body, "open", seconds, body_dir))
    return {"closed": closed, "open_100rps": opened}


class Server:
    def __init__(self, command: list[str], env: dict, health: str, log: Path):
        self.health, self.log_path, self.log = health, log, open(log, "ab")
        self.proc = subprocess.Popen(
            command, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def __enter__(self):
        from ml_tasks.core.polling import wait_until

        try:
            wait_until(
                lambda: requests.get(self.health, timeout=2).status_code == 200,
                180,
                f"{self.health} to answer",
                every=0.5,
                transient=(requests.RequestException,),
                give_up=lambda: None if self.proc.poll() is None else f"it exited ({self.proc.returncode})",
            )
        except Exception as exc:
            self.log.flush()
            raise RuntimeError(f"{exc}; its log ends:\n{self.log_path.read_text()[-3000:]}") from None
        return self

    def __exit__(self, *exc):
        os.killpg(self.proc.pid, 15)
        self.proc.wait(timeout=60)
        self.log.close()


def mlflow_peer(
    settings, version: str, rows: list[dict], workers: int, seconds: float, tmp: Path, latency: bool
) -> dict:
    """``mlflow models serve`` with ``workers``: its throughput (closed loop), and with ``latency``
    then its latency at the rate (open loop), warm from the closed run, as Conveyor's is measured."""
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,  # it execs `uvicorn` from PATH
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "models",
        "serve",
        "-m",
        f"models:/demand/{version}",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        str(workers),
    ]
    with Server(command, env, f"http://127.0.0.1:{port}/ping", tmp / f"mlflow-serve-{workers}.log"):
        url, body = f"http://127.0.0.1:{port}/invocations", {"dataframe_records": rows}
        if latency:
            return {"workers": workers, **measure(url, body, seconds, tmp)}
        return {"workers": workers, "closed": result_of(load(url, body, "closed", seconds, tmp))}


def conveyor(settings, spec, second, rows, keys, seconds: float, tmp: Path) -> dict:
    from ml_tasks.registry.promotion import promote_if_better

    port = free_port()
    env = {
        **os.environ,
        "CONVEYOR_HOME": str(settings.home),
        "CONVEYOR_MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
    }
    command = [
        sys.executable,
        "-m",
        "ml_tasks.platform.cli.app",
        "serve",
        "demand",
        "--port",
        str(port),
        "--refresh-seconds",
        "1",
    ]
    url = f"http://127.0.0.1:{port}"
    with Server(command, env, f"{url}/health", tmp / "conveyor-serve.log"):
        steady = measure(f"{url}/predict", {"rows": rows}, seconds, tmp)
        by_keys = measure(f"{url}/predict", {"rows": keys}, seconds, tmp)
        swapping = load(f"{url}/predict", {"rows": rows}, "closed", seconds, tmp)
        time.sleep(seconds / 2)
        promote_if_better(settings, spec, second, {"trigger": "bench"}, force=True)
        say(f"  promoted v{second['version']} half-way through the swap run")
        swap = result_of(swapping)
    return {**steady, "key_only": by_keys, "closed_across_champion_change": swap}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results-serving.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-serve-") as tmp:
        home = Path(tmp)
        say("building a lake and a registry with a champion and a second version ...")
        settings, spec, first, second, rows, keys = build_registry(home)
        native = floor(settings, rows)
        say(
            f"floor: predict_rows on {len(rows)} rows in process: p50 {native['predict_rows']['p50_ms']} ms "
            f"({native['predict_rows']['calls_per_s']} calls/s); pyfunc predict on a DataFrame: "
            f"p50 {native['pyfunc_predict_pandas']['p50_ms']} ms"
        )
        peers = []  # throughput with each worker count; the fastest is then measured as Conveyor is
        for workers in (1, 2, 4, 8):
            peers.append(mlflow_peer(settings, first["version"], rows, workers, args.seconds, home, latency=False))
            say(f"peer: mlflow models serve, {workers} worker(s): {peers[-1]['closed']['rps']} requests/s")
        fastest = max(peers, key=lambda p: p["closed"]["rps"])
        peer = mlflow_peer(settings, first["version"], rows, fastest["workers"], args.seconds, home, latency=True)
        if fastest["closed"]["rps"] > peer["closed"]["rps"]:
            peer["closed"] = fastest["closed"]  # its better throughput run of the two is the peer's
        say(
            f"peer of record: {peer['workers']} worker(s), {peer['closed']['rps']} requests/s, "
            f"p99 at {RATE:.0f}/s {peer['open_100rps']['p99_ms']} ms"
        )
        ours = conveyor(settings, spec, second, rows, keys, args.seconds, home)
    swap = ours["closed_across_champion_change"]
    failed = sum(
        r["failed"]
        for r in (
            ours["closed"],
            ours["open_100rps"],
            ours["key_only"]["closed"],
            ours["key_only"]["open_100rps"],
            swap,
        )
    )
    result = {
        "date": date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores",
        "rows_per_request": len(rows),
        "concurrency": 4,
        "rate": RATE,
        "seconds": args.seconds,
        "floor": native,
        "conveyor": ours,
        "peer_mlflow_models_serve": peer,
        "peer_tries": peers,
        "throughput_ratio": round(ours["closed"]["rps"] / peer["closed"]["rps"], 2),
        "key_only_throughput_ratio": round(ours["key_only"]["closed"]["rps"] / peer["closed"]["rps"], 2),
        "p99_ms_at_rate": ours["open_100rps"]["p99_ms"],
        "key_only_p99_ms_at_rate": ours["key_only"]["open_100rps"]["p99_ms"],
        "failed_requests": failed,
        "versions_across_change": swap["answered_by_version"],
    }
    result["targets_met"] = (
        result["throughput_ratio"] >= TARGET_RATIO
        and result["p99_ms_at_rate"] <= TARGET_P99_MS
        and failed == 0
        and len(swap["answered_by_version"]) >= 2
    )
    Path(args.out).write_text(json.dumps(result, indent=1))
    say(
        f"conveyor serve: {ours['closed']['rps']} requests/s ({result['throughput_ratio']}x mlflow models serve with "
        f"{peer['workers']} worker(s), {peer['closed']['rps']}/s; target >= {TARGET_RATIO:g}x), p99 at {RATE:.0f}/s "
        f"{result['p99_ms_at_rate']} ms (peer {peer['open_100rps']['p99_ms']} ms; target <= {TARGET_P99_MS:g} ms)"
    )
    say(
        f"key-only rows: {ours['key_only']['closed']['rps']} requests/s, p99 at {RATE:.0f}/s "
        f"{result['key_only_p99_ms_at_rate']} ms"
    )
    say(
        f"across the champion change: {swap['rps']} requests/s, {swap['failed']} failed, "
        f"answered by {swap['answered_by_version']}; failed requests in all runs: {failed}"
    )
    return 0 if result["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
