"""`conveyor new-pipeline`: the files of a new pipeline, ready to run, for a data engineer to edit.

Writes the spec (``dags/specs/<name>.yaml``), the three-line DAG file (``dags/<name>.py``), a
feature module (``spark_jobs/<name>_features.py``: calendar, target lags and rolling windows),
the raw and features suites (``expectations/``, profiled from ``--from-sample`` when given) and
a test (``tests/pipelines/test_<name>.py``). Nothing outside those files changes; the DAG
processor picks the new DAGs up at its next parse.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from ml_tasks.settings import REPO_ROOT
from ml_tasks.suite_profile import features_suite, raw_suite

NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ScaffoldError(ValueError):
    """The request cannot become a pipeline; the message says what to change."""


@dataclass
class NewPipeline:
    name: str
    task: str
    keys: list[str]
    timestamp: str
    target: str
    sample: pd.DataFrame | None = None
    root: Path = REPO_ROOT
    written: list[Path] = field(default_factory=list)

    def check(self) -> None:
        if not NAME.match(self.name):
            raise ScaffoldError(f"pipeline name {self.name!r}: use lower case letters, digits and '_', starting with a letter")
        if self.task not in ("regression", "classification"):
            raise ScaffoldError(f"--task {self.task!r}: expected regression or classification")
        if not self.keys:
            raise ScaffoldError("--keys: name at least one series key column")
        if self.sample is not None:
            missing = [c for c in (self.timestamp, *self.keys, self.target) if c not in self.sample.columns]
            if missing:
                raise ScaffoldError(f"--from-sample: columns {missing} are not in the sample "
                                    f"(it has {list(self.sample.columns)})")
            values = self.sample[self.target]
            if self.task == "regression" and not pd.api.types.is_numeric_dtype(values):
                raise ScaffoldError(f"--target {self.target!r} is {values.dtype} in the sample; "
                                    "a regression target must be numeric")
            if self.task == "classification" and not set(values.dropna().unique().tolist()) <= {0, 1}:
                raise ScaffoldError(f"--target {self.target!r} must hold 0/1 (or true/false) for a binary "
                                    f"classification; the sample has {sorted(map(str, values.dropna().unique()[:5]))}")

    def files(self) -> dict[Path, str]:
        n = self.name
        return {
            self.root / "dags" / "specs" / f"{n}.yaml": self.spec_yaml(),
            self.root / "dags" / f"{n}.py": DAG_FILE.format(name=n),
            self.root / "spark_jobs" / f"{n}_features.py": self.feature_module(),
            self.root / "expectations" / f"{n}_raw.json": _json(raw_suite(n, self.timestamp, self.keys, self.target,
                                                                          self.sample, self.classification)),
            self.root / "expectations" / f"{n}_features.json": _json(features_suite(
                n, self.timestamp, self.keys, self.target, self._lag_columns(), self.classification)),
            self.root / "tests" / "pipelines" / f"test_{n}.py": TEST_FILE.format(name=n),
        }

    def write(self, force: bool = False) -> list[Path]:
        self.check()
        files = self.files()
        existing = [p for p in files if p.exists()]
        if existing and not force:
            raise ScaffoldError(f"would overwrite {[str(p) for p in existing]}; pass --force to replace them")
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        init = self.root / "tests" / "pipelines" / "__init__.py"
        if not init.exists():
            init.write_text("")
        self.written = list(files)
        return self.written

    @property
    def classification(self) -> bool:
        return self.task == "classification"

    def _history(self) -> list[str]:
        """Columns whose past becomes features: the target (regression), else the numeric columns.

        A classification label is usually known only later (churn, fraud), so its lags would
        leak; the numeric activity columns' history stands in for it.
        """
        if not self.classification:
            return [self.target]
        numeric = [c for c in self._extra_columns()
                   if pd.api.types.is_numeric_dtype(self.sample[c]) and not pd.api.types.is_bool_dtype(self.sample[c])]
        return numeric[:6]

    def _lag_columns(self) -> list[str]:
        history = self._history()
        if not self.classification:
            return ["lag_24h", "lag_168h"]
        return [f"{c}_lag_24h" for c in history[:2]]

    def _extra_columns(self) -> list[str]:
        if self.sample is None:
            return []
        return [c for c in self.sample.columns if c not in (self.timestamp, *self.keys, self.target)]

    def _start_date(self) -> date:
        if self.sample is not None:
            ts = pd.to_datetime(self.sample[self.timestamp], utc=True)
            return ts.min().date()
        return date.today() - timedelta(days=90)

    def spec_yaml(self) -> str:
        nonneg = self.classification or self.sample is None or float(self.sample[self.target].min()) >= 0
        models = "[lightgbm, lightning]" if nonneg else "[lightgbm]"
        history = self._history()
        drift = ([f"{c}_rolling_mean_168h" for c in history] if self.classification
                 else ["hour", "lag_24h", "lag_168h", "rolling_mean_24h", "rolling_mean_168h"]) or ["day_of_week"]
        return SPEC.format(name=self.name, task=self.task, timestamp=self.timestamp, keys=", ".join(self.keys),
                           target=self.target, start=self._start_date().isoformat(), models=models,
                           models_note="" if nonneg else "  # the neural family's Poisson loss needs a target >= 0\n",
                           objective="binary" if self.classification else "tweedie" if nonneg else "regression",
                           promotion=PROMOTION[self.task], drift_columns=", ".join(drift))

    def feature_module(self) -> str:
        history = self._history()
        extra = [c for c in self._extra_columns() if c not in history]
        listed = "".join(f"#     {c!r}: {_spark_type(self.sample[c])!r},\n" for c in extra)
        template = CLASSIFICATION_FEATURE_MODULE if self.classification else FEATURE_MODULE
        return template.format(name=self.name, unused=listed or "#     (none in the sample)\n", history=history)


def _spark_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "int"
    if pd.api.types.is_numeric_dtype(series):
        return "double"
    return "string"


def _json(data: dict) -> str:
    return json.dumps(data, indent=1) + "\n"


def read_sample(path: Path) -> pd.DataFrame:
    """A sample of raw data: Parquet (file or folder) or CSV."""
    from ml_tasks.landing import LandingError, read_table

    try:
        return read_table(path)
    except LandingError as exc:
        raise ScaffoldError(f"--from-sample {exc}") from exc


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
  target: {target}
  raw_suite: {name}_raw
  features_suite: {name}_features

features:
  module: spark_jobs.{name}_features
  # Every lag and window ends at least horizon_hours before the hour: a forecast made
  # horizon_hours ahead only uses what was known then.
  horizon_hours: 24
  lags_hours: [24, 48, 168]
  rolling_hours: [24, 168]
  schedule: "@daily"
  start_date: "{start}"

training:
  schedule: "0 2 * * *"
  window_days: 28
  holdout_days: 7
  min_train_rows: 1000
  seed: 42
  models: {models}
{models_note}  backtest_folds: 1
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

FEATURE_MODULE = '''"""Features for the `{name}` pipeline (written by `conveyor new-pipeline`; edit freely).

