"""Online serving of ``models:/<pipeline>@champion`` over REST (FastAPI).

- ``POST /predict`` with ``{"rows": [{feature: value, ...}, ...]}`` returns one prediction per
  row and the model version that made them. Rows are checked against the model's signature
  first: a missing or mistyped field is a 422 that names the row and the field.
- ``GET /health`` says which version serves (503 until one is loaded); ``GET /metrics`` is
  Prometheus text from ``prometheus_client`` (requests, errors by status, predicted rows,
  latency histogram, model swaps, serving version).
- With a token configured, every call but ``/health`` needs ``Authorization: Bearer <token>``.
- The champion is held by a :class:`~ml_tasks.serving.holder.ChampionHolder` that watches the
  alias and swaps a new champion in without dropping a request.
"""

from __future__ import annotations

import hmac
import math
import time
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.serving.holder import ChampionHolder

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
NUMERIC_TYPES = {"double", "float", "long", "integer"}


class ServingMetrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self, pipeline: str):
        self.registry = CollectorRegistry()
        labels, reg = {"pipeline": pipeline}, self.registry
        self.requests = Counter("conveyor_requests", "Prediction requests", ["pipeline"], registry=reg).labels(**labels)
        self.rows = Counter("conveyor_predicted_rows", "Rows predicted", ["pipeline"], registry=reg).labels(**labels)
        self._errors = Counter("conveyor_request_errors", "Prediction requests answered with an error",
                               ["pipeline", "status"], registry=reg)
        self.swaps = Counter("conveyor_model_swaps", "Champion swaps while serving", ["pipeline"],
                             registry=reg).labels(**labels)
        self.latency = Histogram("conveyor_request_seconds", "Prediction request latency", ["pipeline"],
                                 buckets=BUCKETS, registry=reg).labels(**labels)
        self.version = Gauge("conveyor_serving_version", "Model version being served (0: none)", ["pipeline"],
                             registry=reg).labels(**labels)
        self.pipeline = pipeline

    def observe(self, seconds: float, rows: int, status: int) -> None:
        self.requests.inc()
        self.rows.inc(rows)
        self.latency.observe(seconds)
        if status >= 400:
            self._errors.labels(pipeline=self.pipeline, status=str(status)).inc()

    def render(self, version: str | None) -> bytes:
        self.version.set(float(version or 0))
        return generate_latest(self.registry)


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
    """The serving app; ``app.state.refresh()`` checks the alias now, ``app.state.stop.set()`` ends the watch."""
    metrics = ServingMetrics(pipeline)
    holder = ChampionHolder(settings, pipeline, on_swap=lambda _: metrics.swaps.inc())
    holder.refresh()
    holder.watch(refresh_seconds)
    app = FastAPI(title=f"Conveyor serving: {pipeline}", version="1")
    app.state.stop = holder.stop
    app.state.refresh = holder.refresh
    app.state.holder = holder
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
        served = holder.served
        if served is None:
            return JSONResponse({"status": "no champion", "pipeline": pipeline}, status_code=503)
        return {"status": "ok", "pipeline": pipeline, "version": served.version}

    @app.get("/metrics")
    def prometheus():
        served = holder.served
        return Response(metrics.render(served.version if served else None), media_type=CONTENT_TYPE_LATEST)

    @app.post("/predict")
    async def predict(request: Request):
        served = holder.served  # this request uses this model to the end, even if swapped meanwhile
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
