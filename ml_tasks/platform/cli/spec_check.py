"""`conveyor validate`: every check a pipeline spec must pass before its DAGs can work.

Parsing (``ml_tasks.core.spec.load_spec``) catches unknown keys, wrong types and values; this module
adds what needs the rest of the project: schedules that are valid cron, a feature module that
imports and has the two functions the job calls, expectation suites that exist and load, the
timestamp, keys and target present in the raw schema (from the raw suite, and from the newest
raw partition when one exists), drift columns the feature module produces, and leakage by
configuration: the target among the model inputs, or a known-ahead input that is almost the
target in the landed data (``ml_tasks.data.leakage``) and not acknowledged in the spec. Every problem
names the file, the key and the fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ml_tasks.core import events
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.core.spec import PipelineSpec, SpecError, load_spec

CRON_PRESETS = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight"}


@dataclass(frozen=True)
class Problem:
    file: Path
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


def check_all(settings: ConveyorSettings, names: list[str] | None = None) -> dict[str, list[Problem]]:
    """Problems per pipeline (empty list = valid), for ``names`` or every spec in the specs folder."""
    paths = [settings.specs_dir / f"{n}.yaml" for n in names] if names else sorted(settings.specs_dir.glob("*.yaml"))
    return {p.stem: check_file(settings, p) for p in paths}


def check_file(settings: ConveyorSettings, path: Path) -> list[Problem]:
    try:
        spec = load_spec(path)
    except SpecError as exc:
        return [Problem(path, key, msg.removeprefix(f"{path}: ")) for key, msg in exc.problems]
    problems = _schedules(path, spec) + _suites(settings, path, spec)
    module, module_problems = _feature_module(path, spec)
    problems += module_problems
    problems += _raw_columns(settings, path, spec)
    problems += _off_cadence(settings, path, spec)
    problems += _leakage(settings, path, spec, module)
    if module is not None:
        produced = set(module.feature_columns(spec))
        for col in spec.drift.columns:
            if col not in produced:
                problems.append(
                    Problem(
                        path,
                        "drift.columns",
                        f"{col!r} is not a feature of {spec.features.module} "
                        f"(it makes {sorted(produced)}); monitor one of those",
                    )
                )
    return problems


def _schedules(path: Path, spec: PipelineSpec) -> list[Problem]:
    from croniter import croniter

    out = []
    for key, value in (
        ("features.schedule", spec.features.schedule),
        ("training.schedule", spec.training.schedule),
        ("scoring.schedule", spec.scoring.schedule),
        ("drift.schedule", spec.drift.schedule),
    ):
        if value not in CRON_PRESETS and not croniter.is_valid(value):
            out.append(
                Problem(
                    path,
                    key,
                    f"{value!r} is not a cron expression; use five fields like "
                    f"'0 2 * * *' (02:00 UTC daily) or a preset {sorted(CRON_PRESETS)}",
                )
            )
    return out


def _feature_module(path: Path, spec: PipelineSpec):
    import importlib

    try:
        module = importlib.import_module(spec.features.module)
    except Exception as exc:  # any import failure is the user's to fix
        return None, [
            Problem(
                path,
                "features.module",
                f"{spec.features.module!r} cannot be imported "
                f"({type(exc).__name__}: {exc}); create it (conveyor new-pipeline writes one) or fix the name",
            )
        ]
    missing = [f for f in ("build_features", "feature_columns") if not callable(getattr(module, f, None))]
    if missing:
        return None, [
            Problem(
                path,
                "features.module",
                f"{spec.features.module} lacks {missing}; a feature "
                "module defines build_features(raw_df, spec) and feature_columns(spec)",
            )
        ]
    return module, []


def _suites(settings: ConveyorSettings, path: Path, spec: PipelineSpec) -> list[Problem]:
    from ml_tasks.data.expectations import load_suite

    out = []
    for key, name in (("data.raw_suite", spec.data.raw_suite), ("data.features_suite", spec.data.features_suite)):
        try:
            load_suite(settings.expectations_dir, name)
        except FileNotFoundError:
            out.append(
                Problem(
                    path,
                    key,
                    f"no suite {settings.expectations_dir / (name + '.json')}; create it "
                    "(conveyor new-pipeline --from-sample profiles one) or fix the name",
                )
            )
        except ValueError as exc:
            out.append(Problem(path, key, str(exc)))
    return out


def raw_schema_columns(settings: ConveyorSettings, spec: PipelineSpec) -> tuple[set[str], str] | None:
    """Raw columns and where they came from: the newest raw partition, else the raw suite."""
    from ml_tasks.core.lake import Lake

    lake = Lake.from_settings(settings)
    days = lake.partitions("raw", spec.name)
    if days:
        import pyarrow.parquet as pq

        first = lake.parquet_files(lake.partition("raw", spec.name, days[-1]))[0]
        with lake.fs.open(first, "rb") as fh:
            return set(pq.ParquetFile(fh).schema_arrow.names), f"raw partition {days[-1]}"
    suite = settings.expectations_dir / f"{spec.data.raw_suite}.json"
    if not suite.is_file():
        return None
    columns = {
        e["kwargs"]["column"]
        for e in json.loads(suite.read_text()).get("expectations", [])
        if e.get("type") == "expect_column_to_exist" and "column" in e.get("kwargs", {})
    }
    return (columns, f"suite {spec.data.raw_suite}") if columns else None


def _raw_columns(settings: ConveyorSettings, path: Path, spec: PipelineSpec) -> list[Problem]:
    found = raw_schema_columns(settings, spec)
    if found is None:
        return []
    columns, source = found
    out = []
    target = (
        ("data.events", events.sources(spec.data.aggregations))
        if spec.data.events
        else ("data.target", [spec.data.target])
    )
    for key, names in (("data.timestamp", [spec.data.timestamp]), ("data.keys", list(spec.data.keys)), target):
        for name in names:
            if name not in columns:
                out.append(
                    Problem(
                        path,
                        key,
                        f"{name!r} is not a raw column ({source} has {sorted(columns)}); "
                        "use one of those or fix the raw data",
                    )
                )
    return out


def _off_cadence(settings: ConveyorSettings, path: Path, spec: PipelineSpec) -> list[Problem]:
    """Timestamps of the newest raw day that are not on the spec's cadence (23:30 in 'hourly' data)."""
    from ml_tasks.core import cadence
    from ml_tasks.core.lake import Lake

    step = spec.features.step_seconds
    lake = Lake.from_settings(settings)
    days = lake.partitions("raw", spec.name)
    if spec.data.events or step >= cadence.DAY or not days:
        return []
    try:
        times = lake.read_partition("raw", spec.name, days[-1], columns=[spec.data.timestamp])[spec.data.timestamp]
        seconds = (times - times.dt.normalize()).dt.total_seconds().astype("int64")
    except Exception:  # unreadable or not times: the raw gate says so
        return []
    off = seconds % step != 0
    if not off.any():
        return []
    try:
        seen = f"; the data looks {cadence.name(cadence.detect(times))}: set features.frequency to that"
    except cadence.CadenceError as exc:
        seen = f"; {exc}"
    example = times[off].iloc[0].strftime("%H:%M:%S")
    return [
        Problem(
            path,
            "features.frequency",
            f"{int(off.sum())} of {len(times)} rows of raw day {days[-1]} are off "
            f"the {spec.features.frequency} grid (e.g. {example}){seen}",
        )
    ]