Calendar, target lags and rolling windows come from `spark_jobs.series_features`: all of them
end at least `features.horizon_hours` before the hour, so nothing leaks from the future.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from ml_tasks.spec import PipelineSpec
from spark_jobs.series_features import CALENDAR, lag_and_window_columns, series_features

# Raw columns known before the hour they describe (planned prices, schedules, forecasts) can be
# used for the hour itself: add them here as name -> Spark type. Columns only known afterwards
# must stay out (they would leak). Columns of the sample not used yet:
{unused}KNOWN_AHEAD: dict[str, str] = {{}}


def feature_columns(spec: PipelineSpec) -> list[str]:
    """Model inputs in a fixed order: keys (categorical), calendar, known-ahead columns, lags, windows."""
    return [*spec.data.keys, *CALENDAR, *KNOWN_AHEAD, *lag_and_window_columns(spec)]


def build_features(raw: DataFrame, spec: PipelineSpec) -> DataFrame:
    return series_features(raw, spec, known_ahead=KNOWN_AHEAD)
'''

CLASSIFICATION_FEATURE_MODULE = '''"""Features for the `{name}` pipeline (written by `conveyor new-pipeline`; edit freely).

A binary label is usually known only after the fact (churn, fraud), so its own lags would leak;
the history of the numeric columns stands in: lags and rolling windows from
`spark_jobs.series_features`, all ending `features.horizon_hours` before the row.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from ml_tasks.spec import PipelineSpec
from spark_jobs.series_features import CALENDAR, lag_and_window_columns, series_features

HISTORY = {history!r}
# Raw columns known at the row's time (a customer's plan, region, tenure) can be used as they
# are: add them as name -> Spark type ("string" ones become categorical inputs). Columns of the
# sample not used yet:
{unused}KNOWN_AHEAD: dict[str, str] = {{}}


def categorical_columns(spec: PipelineSpec) -> list[str]:
    return [c for c, kind in KNOWN_AHEAD.items() if kind == "string"]


def feature_columns(spec: PipelineSpec) -> list[str]:
    return [*CALENDAR, *KNOWN_AHEAD, *lag_and_window_columns(spec, HISTORY)]


def build_features(raw: DataFrame, spec: PipelineSpec) -> DataFrame:
    return series_features(raw, spec, known_ahead=KNOWN_AHEAD, history_of=HISTORY)
'''

TEST_FILE = '''"""The `{name}` pipeline's own checks (written by `conveyor new-pipeline`)."""

from ml_tasks.settings import load_settings
from ml_tasks.spec_check import check_all


def test_{name}_spec_is_valid():
    problems = check_all(load_settings(), ["{name}"])["{name}"]
    assert problems == [], [str(p) for p in problems]
'''
