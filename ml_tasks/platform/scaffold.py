"""`conveyor new-pipeline`: the files of a new pipeline, ready to run, for a data engineer to edit.

Writes the spec (``dags/specs/<name>.yaml``), the three-line DAG file (``dags/<name>.py``), the
raw and features suites (``expectations/``, profiled from the whole of ``--from-sample`` when
given) and a test (``tests/pipelines/test_<name>.py``). Features come from the spec alone (the
default feature module, ``spark_jobs.series_features``): calendar, the ``--known-ahead``
columns, lags and rolling windows in the data's own unit (hourly or daily, detected from the
sample). Nothing outside those files changes; the DAG processor picks the new DAGs up at its
next parse.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from ml_tasks.core.settings import REPO_ROOT
from ml_tasks.data.leakage import target_proxies
from ml_tasks.data.suite_profile import features_suite, raw_suite

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
SAMPLE_ROWS = 500_000  # a larger --from-sample file is read in full, streamed, and sampled uniformly
SHAPES = {  # frequency -> (horizon, lags, windows), in that unit
    "hourly": (24, [24, 48, 168], [24, 168]),
    "daily": (1, [1, 7, 14], [7, 28]),
}


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
    known_ahead: list[str] = field(default_factory=list)
    frequency: str | None = None  # None: detected from the sample (hourly without one)
    written: list[Path] = field(default_factory=list)

    def check(self) -> None:
        if not NAME.match(self.name):
            raise ScaffoldError(f"pipeline name {self.name!r}: use lower case letters, digits and '_', starting with a letter")
        if self.task not in ("regression", "classification"):
            raise ScaffoldError(f"--task {self.task!r}: expected regression or classification")
        if self.frequency not in (None, *SHAPES):
            raise ScaffoldError(f"--frequency {self.frequency!r}: expected one of {sorted(SHAPES)}")
        for col in self.known_ahead:
            role = {self.target: "the target", self.timestamp: "the timestamp"}.get(col, "a key" if col in self.keys else None)
            if role:
                raise ScaffoldError(f"--known-ahead {col!r} is {role}; remove it from --known-ahead "
                                    + ("(the model would be given the answer; the target's past is used through lags)"
                                       if col == self.target else "(it is used already)"))
        if self.sample is None:
            if self.known_ahead:
                raise ScaffoldError("--known-ahead needs --from-sample: the spec records each column's type from it")
            return
        missing = [c for c in (self.timestamp, *self.keys, self.target, *self.known_ahead) if c not in self.sample.columns]
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
        proxies = target_proxies(self.sample, self.target, self.known_ahead)
        if proxies:
            listed = "; ".join(f"{', '.join(p.columns)}: {p.reason}" for p in proxies)
            raise ScaffoldError(f"--known-ahead would leak the target: {listed}. Leave these columns out of "
                                "--known-ahead (they are only known after the fact); if one truly is known in "
                                "advance, add it to the spec's features.known_ahead and "
                                "features.acknowledged_target_proxies by hand")

    def files(self) -> dict[Path, str]:
        n = self.name
        return {
            self.root / "dags" / "specs" / f"{n}.yaml": self.spec_yaml(),
            self.root / "dags" / f"{n}.py": DAG_FILE.format(name=n),
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

    @property
    def detected_frequency(self) -> str:
        """The given frequency, else daily when the sample's typical step is a day or more."""
        if self.frequency:
            return self.frequency
        if self.sample is None or len(self.sample) < 3:
            return "hourly"
        times = pd.to_datetime(self.sample[self.timestamp], utc=True, errors="coerce").dropna()
        steps = times.drop_duplicates().sort_values().diff().dropna()
        return "daily" if len(steps) and steps.median() >= pd.Timedelta(hours=20) else "hourly"

    def _series(self) -> int:
        if self.sample is None or not self.keys:
            return 1
        return max(1, len(self.sample[self.keys].drop_duplicates()))

    def _history(self) -> list[str]:
        """Columns whose past becomes features: the target (regression), else the numeric columns.

        A classification label is usually known only later (churn, fraud), so its lags would
        leak; the numeric activity columns' history stands in for it.
        """
        if not self.classification:
            return [self.target]
        numeric = [c for c in self._extra_columns() if c not in self.known_ahead
                   and pd.api.types.is_numeric_dtype(self.sample[c]) and not pd.api.types.is_bool_dtype(self.sample[c])]
        return numeric[:6]

    def _lag_columns(self) -> list[str]:
        _, lags, _ = SHAPES[self.detected_frequency]
        unit = "h" if self.detected_frequency == "hourly" else "d"
        short, weekly = lags[0], lags[-1] if self.detected_frequency == "daily" else lags[2]
        if not self.classification:
            return [f"lag_{short}{unit}", f"lag_{weekly}{unit}"]
        return [f"{c}_lag_{short}{unit}" for c in self._history()[:2]]

    def _extra_columns(self) -> list[str]:
        if self.sample is None:
            return []
        return [c for c in self.sample.columns if c not in (self.timestamp, *self.keys, self.target)]

    def _start_date(self) -> date:
        if self.sample is not None:
            ts = pd.to_datetime(self.sample[self.timestamp], utc=True)
            return ts.min().date()
        return date.today() - timedelta(days=90)

    def _window(self) -> tuple[int, int]:
        """(window_days, holdout_days): about 8,000 training rows and 1,000 holdout rows, within
        28..730 and 7..120 days: a single daily series gets years, a thousand series weeks."""
        per_day = self._series() * (24 if self.detected_frequency == "hourly" else 1)
        holdout = min(120, max(7, math.ceil(1000 / per_day)))
        return min(730, max(28, math.ceil(8000 / per_day) + holdout)), holdout

    def spec_yaml(self) -> str:
        nonneg = self.classification or self.sample is None or float(self.sample[self.target].min()) >= 0
        statistical = [] if self.classification else ["statsforecast"]  # AutoETS per series: forecasts only
        models = "[" + ", ".join(["lightgbm", *(["lightning"] if nonneg else []), *statistical]) + "]"
        frequency = self.detected_frequency
        horizon, lags, windows = SHAPES[frequency]
        unit = "h" if frequency == "hourly" else "d"
        history = self._history()
        if self.classification:
            drift = [f"{c}_rolling_mean_{windows[-1]}{unit}" for c in history] or ["day_of_week"]
        else:
            drift = ["day_of_week", *(f"lag_{lag}{unit}" for lag in lags), *(f"rolling_mean_{w}{unit}" for w in windows)]
        known = {c: _spec_type(self.sample[c]) for c in self.known_ahead}
        unused = [c for c in self._extra_columns() if c not in self.known_ahead and c not in history]
        window, holdout = self._window()
        return SPEC.format(
            name=self.name, task=self.task, timestamp=self.timestamp, keys=", ".join(self.keys), target=self.target,
            start=self._start_date().isoformat(), models=models,
            models_note="" if nonneg else "  # the neural family's Poisson loss needs a target >= 0\n",
            objective="binary" if self.classification else "tweedie" if nonneg else "regression",
            promotion=PROMOTION[self.task], drift_columns=", ".join(drift), frequency=frequency,
            unit_word="hours" if frequency == "hourly" else "days", horizon=horizon, lags=lags, windows=windows,
            known_ahead="{" + ", ".join(f"{c}: {t}" for c, t in known.items()) + "}",
            unused=", ".join(unused) or "(none in the sample)",
            history=f"  history_of: [{', '.join(history)}]\n  keys_as_inputs: false\n" if self.classification else "",
            window=window, holdout=holdout, folds=2)