LEAKAGE_SAMPLE_DAYS = 60
LEAKAGE_SAMPLE_ROWS = 200_000


def _leakage(settings: ConveyorSettings, path: Path, spec: PipelineSpec, module) -> list[Problem]:
    """The target as an input, or inputs that nearly are the target in the newest raw data."""
    out = []
    if module is not None:
        inputs = module.feature_columns(spec)
        for col in (spec.data.target, spec.data.timestamp):
            if col in inputs:
                what = "the target: the model would be given the answer" if col == spec.data.target else "the timestamp"
                out.append(
                    Problem(
                        path,
                        "features.module",
                        f"{spec.features.module}.feature_columns(spec) includes "
                        f"{col!r} ({what}); "
                        f"remove it from the module's inputs (KNOWN_AHEAD or feature_columns)",
                    )
                )
        known = list(spec.features.known_ahead) or list(getattr(module, "KNOWN_AHEAD", {}) or {})
    else:
        known = list(spec.features.known_ahead)
    candidates = [c for c in known if c not in spec.features.acknowledged_target_proxies]
    if not candidates:
        return out
    import pandas as pd

    from ml_tasks.core.lake import Lake
    from ml_tasks.data.leakage import target_proxies

    lake = Lake.from_settings(settings)
    days, frames, rows = [], [], 0
    for day in reversed(lake.partitions("raw", spec.name)[-LEAKAGE_SAMPLE_DAYS:]):  # newest first, enough rows
        try:
            frame = lake.read_partition("raw", spec.name, day)
        except Exception:  # unreadable raw data is the gate's to report
            continue
        frame = events.series_view(frame, spec)  # an events pipeline: its slots, where the target is
        frames.append(frame[[c for c in (spec.data.target, *candidates) if c in frame.columns]])
        days.append(day)
        rows += len(frame)
        if rows >= LEAKAGE_SAMPLE_ROWS:
            break
    if not frames:
        return out
    frame = pd.concat(frames, ignore_index=True)
    for proxy in target_proxies(frame, spec.data.target, candidates):
        out.append(
            Problem(
                path,
                "features.known_ahead",
                f"{', '.join(proxy.columns)}: {proxy.reason} in the newest "
                f"{len(days)} raw day(s): the model would learn the answer, not a forecast. Remove "
                f"{'it' if len(proxy.columns) == 1 else 'them'} from features.known_ahead, or, if truly "
                f"known in advance, list {'it' if len(proxy.columns) == 1 else 'them'} under "
                f"features.acknowledged_target_proxies",
            )
        )
    return out
