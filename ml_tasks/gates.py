"""Data-quality gates: Great Expectations suites that decide whether data may go on.

Suites are reviewed files in ``expectations/<suite>.json`` (Great Expectations' own suite
format; every expectation carries ``meta.notes`` saying why it exists). A gate validates a
pandas or Spark DataFrame against its suite. A raw partition that fails is moved, never
deleted, to ``quarantine/<pipeline>/dt=.../raw/`` with the validation result (JSON) and a
readable report (HTML), and the gate raises :class:`GateFailed` naming what failed.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from ml_tasks.lake import Lake, LakeError

# Great Expectations must not phone home: the platform runs on closed networks.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


class GateFailed(RuntimeError):
    """Data failed its suite; the message names the failed expectations."""


@dataclass
class GateResult:
    suite: str
    success: bool
    failures: list[dict[str, Any]] = field(default_factory=list)
    statistics: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        if self.success:
            return f"suite {self.suite!r}: all {self.statistics.get('evaluated_expectations', '?')} expectations passed"
        lines = [f"suite {self.suite!r}: {len(self.failures)} expectation(s) failed"]
        for f in self.failures:
            lines.append(
                f"  - {f['expectation']}({f['target']}): observed {f['observed']}; expected {f['expected']}"
                + (f"; e.g. {f['examples']}" if f["examples"] else "")
                + (f" [why: {f['notes']}]" if f["notes"] else "")
            )
        return "\n".join(lines)


def load_suite(expectations_dir: Path, name: str):
    """Load ``<expectations_dir>/<name>.json`` as a Great Expectations suite."""
    import great_expectations as gx

    path = Path(expectations_dir) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"expectation suite {name!r} not found at {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    data["name"] = name
    try:
        return gx.ExpectationSuite(**{k: v for k, v in data.items() if k in ("name", "expectations", "meta")})
    except Exception as exc:  # GE raises several types for a bad expectation entry
        raise ValueError(f"{path}: invalid expectation suite: {exc}") from exc


def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _failure(result) -> dict[str, Any]:
    cfg = result.expectation_config
    kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id", "result_format")}
    target = kwargs.pop("column", None) or kwargs.pop("column_list", None) or "table"
    res = result.result or {}
    if result.exception_info and result.exception_info.get("raised_exception"):
        observed = f"error: {result.exception_info.get('exception_message')}"
    elif "observed_value" in res:
        observed = res["observed_value"]
    else:
        observed = f"{res.get('unexpected_count', '?')} of {res.get('element_count', '?')} rows unexpected"
        if res.get("unexpected_percent") is not None:
            observed += f" ({res['unexpected_percent']:.2f}%)"
    return _jsonable({
        "expectation": cfg.type,
        "target": target,
        "observed": observed,
        "expected": kwargs,
        "examples": (res.get("partial_unexpected_list") or [])[:5],
        "notes": (cfg.meta or {}).get("notes", ""),
    })


def validate(df, suite, parameters: dict[str, Any] | None = None) -> GateResult:
    """Validate a pandas or Spark DataFrame against a suite, without collecting Spark data."""
    if len(df.columns) == 0:
        return read_error_result(suite.name, "the data has no columns at all")
    ctx = _context()
    is_spark = type(df).__module__.startswith("pyspark")
    source = ctx.data_sources.add_spark("spark") if is_spark else ctx.data_sources.add_pandas("pandas")
    batch_def = source.add_dataframe_asset("partition").add_batch_definition_whole_dataframe("whole")
    batch = batch_def.get_batch(batch_parameters={"dataframe": df})
    res = batch.validate(suite, expectation_parameters=parameters or {}, result_format="SUMMARY")
    failures = [_failure(r) for r in res.results if not r.success]
    return GateResult(
        suite=suite.name,
        success=bool(res.success),
        failures=failures,
        statistics=_jsonable(res.statistics),
        validation=_jsonable(res.to_json_dict()),
    )


def interval_parameters(dt: date) -> dict[str, Any]:
    """Suite parameters for one daily partition: its interval, and 'now' for future checks."""
    import pandas as pd

    start = pd.Timestamp(dt, tz="UTC")
    return {
        "interval_start": start,
        "interval_last_hour": start + pd.Timedelta(hours=23),
    }


def render_report(result: GateResult, where: str) -> str:
    """A small standalone HTML page people can open from the quarantine folder."""
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(f[k]))}</td>" for k in ("expectation", "target", "observed", "expected", "examples", "notes")) + "</tr>"
        for f in result.failures
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Gate report: {html.escape(result.suite)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}th{{background:#f3f3f3}}</style></head>
<body><h1>Quarantined: {html.escape(where)}</h1><p>Suite <b>{html.escape(result.suite)}</b> failed:
{len(result.failures)} of {result.statistics.get('evaluated_expectations', '?')} expectations.</p>
<table><tr><th>expectation</th><th>column</th><th>observed</th><th>expected</th><th>examples</th><th>why it exists</th></tr>{rows}</table>
</body></html>"""