def _spec_type(series: pd.Series) -> str:
    """The spec type of a known-ahead column: numbers stay numbers, anything else is a category."""
    if pd.api.types.is_bool_dtype(series):
        return "int"
    if pd.api.types.is_numeric_dtype(series):
        return "double"
    return "string"


def _json(data: dict) -> str:
    return json.dumps(data, indent=1) + "\n"


def read_sample(path: Path, max_rows: int = SAMPLE_ROWS, seed: int = 0) -> pd.DataFrame:
    """Raw data to profile: the whole file, or, when it has more than ``max_rows`` rows, a uniform
    random sample of them read in a stream (Parquet record batches or CSV chunks), never the whole
    file in memory."""
    import numpy as np

    from ml_tasks.data.landing import LandingError, read_table

    if not path.exists():
        raise ScaffoldError(f"--from-sample {path}: no such file")
    if path.suffix.lower() == ".csv":
        chunks = pd.read_csv(path, chunksize=max(max_rows // 4, 1))
    else:
        try:
            import pyarrow.parquet as pq

            batches = pq.ParquetFile(path).iter_batches(batch_size=max(max_rows // 4, 1))
            chunks = (b.to_pandas() for b in batches)
        except Exception:  # a folder of Parquet files, or not Parquet: let the table reader say what it is
            try:
                return read_table(path)
            except LandingError as exc:
                raise ScaffoldError(f"--from-sample {exc}") from exc
    rng = np.random.default_rng(seed)
    kept: pd.DataFrame | None = None
    for chunk in chunks:  # keep the rows with the max_rows smallest random keys: a uniform sample
        chunk = chunk.assign(_key=rng.random(len(chunk)))
        kept = chunk if kept is None else pd.concat([kept, chunk], ignore_index=True)
        if len(kept) > max_rows:
            kept = kept.nsmallest(max_rows, "_key")
    if kept is None:
        raise ScaffoldError(f"--from-sample {path}: the file has no rows")
    return kept.drop(columns="_key").reset_index(drop=True)


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
  # Built from this spec by spark_jobs.series_features; a pipeline needing more writes its own
  # module (see spark_jobs/demand_features.py) and names it here as `module`.
  frequency: {frequency}
  # In {unit_word}. Every lag and window ends at least `horizon` before the row: a forecast made
  # `horizon` ahead only uses what was known then. Missing {unit_word} give null lags, which
  # both model families take.
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
from ml_tasks.platform.spec_check import check_all


def test_{name}_spec_is_valid():
    problems = check_all(load_settings(), ["{name}"])["{name}"]
    assert problems == [], [str(p) for p in problems]
'''
