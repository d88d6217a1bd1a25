"""Online serving of ``models:/<pipeline>@champion`` over REST (FastAPI).

- ``POST /predict`` with ``{"rows": [{feature: value, ...}, ...]}`` returns one prediction per
  row and the model version that made them. Rows are checked against the model's signature
  first: a missing or mistyped field is a 422 that names the row and the field.
- ``GET /health`` says which version serves (503 until one is loaded); ``GET /metrics`` is
  Prometheus text (requests, errors, latency histogram, serving version).
- With a token configured, every call but ``/health`` needs ``Authorization: Bearer <token>``.
- A background thread watches the alias; a new champion is loaded beside the old one and swapped
  in with one reference assignment, so requests in flight finish on the model they started
  with and none is dropped.
"""

from __future__ import annotations

import hmac

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from ml_tasks import registry
from ml_tasks.settings import ConveyorSettings

log = logging.getLogger(__name__)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
NUMERIC_TYPES = {"double", "float", "long", "integer"}


@dataclass
class Served:
    version: str
    model: Any
    fields: dict[str, str]  # input column -> MLflow type name


@dataclass
class Metrics:
    requests: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    rows: int = 0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    latency_sum: float = 0.0
    swaps: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, seconds: float, rows: int, status: int) -> None:
        with self.lock:
            self.requests += 1
            self.rows += rows
            if status >= 400:
                self.errors[status] = self.errors.get(status, 0) + 1
            self.latency_sum += seconds
            i = next((k for k, b in enumerate(BUCKETS) if seconds <= b), len(BUCKETS))
            self.latency_buckets[i] += 1

    def render(self, pipeline: str, version: str | None) -> str:
        with self.lock:
            lines = [
                "# TYPE conveyor_requests_total counter", f'conveyor_requests_total{{pipeline="{pipeline}"}} {self.requests}',
                "# TYPE conveyor_predicted_rows_total counter", f'conveyor_predicted_rows_total{{pipeline="{pipeline}"}} {self.rows}',
                "# TYPE conveyor_request_errors_total counter",
                *[f'conveyor_request_errors_total{{pipeline="{pipeline}",status="{s}"}} {n}' for s, n in sorted(self.errors.items())],
                "# TYPE conveyor_model_swaps_total counter", f'conveyor_model_swaps_total{{pipeline="{pipeline}"}} {self.swaps}',
                "# TYPE conveyor_request_seconds histogram",
            ]
            cumulative = 0
            for bound, count in zip([*map(str, BUCKETS), "+Inf"], self.latency_buckets):
                cumulative += count
                lines.append(f'conveyor_request_seconds_bucket{{pipeline="{pipeline}",le="{bound}"}} {cumulative}')
            lines += [f'conveyor_request_seconds_sum{{pipeline="{pipeline}"}} {self.latency_sum}',
                      f'conveyor_request_seconds_count{{pipeline="{pipeline}"}} {self.requests}',
                      "# TYPE conveyor_serving_version gauge",
                      f'conveyor_serving_version{{pipeline="{pipeline}"}} {version or 0}']
        return "\n".join(lines) + "\n"


def load_champion(settings: ConveyorSettings, pipeline: str) -> Served | None:
    import mlflow

    client = registry.connect(settings)
    version = registry.version_by_alias(client, pipeline, registry.CHAMPION)
    if version is None:
        return None
    model = mlflow.pyfunc.load_model(f"models:/{registry.model_name(pipeline)}/{version.version}")
    schema = model.metadata.get_input_schema()
    fields = {c.name: str(c.type).split(".")[-1].lower() for c in schema.inputs} if schema else {}
    return Served(version=str(version.version), model=model, fields=fields)


