"""`conveyor new-pipeline`: the files of a new pipeline, ready to run, for a data engineer to edit.

Writes the spec (``dags/specs/<name>.yaml``), the three-line DAG file (``dags/<name>.py``), the
raw and features suites (``expectations/``, profiled from the whole of ``--from-sample`` when
given) and a test (``tests/pipelines/test_<name>.py``). Features come from the spec alone (the
default feature module, ``spark_jobs.series_features``): calendar, the ``--known-ahead``
columns, lags and rolling windows at the data's own cadence (detected from the sample: any regular
step from a minute to a week; irregular timestamps are refused with the spacings seen). Nothing
outside those files changes; the DAG processor picks the new DAGs up at its next parse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from ml_tasks.core import cadence, events
from ml_tasks.core.files import write_atomic
from ml_tasks.core.names import PipelineNameError, checked_pipeline_name
from ml_tasks.core.settings import REPO_ROOT
from ml_tasks.data.leakage import target_proxies
from ml_tasks.data.suite_profile import features_suite, raw_suite
from ml_tasks.platform.scaffold.sample import ScaffoldError
from ml_tasks.platform.scaffold.templates import (
    DAG_FILE,
    PROMOTION,
    SPEC,
    TEST_FILE,
    events_yaml,
    json_text,
    listed,
    spec_type,
    unit_word,
)


def shape(step: int) -> tuple[int | str, list, list]:
    """(horizon, lags, windows) of a new pipeline at a cadence of ``step`` seconds: a day ahead with a
    day, two and a week back below a day (as durations when the step is not an hour), a step ahead
    with a step, a week and two back for daily data, and a month, a quarter and a year for weekly."""
    if step >= cadence.WEEK:
        return 1, [1, 4, 52], [4, 13]
    if step >= cadence.DAY:
        return 1, [1, 7, 14], [7, 28]
    if step == cadence.HOUR:
        return 24, [24, 48, 168], [24, 168]
    return "24h", ["24h", "48h", "168h"], ["24h", "168h"]


def _seconds(value: int | str, step: int) -> int:
    return value * step if isinstance(value, int) else cadence.seconds_of(value)


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
    timezone: str | None = None  # of naive timestamps; None: they are UTC
    events: dict | None = None  # data.events: the sample is events, aggregated to the cadence per key
    _step: int | None = field(default=None, init=False, repr=False)
    _raw_sample: pd.DataFrame | None = field(default=None, init=False, repr=False)
    written: list[Path] = field(default_factory=list)

    def check(self) -> None:
        try:
            checked_pipeline_name(self.name)
        except PipelineNameError as exc:
            raise ScaffoldError(str(exc)) from None
        if self.task not in ("regression", "classification"):
            raise ScaffoldError(f"--task {self.task!r}: expected regression or classification")
        if self.frequency is not None:
            try:
                cadence.step_of(self.frequency)
            except cadence.CadenceError as exc:
                raise ScaffoldError(f"--frequency: {exc}") from exc
        if self.timezone is not None:
            try:
                cadence.check_zone(self.timezone)
            except ValueError as exc:
                raise ScaffoldError(f"--timezone: {exc}") from exc
        for col in self.known_ahead:
            role = {self.target: "the target", self.timestamp: "the timestamp"}.get(
                col, "a key" if col in self.keys else None
            )
            if role:
                raise ScaffoldError(
                    f"--known-ahead {col!r} is {role}; remove it from --known-ahead "
                    + (
                        "(the model would be given the answer; the target's past is used through lags)"
                        if col == self.target
                        else "(it is used already)"
                    )
                )
        if self.sample is None:
            if self.known_ahead:
                raise ScaffoldError("--known-ahead needs --from-sample: the spec records each column's type from it")
            return
        raw_columns = [
            self.timestamp,
            *self.keys,
            *(events.sources(self._aggregations()) if self.events else [self.target, *self.known_ahead]),
        ]
        missing = [c for c in raw_columns if c not in self.sample.columns]
        if missing:
            raise ScaffoldError(
                f"--from-sample: columns {missing} are not in the sample (it has {list(self.sample.columns)})"
            )
        self.sample = self.sample.assign(**{self.timestamp: self._utc_times()})
        if self.events:  # from here on the sample is what the features are made from: one row per key and slot
            self._raw_sample = self.sample
            self.sample = events.aggregate(self.sample, self._aggregations(), self.timestamp, self.keys, self.step)
            missing = [c for c in (self.target, *self.known_ahead) if c not in self.sample.columns]
            if missing:
                raise ScaffoldError(
                    f"--target/--known-ahead {missing} must be outputs of --events ({sorted(self._aggregations())})"
                )
        values = self.sample[self.target]
        if self.task == "regression" and not pd.api.types.is_numeric_dtype(values):
            raise ScaffoldError(
                f"--target {self.target!r} is {values.dtype} in the sample; a regression target must be numeric"
            )
        _ = self.step  # the cadence, detected: irregular timestamps are refused here
        if self.task == "classification" and not set(values.dropna().unique().tolist()) <= {0, 1}:
            raise ScaffoldError(
                f"--target {self.target!r} must hold 0/1 (or true/false) for a binary "
                f"classification; the sample has {sorted(map(str, values.dropna().unique()[:5]))}"
            )
        proxies = target_proxies(self.sample, self.target, self.known_ahead)
        if proxies:
            listed = "; ".join(f"{', '.join(p.columns)}: {p.reason}" for p in proxies)
            raise ScaffoldError(
                f"--known-ahead would leak the target: {listed}. Leave these columns out of "
                "--known-ahead (they are only known after the fact); if one truly is known in "
                "advance, add it to the spec's features.known_ahead and "
                "features.acknowledged_target_proxies by hand"
            )

    def files(self) -> dict[Path, str]:
        n = self.name
        return {
            self.root / "dags" / "specs" / f"{n}.yaml": self.spec_yaml(),
            self.root / "dags" / f"{n}.py": DAG_FILE.format(name=n),
            self.root / "expectations" / f"{n}_raw.json": json_text(
                raw_suite(
                    n,
                    self.timestamp,
                    self.keys,
                    self.target,
                    self.sample if self._raw_sample is None else self._raw_sample,
                    self.classification,
                    events=bool(self.events),
                )
            ),
            self.root / "expectations" / f"{n}_features.json": json_text(
                features_suite(n, self.timestamp, self.keys, self.target, self._lag_columns(), self.classification)
            ),
            self.root / "tests" / "pipelines" / f"test_{n}.py": TEST_FILE.format(name=n),
        }

    def write(self, force: bool = False) -> list[Path]:
        self.check()
        files = self.files()
        existing = [p for p in files if p.exists()]
        if existing and not force:
            raise ScaffoldError(f"would overwrite {[str(p) for p in existing]}; pass --force to replace them")
        for path, text in files.items():
            write_atomic(path, text)
        init = self.root / "tests" / "pipelines" / "__init__.py"
        if not init.exists():
            init.write_text("")
        self.written = list(files)
        return self.written

    @property
    def classification(self) -> bool:
        return self.task == "classification"

    @property
    def step(self) -> int:
        """Seconds between a series' rows: the given frequency's, else the sample's (hourly without one)."""
        if self._step is None:
            if self.frequency:
                self._step = cadence.step_of(self.frequency)
            elif self.sample is None or len(self.sample) < 3 or self.events:  # events are aggregated to hours
                self._step = cadence.HOUR
            else:
                try:
                    self._step = cadence.detect(self.sample[self.timestamp], self._series_ids())
                except cadence.CadenceError as exc:
                    raise ScaffoldError(f"--from-sample, column {self.timestamp!r}: {exc}") from exc
        return self._step

    @property
    def detected_frequency(self) -> str:
        return cadence.name(self.step)

    def _aggregations(self) -> dict:
        try:
            return events.parse(self.events or {})
        except ValueError as exc:
            raise ScaffoldError(f"--events: {exc}") from exc

    def _series_ids(self) -> pd.Series | None:
        return self.sample[self.keys].astype(str).agg("|".join, axis=1) if self.keys else None

    def _utc_times(self) -> pd.Series:
        """The sample's timestamps as UTC, read as `conveyor land` reads them (epoch numbers, local times)."""
        from ml_tasks.data.timestamps import TimestampError, to_utc

        try:
            return to_utc(self.sample[self.timestamp], self.timezone, self._series_ids())
        except TimestampError as exc:
            raise ScaffoldError(f"--from-sample, column {self.timestamp!r}: {exc}") from exc

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
        numeric = [
            c
            for c in self._extra_columns()
            if c not in self.known_ahead
            and pd.api.types.is_numeric_dtype(self.sample[c])
            and not pd.api.types.is_bool_dtype(self.sample[c])
        ]
        return numeric[:6]

    def _span(self, value: int | str) -> str:
        return cadence.label(_seconds(value, self.step), self.step)

    def _lag_columns(self) -> list[str]:
        _, lags, _ = shape(self.step)
        short, longest = self._span(lags[0]), self._span(lags[-1])
        if not self.classification:
            return [f"lag_{short}", f"lag_{longest}"]
        return [f"{c}_lag_{short}" for c in self._history()[:2]]

    def _extra_columns(self) -> list[str]:
        if self.sample is None:
            return []
        return [c for c in self.sample.columns if c not in (self.timestamp, *self.keys, self.target)]

    def _start_date(self) -> date:
        if self.sample is not None:
            return self.sample[self.timestamp].min().date()
        return date.today() - timedelta(days=90)

    def _window(self) -> tuple[int, int]:
        """(window_days, holdout_days): about 8,000 training rows and 1,000 holdout rows, within
        28..730 and 7..120 days: a single daily series gets years, a thousand series weeks. The
        holdout is at most a sixth of the days the sample spans (at least 7), so that a sample of a
        few months still leaves the backtest folds and training days before it."""
        per_day = self._series() * cadence.DAY / self.step
        holdout = min(120, max(7, math.ceil(1000 / per_day)))
        window = min(730, max(28, math.ceil(8000 / per_day) + holdout))
        if self.sample is not None and len(self.sample):
            times = self.sample[self.timestamp]
            days = (times.max().normalize() - times.min().normalize()).days + 1
            holdout = min(holdout, max(7, days // 6))
        return window, holdout

    def spec_yaml(self) -> str:
        nonneg = self.classification or self.sample is None or float(self.sample[self.target].min()) >= 0
        # AutoETS per series: forecasts only, and only where its season fits (statsforecast's ETS takes <= 24)
        seasonal = cadence.seasonal_periods(self.step)[0] <= 24
        statistical = [] if self.classification or not seasonal else ["statsforecast"]
        models = "[" + ", ".join(["lightgbm", *(["lightning"] if nonneg else []), *statistical]) + "]"
        frequency = self.detected_frequency
        horizon, lags, windows = shape(self.step)
        history = self._history()
        season = "day_of_week" if "day_of_week" in cadence.calendar_columns(self.step) else "month"
        if self.classification:
            drift = [f"{c}_rolling_mean_{self._span(windows[-1])}" for c in history] or [season]
        else:
            drift = [
                season,
                *(f"lag_{self._span(lag)}" for lag in lags),
                *(f"rolling_mean_{self._span(w)}" for w in windows),
            ]
        known = {c: spec_type(self.sample[c]) for c in self.known_ahead}
        unused = [c for c in self._extra_columns() if c not in self.known_ahead and c not in history]
        window, holdout = self._window()
        return SPEC.format(
            name=self.name,
            task=self.task,
            timestamp=self.timestamp,
            keys=", ".join(self.keys),
            target=self.target,
            start=self._start_date().isoformat(),
            models=models,
            timezone=f"\n  # naive times in the raw files are local times here\n  timezone: {self.timezone}"
            if self.timezone
            else "",
            events=events_yaml(self.events),
            models_note="" if nonneg else "  # the neural family's Poisson loss needs a target >= 0\n",
            objective="binary" if self.classification else "tweedie" if nonneg else "regression",
            promotion=PROMOTION[self.task],
            drift_columns=", ".join(drift),
            frequency=frequency,
            unit_word=unit_word(self.step),
            horizon=horizon,
            lags=listed(lags),
            windows=listed(windows),
            known_ahead="{" + ", ".join(f"{c}: {t}" for c, t in known.items()) + "}",
            unused=", ".join(unused) or "(none in the sample)",
            history=f"  history_of: [{', '.join(history)}]\n  keys_as_inputs: false\n" if self.classification else "",
            window=window,
            holdout=holdout,
            folds=2,
        )
