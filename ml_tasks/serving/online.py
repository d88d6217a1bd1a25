"""Online serving of ``models:/<pipeline>@champion`` over REST (FastAPI).

- ``POST /predict`` with ``{"rows": [{feature: value, ...}, ...]}`` returns one prediction per
  row and the model version that made them. Rows are checked against the model's signature
  first: a missing or mistyped field is a 422 that names the row and the field. A row may instead
  give only the series' keys and the hour (``{"store_id": "s1", "item_id": "i3", "ts": "..."}``):
  its features come from the latest published partitions
  (:class:`~ml_tasks.serving.online_features.OnlineFeatures`, reloaded when a day is published);
  a series or hour with no published row is a 422 naming it.
- The request path is built for a few rows at a time: the body is decoded and the answer encoded
  by ``msgspec``, and a model with ``predict_rows`` (both shipped families) predicts on arrays
  built from the rows, without pandas or MLflow's per-call schema handling; other models go
  through their pyfunc ``predict``.
- ``GET /health`` says which version serves (503 until one is loaded); ``GET /metrics`` is
  Prometheus text from ``prometheus_client`` (requests, errors by status, predicted rows,
  latency histogram, model swaps, serving version).
- With a token configured, every call but ``/health`` needs ``Authorization: Bearer <token>``,
  checked before the body is read. A ``/predict`` body must be ``application/json`` (415), at most
  ``serving_max_body_bytes`` (413, refused from its Content-Length before it is read, or as soon
  as a chunked body passes the limit) with at most ``serving_max_rows`` rows (413). Predictions run
  on a worker thread, so a large batch never stalls ``/health``.
- The champion is held by a :class:`~ml_tasks.serving.holder.ChampionHolder` that watches the
  alias and swaps a new champion in without dropping a request. A new champion that fails to load
  leaves the old one serving: ``/health`` says "degraded" and names both, the metric
  ``conveyor_model_reload_failures_total`` counts, an alert goes out, and the load backs off.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from typing import Any

import msgspec
import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.concurrency import run_in_threadpool

from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.serving.holder import ChampionHolder
from ml_tasks.serving.online_features import OnlineFeatures

log = logging.getLogger(__name__)

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
NUMERIC_TYPES = {"double", "float", "long", "integer"}


class ServingMetrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self, pipeline: str):
        self.registry = CollectorRegistry()
        labels, reg = {"pipeline": pipeline}, self.registry
        self.requests = Counter("conveyor_requests", "Prediction requests", ["pipeline"], registry=reg).labels(**labels)
        self.rows = Counter("conveyor_predicted_rows", "Rows predicted", ["pipeline"], registry=reg).labels(**labels)
        self._errors = Counter(
            "conveyor_request_errors",
            "Prediction requests answered with an error",
            ["pipeline", "status"],
            registry=reg,
        )
        self.swaps = Counter("conveyor_model_swaps", "Champion swaps while serving", ["pipeline"], registry=reg).labels(
            **labels
        )
        self.reload_failures = Counter(
            "conveyor_model_reload_failures", "New champions that failed to load", ["pipeline"], registry=reg
        ).labels(**labels)
        self.latency = Histogram(
            "conveyor_request_seconds", "Prediction request latency", ["pipeline"], buckets=BUCKETS, registry=reg
        ).labels(**labels)
        self.version = Gauge(
            "conveyor_serving_version", "Model version being served (0: none)", ["pipeline"], registry=reg
        ).labels(**labels)
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


def _online_features(settings: ConveyorSettings, pipeline: str) -> OnlineFeatures | None:
    """Key-only requests' feature lookup, loaded now; None when this deployment has no spec for the pipeline."""
    from ml_tasks.core.lake import Lake
    from ml_tasks.core.spec import SpecError, load_spec

    try:
        spec = load_spec(pipeline, settings.specs_dir)
    except SpecError as exc:
        log.warning("no online features for %s: %s", pipeline, exc)
        return None
    features = OnlineFeatures(Lake.from_settings(settings), spec)
    features.refresh()
    return features


def _json(obj: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(obj), status_code=status, media_type="application/json")


class TooLarge(Exception):
    """A request body over the limit (its message says which)."""


