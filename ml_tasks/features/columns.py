"""Feature column names and roles, from a pipeline spec alone (no pyspark, no torch).

The Spark feature job (`spark_jobs.series_features`) builds these columns; training, scoring,
drift checks and the gates only need their names and roles, so a GPU training pod never imports
pyspark to learn them. Lag and window names carry their span (see :mod:`ml_tasks.core.cadence`):
``lag_24h`` for an hourly or half-hourly pipeline, ``lag_30min``, ``lag_7d`` for a daily one.

A pipeline with its own feature module (``features.module``) names its columns there, in
``feature_columns(spec)`` (and optionally ``categorical_columns(spec)``); such a module imports
pyspark only inside ``build_features``, so that naming its columns needs no Spark
(``tests/unit/test_architecture.py`` imports the shipped ones with pyspark blocked).
"""

from __future__ import annotations

import importlib
import math
import sys
from types import ModuleType

from ml_tasks.core import cadence
from ml_tasks.core.spec import DEFAULT_FEATURE_MODULE, PipelineSpec


def calendar_columns(spec: PipelineSpec) -> list[str]:
    return cadence.calendar_columns(spec.features.step_seconds)


def history_columns(spec: PipelineSpec) -> list[str]:
    """Columns whose past becomes lags and windows: ``features.history_of``, default the target."""
    return list(spec.features.history_of) or [spec.data.target]


def lag_name(spec: PipelineSpec, lag: int, column: str | None = None) -> str:
    prefix = "" if column in (None, spec.data.target) else f"{column}_"
    return f"{prefix}lag_{spec.features.span(lag)}"


def lag_and_window_columns(spec: PipelineSpec, history_of: list[str] | None = None) -> list[str]:
    """Names of the lag and rolling-window features of each ``history_of`` column (default: the spec's).

    The target's are ``lag_24h``, ``rolling_mean_168h``...; another column's carry its name first,
    ``logins_lag_24h``, ``logins_rolling_mean_168h``.
    """
    f = spec.features
    out = []
    for col in history_of or history_columns(spec):
        prefix = "" if col == spec.data.target else f"{col}_"
        out += [f"{prefix}lag_{f.span(lag)}" for lag in f.lags]
        out += [f"{prefix}rolling_{stat}_{f.span(w)}" for w in f.windows for stat in ("mean", "std")]
    return out


def categorical_columns(spec: PipelineSpec) -> list[str]:
    """Model inputs that are categories: the keys (unless ``keys_as_inputs`` is off) and the text
    known-ahead columns."""
    keys = spec.data.keys if spec.features.keys_as_inputs else []
    return [*keys, *(c for c, kind in spec.features.known_ahead.items() if kind == "string")]


def feature_columns(spec: PipelineSpec) -> list[str]:
    """Model inputs in a fixed order: keys, calendar, known-ahead columns, lags and windows."""
    keys = spec.data.keys if spec.features.keys_as_inputs else []
    return [*keys, *calendar_columns(spec), *spec.features.known_ahead, *lag_and_window_columns(spec)]


def raw_input_columns(spec: PipelineSpec) -> list[str]:
    """The raw columns the features are made from; gates block only on expectations about these."""
    d = spec.data
    return list(dict.fromkeys([d.timestamp, *d.keys, d.target, *spec.features.known_ahead, *history_columns(spec)]))


def naive_columns(spec: PipelineSpec) -> list[str]:
    """The target lags that are the naive forecasts of the cadence, in this order: the value one
    horizon ago, then one seasonal period ago (the shortest multiple of the period not shorter than
    the horizon). Only lags the spec builds count; with none of these, its shortest lag. Empty when
    the target has no lags (``history_of`` without it)."""
    if spec.data.target not in history_columns(spec):
        return []
    f = spec.features
    periods = cadence.seasonal_periods(f.step_seconds)
    wanted = [f.horizon] + [period * math.ceil(f.horizon / period) for period in periods]
    present = [lag for lag in dict.fromkeys(wanted) if lag in f.lags]
    return [lag_name(spec, lag) for lag in present or [min(f.lags)]]


def feature_module(spec: PipelineSpec) -> ModuleType:
    """Import the pipeline's feature module named in its spec (the Spark job calls its ``build_features``)."""
    try:
        return importlib.import_module(spec.features.module)
    except ImportError as exc:
        raise ImportError(
            f"pipeline {spec.name!r}: features.module {spec.features.module!r} cannot be imported: {exc}"
        ) from exc


def _naming_module(spec: PipelineSpec) -> ModuleType:
    """Where the column names come from: this module for the default feature module, else the pipeline's own."""
    return sys.modules[__name__] if spec.features.module == DEFAULT_FEATURE_MODULE else feature_module(spec)


def feature_names(spec: PipelineSpec) -> list[str]:
    """The model inputs of a pipeline, in the fixed order every model family and server uses."""
    return list(_naming_module(spec).feature_columns(spec))


def categorical_features(spec: PipelineSpec, features: list[str]) -> list[str]:
    """The categorical model inputs: the feature module's ``categorical_columns(spec)``, else the
    keys and the text known-ahead columns of the spec."""
    module = _naming_module(spec)
    columns = module.categorical_columns(spec) if hasattr(module, "categorical_columns") else categorical_columns(spec)
    return [c for c in columns if c in features]


def lookback_days(spec: PipelineSpec) -> int:
    """Days of raw history a day's features need before it."""
    f = spec.features
    seconds = max(max(f.lag_seconds), f.horizon_seconds + max(f.window_seconds + [cadence.WEEK]))
    return math.ceil(seconds / cadence.DAY)
