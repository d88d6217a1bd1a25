"""Pipeline specs: the YAML file that describes one pipeline, parsed into typed objects.

A spec is the only thing a data engineer writes to get a pipeline's DAGs. Unknown keys are
errors (a typo must not silently fall back to a default), and every error names the file.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from ml_tasks.core import cadence, events
from ml_tasks.core.names import PIPELINE_NAME, PipelineNameError, checked_pipeline_name
from ml_tasks.core.operation_specs import DriftSpec, PromotionSpec, ScoringSpec
from ml_tasks.core.spec_errors import describe_errors
from ml_tasks.core.training_specs import Strict, TrainingSpec

# The feature module a spec gets unless it names its own (the Spark job in spark_jobs/).
DEFAULT_FEATURE_MODULE = "spark_jobs.series_features"


class SpecError(ValueError):
    """A pipeline spec is missing, malformed or inconsistent; ``problems`` lists (key, message)."""

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.problems = problems or [("<file>", message)]


class DataSpec(Strict):
    timestamp: str
    keys: list[str] = Field(default=[], description="columns that identify a series; none for a single series")
    target: str
    raw_suite: str
    features_suite: str
    events: dict[str, str | dict[str, str]] | None = Field(
        default=None,
        description=(
            "the raw rows are events (a sale, a trip, a flight), aggregated per key and slot of the cadence: output "
            "column -> count, or {sum|mean|max|min|last: column}; the target is one of the outputs "
            "(see ml_tasks/core/events.py)"
        ),
    )
    timezone: str | None = Field(
        default=None,
        description=(
            "the IANA time zone of naive timestamps in the raw files (Europe/London); empty: they are UTC. Times "
            "written with an offset and epoch numbers are instants already"
        ),
    )

    @field_validator("events")
    @classmethod
    def _known_aggregations(cls, raw: dict | None) -> dict | None:
        if raw is not None:
            events.parse(raw)
        return raw

    @property
    def aggregations(self) -> dict[str, tuple[str, str | None]]:
        """``{output: (op, source)}`` of ``events``; empty when the raw rows are a series already."""
        return events.parse(self.events) if self.events else {}

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        return zone if zone is None else cadence.check_zone(zone)


SpecColumnType = Literal["double", "int", "string"]


class FeaturesSpec(Strict):
    """How features are built. ``horizon``, ``lags`` and ``windows`` count steps of ``frequency``
    (``48``) or are durations that are whole numbers of steps (``24h``, ``7d``); see
    :mod:`ml_tasks.core.cadence`.

    The older spelling ``horizon_hours`` / ``lags_hours`` / ``rolling_hours`` is accepted for
    hourly pipelines and means the same.
    """

    module: str = Field(
        default=DEFAULT_FEATURE_MODULE,
        description="the feature module; the default builds calendar, known-ahead columns, lags and "
        "windows from this spec alone",
    )
    frequency: str = Field(
        default="hourly",
        description=(
            "the step between a series' rows: hourly, daily, weekly, or a pandas offset alias that divides a day "
            "(30min, 15min, 5min, 2h)"
        ),
    )
    horizon: int = Field(ge=1, description="how far ahead the forecast is made, in steps (or a duration: 24h)")
    lags: list[int] = Field(min_length=1, description="in steps or durations (24h, 7d)")
    windows: list[int] = Field(min_length=1, description="rolling mean/std widths, in steps or durations")
    known_ahead: dict[str, SpecColumnType] = Field(
        default={},
        description="raw columns known before the time they describe (planned prices, holidays, "
        "forecasts), used for the row itself; 'string' ones are categorical",
    )
    history_of: list[str] = Field(
        default=[], description="columns whose past becomes lags and windows (default: the target)"
    )
    keys_as_inputs: bool = Field(
        default=True, description="keys are categorical model inputs (a few stores: yes; a million customers: no)"
    )
    acknowledged_target_proxies: list[str] = Field(
        default=[],
        description="known-ahead columns `conveyor validate` found almost equal to the target, kept "
        "on purpose (they are truly known in advance)",
    )
    schedule: str = "@daily"
    start_date: date
    deadline_hours: float | None = Field(
        default=None,
        gt=0,
        description=(
            "a day's features must be published within this many hours after the day ends; later (or a failed "
            "run) raises a deadline alert. Empty: no deadline"
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _hours_spelling(cls, raw):
        if not isinstance(raw, dict):
            return raw
        legacy = {"horizon_hours": "horizon", "lags_hours": "lags", "rolling_hours": "windows"}
        used = [k for k in legacy if k in raw]
        if used and raw.get("frequency", "hourly") != "hourly":
            raise ValueError(
                f"{used} count hours; with frequency {raw['frequency']!r} use horizon, lags and windows (in days)"
            )
        clash = [k for k in used if legacy[k] in raw]
        if clash:
            raise ValueError(f"give either {clash} or {[legacy[k] for k in clash]}, not both")
        raw = {legacy.get(k, k): v for k, v in raw.items()}
        step = cadence.step_of(str(raw.get("frequency", "hourly")))
        out = {**raw, "frequency": cadence.name(step)}
        if "horizon" in raw:
            out["horizon"] = cadence.steps(raw["horizon"], step, "horizon")
        for key in ("lags", "windows"):
            if isinstance(raw.get(key), list):
                out[key] = [cadence.steps(v, step, key) for v in raw[key]]
        return out

    @field_validator("lags")
    @classmethod
    def _lags_respect_horizon(cls, lags: list[int], info) -> list[int]:
        horizon = info.data.get("horizon", 1)
        short = [lag for lag in lags if lag < horizon]
        if short:
            raise ValueError(f"lags {short} are shorter than the horizon ({horizon}) and would leak")
        return lags

    @property
    def step_seconds(self) -> int:
        """Seconds between a series' rows (3600 hourly, 1800 for 30min)."""
        return cadence.step_of(self.frequency)

    def span(self, count: int) -> str:
        """How a feature names ``count`` steps: ``24h``, ``30min``, ``7d``, ``52w``."""
        return cadence.label(count * self.step_seconds, self.step_seconds)

    @property
    def horizon_seconds(self) -> int:
        return self.horizon * self.step_seconds

    @property
    def lag_seconds(self) -> list[int]:
        return [lag * self.step_seconds for lag in self.lags]

    @property
    def window_seconds(self) -> list[int]:
        return [w * self.step_seconds for w in self.windows]

    @property
    def rows_per_day(self) -> int:
        """Rows one series has in a complete day: 48 half-hourly, 24 hourly, 1 daily."""
        return cadence.slots_per_day(self.step_seconds)