def validate_rows(rows: Any, fields: dict[str, str]) -> list[str]:
    """Problems with the request body, each naming the row and field; empty when it is fine."""
    if not isinstance(rows, list) or not rows:
        return ["rows: expected a non-empty list of objects"]
    problems = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            problems.append(f"rows[{i}]: expected an object, got {type(row).__name__}")
            continue
        for name, kind in fields.items():
            if name not in row:
                problems.append(f"rows[{i}].{name}: field required ({kind})")
                continue
            value = row[name]
            if value is None:
                continue  # missing values are allowed where the model handles NaN
            if kind in NUMERIC_TYPES and (isinstance(value, bool) or not isinstance(value, (int, float))):
                problems.append(f"rows[{i}].{name}: expected a number ({kind}), got {value!r}")
            elif kind == "string" and not isinstance(value, str):
                problems.append(f"rows[{i}].{name}: expected a string, got {value!r}")
            elif kind in NUMERIC_TYPES and isinstance(value, float) and math.isinf(value):
                problems.append(f"rows[{i}].{name}: infinite values are not allowed")
        if len(problems) >= 20:
            break
    return problems


def _frame(rows: list[dict], fields: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for name, kind in fields.items():
        if kind == "string":
            frame[name] = frame[name].astype("string").astype(object)
        elif kind in ("long", "integer"):
            whole = "int32" if kind == "integer" else "int64"
            frame[name] = pd.to_numeric(frame[name]).astype("float64" if frame[name].isna().any() else whole)
        elif kind in ("double", "float"):
            frame[name] = pd.to_numeric(frame[name]).astype("float64")
    return frame


def create_app(settings: ConveyorSettings, pipeline: str, token: str | None = None, refresh_seconds: float = 5.0):
    state: dict[str, Any] = {"served": None}
    metrics = Metrics()
    stop = threading.Event()

    def refresh() -> None:
        try:
            client = registry.connect(settings)
            current = registry.version_by_alias(client, pipeline, registry.CHAMPION)
            served = state["served"]
            if current is not None and (served is None or str(current.version) != served.version):
                fresh = load_champion(settings, pipeline)  # loaded beside the serving one
                state["served"] = fresh  # one assignment: requests in flight keep their model
                metrics.swaps += served is not None
                log.info("now serving %s v%s", pipeline, fresh.version if fresh else None)
        except Exception:  # the registry being away must not take serving down
            log.exception("could not refresh the champion of %s", pipeline)

    def watch() -> None:
        while not stop.wait(refresh_seconds):
            refresh()

    app = FastAPI(title=f"Conveyor serving: {pipeline}", version="1")
    refresh()
    threading.Thread(target=watch, daemon=True, name="champion-watch").start()
    app.state.stop = stop
    app.state.refresh = refresh

    @app.middleware("http")
    async def guard(request: Request, call_next):
        start = time.perf_counter()
        if token and request.url.path != "/health" and not hmac.compare_digest(
                request.headers.get("authorization", "").encode(), f"Bearer {token}".encode()):
            response = JSONResponse({"detail": "missing or wrong bearer token"}, status_code=401)
        else:
            response = await call_next(request)
        if request.url.path == "/predict":
            metrics.observe(time.perf_counter() - start, int(response.headers.get("x-rows", 0)), response.status_code)
        return response

    @app.get("/health")
    def health():
        served = state["served"]
        if served is None:
            return JSONResponse({"status": "no champion", "pipeline": pipeline}, status_code=503)
        return {"status": "ok", "pipeline": pipeline, "version": served.version}

    @app.get("/metrics")
    def prometheus():
        served = state["served"]
        return PlainTextResponse(metrics.render(pipeline, served.version if served else None))

    @app.post("/predict")
    async def predict(request: Request):
        served = state["served"]  # this request uses this model to the end, even if swapped meanwhile
        if served is None:
            return JSONResponse({"detail": f"{pipeline} has no @champion yet"}, status_code=503)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"detail": "body is not valid JSON"}, status_code=422)
        rows = body.get("rows") if isinstance(body, dict) else None
        problems = validate_rows(rows, served.fields)
        if problems:
            return JSONResponse({"detail": problems}, status_code=422)
        prediction = np.asarray(served.model.predict(_frame(rows, served.fields)), dtype=float)
        return JSONResponse({"model_version": served.version, "predictions": prediction.round(6).tolist()},
                            headers={"x-rows": str(len(rows))})

    return app
