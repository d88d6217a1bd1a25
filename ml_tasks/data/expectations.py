"""Great Expectations, wrapped: load a suite file, validate a DataFrame, summarise the result.

Suites are reviewed files in ``expectations/<suite>.json`` in Great Expectations' own format.
Every expectation carries ``meta.notes`` saying why it exists. An expectation with
``"severity": "warning"`` is reported but does not block (an extra column, say); every other
failed expectation blocks.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Great Expectations must not phone home: the platform runs on closed networks.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@dataclass
class GateResult:
    suite: str
    success: bool
    failures: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    statistics: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    coverage: dict[str, Any] | None = None  # rows present vs expected (raw partitions)

    def summary(self) -> str:
        evaluated = self.statistics.get("evaluated_expectations", "?")
        if self.success:
            lines = [f"suite {self.suite!r}: passed ({evaluated} expectations)"]
        else:
            lines = [f"suite {self.suite!r}: {len(self.failures)} of {evaluated} expectation(s) failed"]
        lines += [f"  - {_describe(f)}" for f in self.failures]
        lines += [f"  - (warning, not blocking) {_describe(f)}" for f in self.warnings]
        return "\n".join(lines)


def _describe(f: dict[str, Any]) -> str:
    return (
        f"{f['expectation']}({f['target']}): observed {f['observed']}; expected {f['expected']}"
        + (f"; e.g. {f['examples']}" if f["examples"] else "")
        + (f" [why: {f['notes']}]" if f["notes"] else "")
    )


def read_suite(expectations_dir: Path, name: str) -> dict[str, Any]:
    """The suite file ``<expectations_dir>/<name>.json`` as data, checked for notes on every expectation."""
    path = Path(expectations_dir) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"expectation suite {name!r} not found at {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    missing_notes = [e.get("type") for e in data.get("expectations", []) if not (e.get("meta") or {}).get("notes")]
    if missing_notes:
        raise ValueError(
            f"{path}: every expectation needs meta.notes saying why it exists; missing for {missing_notes}"
        )
    data["name"] = name
    data["_path"] = str(path)
    return data


def build_suite(data: dict[str, Any]):
    """A Great Expectations suite from suite data (as :func:`read_suite` returns, possibly adjusted)."""
    import great_expectations as gx

    try:
        return gx.ExpectationSuite(**{k: v for k, v in data.items() if k in ("name", "expectations", "meta")})
    except Exception as exc:  # GE raises several types for a bad expectation entry
        raise ValueError(f"{data.get('_path', data.get('name'))}: invalid expectation suite: {exc}") from exc


def load_suite(expectations_dir: Path, name: str):
    """Load ``<expectations_dir>/<name>.json`` as a Great Expectations suite."""
    return build_suite(read_suite(expectations_dir, name))


def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)  # one INFO line per context otherwise
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _failure(result, keys: list[str]) -> dict[str, Any]:
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
    examples = (res.get("partial_unexpected_list") or [])[:5]
    rows = res.get("partial_unexpected_index_list") or []
    if rows and keys and isinstance(rows[0], dict):
        examples = [{k: v for k, v in row.items() if k in keys or k == target} for row in rows[:5]]
    return _jsonable(
        {
            "expectation": cfg.type,
            "target": target,
            "observed": observed,
            "expected": kwargs,
            "examples": examples,
            "notes": (cfg.meta or {}).get("notes", ""),
            "severity": str(getattr(cfg, "severity", "critical")).rsplit(".", 1)[-1].lower(),
        }
    )


def validate(
    df, suite, parameters: dict[str, Any] | None = None, keys: list[str] | None = None, verdict_only: bool = False
) -> GateResult:
    """Validate a pandas or Spark DataFrame against a suite (Spark data is never collected).

    ``keys`` name the columns that identify a row (pandas only): failures then show the keys of
    a few offending rows next to the bad value. ``verdict_only`` asks for pass/fail alone (no
    failure details; blocking and warning expectations alike decide), which is several times
    cheaper: the range gates use it to find bad days before checking each of them in full.
    """
    if len(df.columns) == 0:
        return read_error_result(suite.name, "the data has no columns at all")
    ctx = _context()
    is_spark = type(df).__module__.startswith("pyspark")
    source = ctx.data_sources.add_spark("spark") if is_spark else ctx.data_sources.add_pandas("pandas")
    batch_def = source.add_dataframe_asset("partition").add_batch_definition_whole_dataframe("whole")
    present_keys = [k for k in (keys or []) if k in df.columns]
    if verdict_only:
        quick = batch_def.get_batch(batch_parameters={"dataframe": df}).validate(
            suite, expectation_parameters=parameters or {}, result_format="BOOLEAN_ONLY"
        )
        return GateResult(suite=suite.name, success=bool(quick.success), statistics=_jsonable(quick.statistics))
    if is_spark:
        # Every expectation scans the data again: keep only the columns the suite reads, in memory.
        df = _referenced_columns(df, suite).cache()
        try:
            # Passing data is the common case: verdicts alone need fewer Spark jobs than summaries.
            quick = batch_def.get_batch(batch_parameters={"dataframe": df}).validate(
                suite, expectation_parameters=parameters or {}, result_format="BOOLEAN_ONLY"
            )
            if quick.success:
                return GateResult(
                    suite=suite.name,
                    success=True,
                    statistics=_jsonable(quick.statistics),
                    validation=_jsonable(quick.to_json_dict()),
                )
            return _summarise(batch_def, df, suite, parameters, {"result_format": "SUMMARY"}, [])
        finally:
            df.unpersist()
    result_format: dict[str, Any] = {"result_format": "SUMMARY"}
    if present_keys:
        result_format["unexpected_index_column_names"] = present_keys
    return _summarise(batch_def, df, suite, parameters, result_format, present_keys)


def _summarise(batch_def, df, suite, parameters, result_format, present_keys) -> GateResult:
    batch = batch_def.get_batch(batch_parameters={"dataframe": df})
    res = batch.validate(suite, expectation_parameters=parameters or {}, result_format=result_format)
    failed = [_failure(r, present_keys) for r in res.results if not r.success]
    blocking = [f for f in failed if f["severity"] == "critical"]
    return GateResult(
        suite=suite.name,
        success=not blocking,
        failures=blocking,
        warnings=[f for f in failed if f["severity"] != "critical"],
        statistics=_jsonable(res.statistics),
        validation=_jsonable(res.to_json_dict()),
    )


def _referenced_columns(df, suite):
    """Only the columns the suite looks at (all of them if it checks the table's column set)."""
    needed: list[str] = []
    for exp in suite.expectations:
        kwargs = exp.configuration.kwargs
        if exp.expectation_type.startswith("expect_table_column"):
            return df
        for col in [kwargs.get("column"), *(kwargs.get("column_list") or [])]:
            if col and col not in needed:
                needed.append(col)
    present = [c for c in needed if c in df.columns]
    return df.select(*present) if present else df


def read_error_result(suite: str, problem: str) -> GateResult:
    """A failed result for data that could not even be read (corrupt file, wrong format, no columns)."""
    failure = {
        "expectation": "readable_parquet_partition",
        "target": "table",
        "observed": problem,
        "expected": "a readable Parquet partition",
        "examples": [],
        "severity": "critical",
        "notes": "the gate must be able to read the data",
    }
    return GateResult(suite=suite, success=False, failures=[failure], statistics={"evaluated_expectations": 1})