# The baselines each task's candidates include (ml_tasks/training/baselines.py trains them).
BASELINE_FAMILIES = {"regression": ["naive"], "classification": ["base_rate", "logistic"]}


class PipelineSpec(Strict):
    """Everything the DAG factory and the task code need to know about one pipeline."""

    name: str = Field(pattern=PIPELINE_NAME)
    description: str = ""
    owner: str = "conveyor"
    task: Literal["regression", "classification"]
    tags: list[str] = []
    data: DataSpec
    features: FeaturesSpec
    training: TrainingSpec
    promotion: PromotionSpec = PromotionSpec()
    scoring: ScoringSpec = ScoringSpec()
    drift: DriftSpec

    @property
    def candidate_families(self) -> list[str]:
        """The families trained as candidates: the task's baselines (unless ``training.baselines`` is
        off), then ``training.models``."""
        baselines = BASELINE_FAMILIES[self.task] if self.training.baselines else []
        if self.features.history_of and self.data.target not in self.features.history_of:
            baselines = [b for b in baselines if b != "naive"]  # no lag of the target: no naive forecast
        return list(dict.fromkeys([*baselines, *self.training.models]))

    @model_validator(mode="before")
    @classmethod
    def _classification_defaults(cls, raw):
        """Classification pipelines default to log loss and a ROC-AUC floor, not MAE and MASE."""
        if isinstance(raw, dict) and raw.get("task") == "classification":
            raw = {**raw}
            promotion = dict(raw.get("promotion") or {})
            promotion.setdefault("metric", "log_loss")
            promotion.setdefault("thresholds", {"roc_auc": 0.6})
            drift = dict(raw.get("drift") or {})
            drift.setdefault("decay_metric", "log_loss")
            training = dict(raw.get("training") or {})
            lgbm = dict(training.get("lightgbm") or {})
            lgbm.setdefault("objective", "binary")
            raw.update(promotion=promotion, drift=drift, training={**training, "lightgbm": lgbm})
        return raw

    @model_validator(mode="after")
    def _inputs_are_not_the_answer(self) -> PipelineSpec:
        """The target, the timestamp or a key listed as an input is a configuration leak: refuse it."""
        d, f = self.data, self.features
        problems = []
        for col in f.known_ahead:
            if col == d.target:
                problems.append(
                    f"features.known_ahead lists the target {col!r}: the model would be given the answer; "
                    f"remove it (the target's past is used through features.lags)"
                )
            elif col == d.timestamp:
                problems.append(
                    f"features.known_ahead lists the timestamp {col!r}; remove it (calendar features "
                    f"come from it already)"
                )
            elif col in d.keys:
                problems.append(
                    f"features.known_ahead lists the key {col!r}; remove it (keys are inputs already, as categories)"
                )
        if d.timestamp in f.history_of or any(k in f.history_of for k in d.keys):
            problems.append("features.history_of may not list the timestamp or a key; list numeric columns")
        if d.events:
            outputs = set(d.aggregations)
            if d.target not in outputs:
                problems.append(
                    f"data.target {d.target!r} must be one of data.events' outputs {sorted(outputs)} "
                    f"(e.g. {d.target}: count)"
                )
            loose = [c for c in [*f.known_ahead, *f.history_of] if c not in outputs and c not in d.keys]
            if loose:
                problems.append(
                    f"with data.events, features.known_ahead and history_of name event outputs; "
                    f"{loose} are not among {sorted(outputs)}: add an aggregation for each"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _metrics_fit_the_task(self) -> PipelineSpec:
        allowed = TASK_METRICS[self.task]
        wrong = {
            f"promotion.metric={self.promotion.metric!r}": self.promotion.metric in allowed["loss"],
            f"drift.decay_metric={self.drift.decay_metric!r}": self.drift.decay_metric in allowed["decay"],
            **{f"promotion.thresholds.{m}": m in allowed["thresholds"] for m in self.promotion.thresholds},
        }
        bad = [k for k, ok in wrong.items() if not ok]
        if bad:
            raise ValueError(
                f"{', '.join(bad)} do not fit task {self.task!r}: use promotion.metric in "
                f"{sorted(allowed['loss'])}, drift.decay_metric in {sorted(allowed['decay'])}, "
                f"thresholds on {sorted(allowed['thresholds'])}"
            )
        return self


TASK_METRICS = {
    "regression": {
        "loss": {"mae", "rmse"},
        "decay": {"mae", "rmse", "wape", "mase"},
        "thresholds": {"mae", "rmse", "wape", "mase"},
    },
    "classification": {
        "loss": {"log_loss", "brier"},
        "decay": {"log_loss", "brier"},
        "thresholds": {"roc_auc", "pr_auc", "f1", "log_loss", "brier", "ece"},
    },
}


def load_spec(name_or_path: str | Path, specs_dir: Path | None = None) -> PipelineSpec:
    """Load and validate a pipeline spec by pipeline name (from ``specs_dir``) or by path."""
    path = Path(name_or_path)
    if path.suffix not in {".yaml", ".yml"}:
        if specs_dir is None:
            raise SpecError(f"pipeline {name_or_path!r}: no specs directory given to look it up in")
        try:
            path = Path(specs_dir) / f"{checked_pipeline_name(str(name_or_path))}.yaml"
        except PipelineNameError as exc:
            raise SpecError(str(exc)) from None
    if not path.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.yaml")) if path.parent.is_dir() else []
        raise SpecError(f"{path}: spec file not found (available pipelines: {available or 'none'})")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        spec = PipelineSpec.model_validate(raw)
    except ValidationError as exc:
        problems = describe_errors(exc, PipelineSpec)
        listed = "".join(f"\n  - {key}: {message}" for key, message in problems)
        raise SpecError(f"{path}: invalid pipeline spec:{listed}", problems) from exc
    if spec.name != path.stem:
        raise SpecError(f"{path}: name {spec.name!r} must match the file name {path.stem!r}")
    return spec
