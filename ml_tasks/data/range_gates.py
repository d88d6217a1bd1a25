"""Gating many days at once: one validation pass over a backfill's days, per-day checks only where needed.

The daily DAG validates one partition at a time. A backfill of two years that did the same would
pay Great Expectations' fixed cost 730 times (about a quarter of a second a day on 2 cores, plus
reading each day's history). Here the days of a backfill are judged together:

1. **Per-day facts, for all days at once** (pandas for raw days, one Spark aggregation for
   features): row counts, distinct keys, each series' total against its recent daily mean,
   null shares, column sets and types, and the per-day parameterised bounds (a partition holds
   exactly its own day). Expectations whose verdict depends on the day (volume against history,
   the day's interval, null shares calibrated to the day's size or explained by raw gaps) are
   checked on these facts; a day that breaks one is *flagged*.
2. **One pass for the rest.** The remaining blocking expectations hold for a set of rows only
   if they hold for every day in it (no value out of range, no null, no duplicate key, types,
   nothing in the future). They run once over all days. When that pass fails, halves are
   validated until the failing days are found (about 2 k log2(n/k) passes for k bad days of n).
3. **The per-day gate decides.** Flagged and failing days get the full per-day check, the same
   one the daily DAG runs; its result is the verdict and the quarantine report. Every other day
   passes with the range pass's record and its own coverage.

A suite with an expectation of another kind (a column mean, a quantile: not decided per day by
a pass over many days) is checked per day for every day, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ml_tasks.core import events
from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.data.expectations import build_suite, read_suite, validate
from ml_tasks.data.feature_nulls import raw_rows_by_day
from ml_tasks.data.gate_records import gate_record
from ml_tasks.data.gates import (
    HISTORY_DAYS,
    JUMP_COLUMN,
    calibrate,
    check_raw_partition,
    coverage,
    history_parameters,
    interval_parameters,
    jump_ratios,
    raw_step,
    series_totals,
    spanning,
    utc_naive,
)
from ml_tasks.data.range_checks import (
    RangeVerdict,
    bisect,
    per_day_flags,
    read_days,
    settle,
    signature,
    split_suite,
)

log = logging.getLogger(__name__)


def gate_raw_days(
    lake: Lake,
    expectations_dir: Path,
    spec: PipelineSpec,
    days: list[date],
    now: datetime | None = None,
    max_failures: int | None = None,
    chunk_rows: int = 2_000_000,
    progress: Callable[[str], None] = lambda m: None,
) -> RangeVerdict:
    """Gate the raw partitions of ``days`` in as few validation passes as the suite allows; moves nothing.

    ``max_failures`` stops the search for bad days once more than that many are found (the
    caller is about to refuse the backfill anyway).
    """
    days = sorted(set(days))
    rows = raw_rows_by_day(lake, spec, days)
    verdict = RangeVerdict()
    chunk: list[date] = []
    total = 0
    for d in days:
        if chunk and total + rows[d] > chunk_rows:
            verdict.merge(_gate_raw_chunk(lake, expectations_dir, spec, chunk, now, max_failures, progress))
            chunk, total = [], 0
        chunk.append(d)
        total += rows[d]
    if chunk:
        verdict.merge(_gate_raw_chunk(lake, expectations_dir, spec, chunk, now, max_failures, progress))
    return verdict


def _gate_raw_chunk(lake, expectations_dir, spec, days, now, max_failures, progress) -> RangeVerdict:
    keys, target, ts = list(spec.data.keys), spec.data.target, spec.data.timestamp
    step = raw_step(spec)
    data = read_suite(expectations_dir, spec.data.raw_suite)
    in_pass, per_day, unsupported = split_suite(calibrate(data, spec, 0, "raw"))
    verdict = RangeVerdict()
    if unsupported:
        log.warning(
            "suite %s has %s, which a pass over many days cannot decide per day: gating each day",
            spec.data.raw_suite,
            sorted(set(unsupported)),
        )
        return _per_day(lake, expectations_dir, spec, days, now, data, verdict)

    published = lake.partitions("raw", spec.name)
    before = [d for d in published if d < days[0]][-HISTORY_DAYS:]
    frames, unreadable = read_days(lake, spec, [*before, *days])
    flagged: dict[date, list[str]] = {d: ["unreadable partition"] for d in unreadable if d in days}
    order = [d for d in [*before, *days] if d in frames]
    signatures = pd.Series({d: signature(frames[d]) for d in days if d in frames})
    usual = signatures.mode().iloc[0] if len(signatures) else None
    for d, sig in signatures.items():
        if sig != usual:
            flagged.setdefault(d, []).append("columns or types differ from the other days")

    # Per-day facts from the partitions before each day (as the per-day gate reads its history): volume
    # and distinct keys of the raw rows, series and totals of the series view (an events pipeline's slots).
    views = {d: events.series_view(frames[d], spec) for d in order}
    counts = {d: len(frames[d]) for d in order}
    distinct = {k: {d: frames[d][k].nunique() if k in frames[d] else 0 for d in order} for k in keys}
    series_n = {d: (len(views[d].drop_duplicates(keys)) if keys and set(keys) <= set(views[d]) else 1) for d in order}
    numeric = {d for d in order if target in views[d] and pd.api.types.is_numeric_dtype(views[d][target])}
    totals = pd.DataFrame({d: series_totals(views[d], keys, target) for d in order if d in numeric}).T
    usual_totals = totals.shift(1).rolling(HISTORY_DAYS, min_periods=1).mean() if len(totals) else totals
    position = {d: i for i, d in enumerate(order)}
    pass_frames, day_of_row, warnings = [], [], {}
    for d in days:
        if d not in frames:
            continue
        past = order[max(0, position[d] - HISTORY_DAYS) : position[d]]
        hist = {"row_counts": [counts[p] for p in past], "distinct": {k: [distinct[k][p] for p in past] for k in keys}}
        params = {**interval_parameters(d, now, naive=True, step=step), **history_parameters(hist, keys)}
        frame = utc_naive(_with_jump(frames[d], views[d], keys, target, usual_totals, d), ts)
        broken, warnings[d] = per_day_flags(frame, per_day, params)
        if broken:
            flagged.setdefault(d, []).extend(broken)
        if signatures.get(d) == usual:
            pass_frames.append(frame)
            day_of_row.append(np.full(len(frame), d.toordinal()))
    joined = pd.concat(pass_frames, ignore_index=True) if pass_frames else pd.DataFrame()
    day_of_row = np.concatenate(day_of_row) if day_of_row else np.zeros(0, dtype=int)
    range_params = spanning(
        interval_parameters(days[0], now, naive=True, step=step),
        interval_parameters(days[-1], now, naive=True, step=step),
    )
    pass_suite = build_suite({**data, "expectations": in_pass})
    blocking = build_suite({**data, "expectations": [e for e in in_pass if e.get("severity", "critical") != "warning"]})
    range_result = validate(joined, pass_suite, range_params, keys=[*keys, ts]) if len(joined) else None
    verdict.passes += 1
    failing: list[date] = []
    if range_result is not None and not range_result.success:
        candidates = sorted({date.fromordinal(int(o)) for o in np.unique(day_of_row)})

        def fails(subset: list[date]) -> bool:
            mask = np.isin(day_of_row, [d.toordinal() for d in subset])
            return not validate(joined[mask], blocking, range_params, verdict_only=True).success

        verdict.passes += bisect(candidates, fails, max_failures if max_failures is not None else len(days), failing)
    settle(
        "raw",
        days,
        flagged,
        failing,
        verdict,
        max_failures,
        progress,
        lambda d: _check_one(lake, expectations_dir, spec, d, now, data, verdict),
    )
    scope = f"range {days[0]}..{days[-1]}"
    for d in days:
        if d in flagged or d not in frames:
            continue
        past = order[max(0, position[d] - HISTORY_DAYS) : position[d]]
        record = gate_record(range_result, scope=scope) if range_result is not None else {}
        record["warnings"] = [*record.get("warnings", []), *warnings.get(d, [])]
        record["coverage"] = coverage(views[d], spec, [series_n[p] for p in past])
        verdict.passed[d] = record
    return verdict


def _with_jump(
    frame: pd.DataFrame, view: pd.DataFrame, keys: list[str], target: str, usual_totals: pd.DataFrame, d: date
) -> pd.DataFrame:
    """``_target_jump_ratio`` as :func:`ml_tasks.data.gates.with_jump_ratio` computes it, from the range's totals."""
    out = frame.copy()
    out[JUMP_COLUMN] = float("nan")
    if d not in usual_totals.index or not set([*keys, target]) <= set(view.columns):
        return out
    if not pd.api.types.is_numeric_dtype(view[target]):
        return out
    out[JUMP_COLUMN] = jump_ratios(frame, keys, series_totals(view, keys, target), usual_totals.loc[d])
    return out


def _check_one(lake, expectations_dir, spec, d, now, data, verdict: RangeVerdict) -> None:
    result = check_raw_partition(lake, expectations_dir, spec, d, now, suite_data=data)
    verdict.checked_per_day.append(d)
    if result.success:
        verdict.passed[d] = gate_record(result)
    else:
        verdict.failed[d] = result


def _per_day(lake, expectations_dir, spec, days, now, data, verdict: RangeVerdict) -> RangeVerdict:
    for d in days:
        _check_one(lake, expectations_dir, spec, d, now, data, verdict)
    return verdict


def gate_raw_each_day(
    lake: Lake, expectations_dir: Path, spec: PipelineSpec, days: list[date], now: datetime | None = None
) -> RangeVerdict:
    """The per-day loop: every day through the full per-day gate (the daily DAG's way; the bench's peer)."""
    return _per_day(
        lake,
        expectations_dir,
        spec,
        sorted(set(days)),
        now,
        read_suite(expectations_dir, spec.data.raw_suite),
        RangeVerdict(),
    )
