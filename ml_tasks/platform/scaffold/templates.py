"""The files `conveyor new-pipeline` writes, as templates, and the helpers that fill their values in (used by
``ml_tasks.platform.scaffold.pipeline``)."""

from __future__ import annotations

import json

import pandas as pd

from ml_tasks.core import cadence

DAG_FILE = '''"""The `{name}` pipeline's Airflow DAGs, built from `dags/specs/{name}.yaml` by the DAG factory."""

from conveyor_factory import build_pipeline_dags

globals().update(build_pipeline_dags("{name}"))
'''

SPEC = """# The `{name}` pipeline. Written by `conveyor new-pipeline`; edit freely, then `conveyor validate`.
name: {name}
description: ""
owner: conveyor
task: {task}
tags: [{name}]

data:
  timestamp: {timestamp}
  keys: [{keys}]
  target: {target}{timezone}{events}
  raw_suite: {name}_raw
  features_suite: {name}_features

features:
  # Built from this spec by spark_jobs.series_features; a pipeline needing more writes its own
  # module (see spark_jobs/demand_features.py) and names it here as `module`.
  frequency: {frequency}
  # In {unit_word}. Every lag and window ends at least `horizon` before the row: a forecast made
  # `horizon` ahead only uses what was known then. Missing rows give null lags, which both model
  # families take.
  horizon: {horizon}
  lags: {lags}
  windows: {windows}
  # Raw columns known before the time they describe (planned prices, holidays, weather
  # forecasts), used for the row itself; `string` ones are categories. Columns only known
  # afterwards must stay out: they would leak. Not used yet: {unused}
  known_ahead: {known_ahead}
{history}  schedule: "@daily"
  start_date: "{start}"

training:
  schedule: "0 2 * * *"
  window_days: {window}
  holdout_days: {holdout}
  seed: 42
  models: {models}
{models_note}  # The registered candidate is the best on this rolling-origin backtest (folds of holdout_days
  # before the holdout); the holdout itself is only the promotion gate's evidence.
  backtest_folds: {folds}
  # An Optuna search of LightGBM's parameters and target transform on the backtest, within a budget
  # per nightly run (trials: 0 turns it off).
  tuning: {{trials: 20, minutes: 3}}
  lightgbm:
    objective: {objective}
    n_estimators: 300

promotion:
{promotion}
drift:
  window_days: 7
  columns: [{drift_columns}]
"""

PROMOTION = {
    "regression": "  metric: mae\n  thresholds: {mase: 1.0}\n",
    "classification": "  # per-row log loss for the paired test; ROC-AUC as a floor\n  metric: log_loss\n"
    "  thresholds: {roc_auc: 0.6}\n",
}

TEST_FILE = '''"""The `{name}` pipeline's own checks (written by `conveyor new-pipeline`)."""

from ml_tasks.core.settings import load_settings
from ml_tasks.platform.cli.spec_check import check_all


def test_{name}_spec_is_valid():
    problems = check_all(load_settings(), ["{name}"])["{name}"]
    assert problems == [], [str(p) for p in problems]
'''


def events_yaml(spec_events: dict | None) -> str:
    """The spec's ``data.events`` block (empty when the raw rows are a series already)."""
    if not spec_events:
        return ""
    lines = [
        f"    {name}: {how if isinstance(how, str) else '{' + ', '.join(f'{k}: {v}' for k, v in how.items()) + '}'}"
        for name, how in spec_events.items()
    ]
    return (
        "\n  # one raw row per event, aggregated per key and slot of the cadence (0 where none happened)\n"
        "  events:\n" + "\n".join(lines)
    )


def unit_word(step: int) -> str:
    """How the spec's comment names the unit of its horizon, lags and windows."""
    if step in (cadence.HOUR, cadence.DAY, cadence.WEEK):
        return {cadence.HOUR: "hours", cadence.DAY: "days", cadence.WEEK: "weeks"}[step]
    return f"steps of {cadence.name(step)} or durations (24h, 7d)"


def listed(values: list) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def spec_type(series: pd.Series) -> str:
    """The spec type of a known-ahead column: numbers stay numbers, anything else is a category."""
    if pd.api.types.is_bool_dtype(series):
        return "int"
    if pd.api.types.is_numeric_dtype(series):
        return "double"
    return "string"


def json_text(data: dict) -> str:
    return json.dumps(data, indent=1) + "\n"