async def bounded_body(request: Request, limit: int) -> bytes:
    """The request body, read only up to ``limit`` bytes: a declared larger one is refused unread, a
    chunked one as soon as it passes the limit."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise TooLarge(f"request body of {declared} bytes; the limit is {limit:,} bytes (serving_max_body_bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"request body over {limit:,} bytes (serving_max_body_bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _alert_reload_failed(settings: ConveyorSettings, pipeline: str, version: str, error: str) -> None:
    from ml_tasks.core.alerts import Alert, send

    send(
        settings,
        Alert(
            "serving_reload_failed",
            pipeline,
            f"serving could not load @champion v{version}; it keeps serving the version it had: {error[:200]}",
            {"version": version, "error": error[:500]},
        ),
    )


def create_app(settings: ConveyorSettings, pipeline: str, token: str | None = None, refresh_seconds: float = 5.0):
    """The serving app; ``app.state.refresh()`` checks the alias now, ``app.state.stop.set()`` ends the watch."""
    metrics = ServingMetrics(pipeline)

    def reload_failed(version: str, error: str) -> None:
        metrics.reload_failures.inc()
        _alert_reload_failed(settings, pipeline, version, error)

    holder = ChampionHolder(
        settings,
        pipeline,
        on_swap=lambda _: metrics.swaps.inc(),
        on_reload_failed=reload_failed,
        backoff_seconds=refresh_seconds,
    )
    holder.refresh()
    features = _online_features(settings, pipeline)
    holder.watch(refresh_seconds, *([features.refresh] if features else []))
    app = FastAPI(title=f"Conveyor serving: {pipeline}", version="1")
    app.state.stop = holder.stop
    app.state.refresh = holder.refresh
    app.state.holder = holder
    app.state.features = features
    expected = f"Bearer {token}".encode()

    def refused(request: Request) -> Response | None:
        if token and not hmac.compare_digest(request.headers.get("authorization", "").encode(), expected):
            return _json({"detail": "missing or wrong bearer token"}, 401)
        return None

    @app.get("/health")
    def health():
        served, failed = holder.served, holder.reload_error
        problem = (
            (
                f"could not load @champion v{failed['version']} ({failed['failures']} attempt(s) since "
                f"{failed['since']}): {failed['error']}"
            )
            if failed
            else None
        )
        if served is None:
            return JSONResponse(
                {"status": "no champion", "pipeline": pipeline, **({"problem": problem} if problem else {})},
                status_code=503,
            )
        if problem:  # still serving the version it had: say so, and which
            return {"status": "degraded", "pipeline": pipeline, "version": served.version, "problem": problem}
        return {"status": "ok", "pipeline": pipeline, "version": served.version}

    @app.get("/metrics")
    def prometheus(request: Request):
        served = holder.served
        refusal = refused(request)
        return (
            refusal
            if refusal is not None
            else Response(metrics.render(served.version if served else None), media_type=CONTENT_TYPE_LATEST)
        )

    @app.post("/predict")
    async def predict(request: Request):
        start = time.perf_counter()
        response, rows = await checked(request)
        metrics.observe(time.perf_counter() - start, rows, response.status_code)
        return response

    async def checked(request: Request) -> tuple[Response, int]:
        """Who asks first, then what they send (its type, then its size), then the answer off the event loop."""
        refusal = refused(request)
        if refusal is not None:
            return refusal, 0
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return _json({"detail": "send the rows as JSON (Content-Type: application/json)"}, 415), 0
        try:
            body = await bounded_body(request, settings.serving_max_body_bytes)
        except TooLarge as exc:
            return _json({"detail": str(exc)}, 413), 0
        return await run_in_threadpool(answer, body)

    def answer(body: bytes) -> tuple[Response, int]:
        try:
            payload = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return _json({"detail": "body is not valid JSON"}, 422), 0
        rows = payload.get("rows") if isinstance(payload, dict) else None
        if isinstance(rows, list) and len(rows) > settings.serving_max_rows:
            return _json(
                {
                    "detail": f"{len(rows):,} rows; the limit is {settings.serving_max_rows:,} rows a request "
                    "(serving_max_rows)"
                },
                413,
            ), 0
        served = holder.served  # this request uses this model to the end, even if swapped meanwhile
        if served is None:
            return _json({"detail": f"{pipeline} has no @champion yet"}, 503), 0
        if features is not None and isinstance(rows, list) and any(features.is_key_only(r) for r in rows):
            rows, problems = features.fill(rows)
            if problems:
                return _json({"detail": problems}, 422), 0
        problems = validate_rows(rows, served.fields)
        if problems:
            return _json({"detail": problems}, 422), 0
        if served.predict_rows is not None:
            prediction = np.asarray(served.predict_rows(rows), dtype=float)
        else:
            prediction = np.asarray(served.model.predict(_frame(rows, served.fields)), dtype=float)
        return _json({"model_version": served.version, "predictions": prediction.round(6).tolist()}), len(rows)

    return app