def quarantine(lake: Lake, pipeline: str, dt: date, stage: str, source: str | None, result: GateResult) -> str:
    """Move ``source`` (if given) to the quarantine zone with its validation JSON and report."""
    fs = lake.fs
    target = f"{lake.partition('quarantine', pipeline, dt)}/{stage}"
    if fs.exists(target):
        fs.rm(target, recursive=True)  # an older quarantine of the same partition and stage
    fs.makedirs(target, exist_ok=True)
    if source is not None and fs.exists(source):
        fs.mv(source, f"{target}/data", recursive=True)
    record = {
        "pipeline": pipeline,
        "dt": dt.isoformat(),
        "stage": stage,
        "quarantined_at": datetime.now(timezone.utc).isoformat(),
        "source": source,
        "summary": result.summary(),
        "failures": result.failures,
        "validation": result.validation,
    }
    with fs.open(f"{target}/validation.json", "w") as fh:
        json.dump(record, fh, indent=2, default=str)
    with fs.open(f"{target}/report.html", "w") as fh:
        fh.write(render_report(result, f"{pipeline} dt={dt} ({stage})"))
    return target


def read_error_result(suite: str, problem: str) -> GateResult:
    """A failed result for data that could not even be read (corrupt file, wrong format, no columns)."""
    failure = {"expectation": "readable_parquet_partition", "target": "table", "observed": problem,
               "expected": "a readable Parquet partition", "examples": [], "notes": "the gate must be able to read the data"}
    return GateResult(suite=suite, success=False, failures=[failure], statistics={"evaluated_expectations": 1})


def gate_raw_partition(lake: Lake, expectations_dir: Path, pipeline: str, suite_name: str, dt: date) -> GateResult:
    """Validate one raw partition; on failure quarantine it and raise :class:`GateFailed`."""
    source = lake.partition("raw", pipeline, dt)
    if not lake.fs.exists(source):
        raise LakeError(f"pipeline {pipeline!r}: raw partition for {dt} not found at {source}")
    suite = load_suite(expectations_dir, suite_name)
    try:
        df = lake.read_partition("raw", pipeline, dt)
    except Exception as exc:  # unreadable data is a gate failure, not a crash
        result = read_error_result(suite_name, f"{type(exc).__name__}: {exc}")
    else:
        result = validate(df, suite, interval_parameters(dt))
    if not result.success:
        where = quarantine(lake, pipeline, dt, "raw", source, result)
        raise GateFailed(f"raw partition {source} failed the gate and was moved to {where}\n{result.summary()}")
    return result


def gate_staged_features(
    lake: Lake, expectations_dir: Path, pipeline: str, suite_name: str, dt: date, staged: str, spark
) -> GateResult:
    """Validate staged feature rows on Spark; on failure quarantine them and raise."""
    suite = load_suite(expectations_dir, suite_name)
    sdf = spark.read.parquet(lake.local_path(staged))
    result = validate(sdf, suite, interval_parameters(dt))
    if not result.success:
        where = quarantine(lake, pipeline, dt, "features", staged, result)
        raise GateFailed(f"features for {pipeline} dt={dt} failed the gate and were moved to {where}\n{result.summary()}")
    return result


def list_quarantine(lake: Lake, pipeline: str) -> list[dict[str, Any]]:
    """Quarantined partitions with their stage and reason, oldest first."""
    out = []
    for dt in lake.partitions("quarantine", pipeline):
        base = lake.partition("quarantine", pipeline, dt)
        for stage in ("raw", "features"):
            record = f"{base}/{stage}/validation.json"
            if lake.fs.exists(record):
                with lake.fs.open(record) as fh:
                    data = json.load(fh)
                out.append({"dt": dt.isoformat(), "stage": stage, "summary": data.get("summary", ""),
                            "report": f"{base}/{stage}/report.html"})
    return out

