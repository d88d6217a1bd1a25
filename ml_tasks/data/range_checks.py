"""How a suite is judged over many days at once: which expectations one pass can decide, the per-day facts.

`split_suite` sorts a suite's blocking expectations into those a pass over many days decides
(row-level: they hold for a set of days only if they hold for each) and those decided per day on
facts (row counts, distinct keys, column sets, null and out-of-range shares). `bisect` finds
the failing days of a failed pass; `settle` records flagged and failing days on a
:class:`RangeVerdict`. Used by `ml_tasks.data.range_gates`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.data.expectations import GateResult
from ml_tasks.data.gates import null_share_bound

log = logging.getLogger(__name__)

# Row-level expectations: if they hold for a set of days' rows, they hold for each day's rows.
MONOTONE = {
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_null",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_be_in_type_list",
    "expect_column_values_to_be_of_type",
    "expect_compound_columns_to_be_unique",
    "expect_column_values_to_be_unique",
    "expect_select_column_values_to_be_unique_within_record",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex",
    "expect_column_pair_values_a_to_be_greater_than_b",
    "expect_column_pair_values_to_be_equal",
    "expect_multicolumn_sum_to_equal",
}
# Decided per day on the facts of step 1.
PER_DAY = {
    "expect_table_row_count_to_be_between",
    "expect_column_unique_value_count_to_be_between",
    "expect_column_to_exist",
    "expect_table_columns_to_match_set",
    "expect_table_columns_to_match_ordered_list",
}


@dataclass
class RangeVerdict:
    """Per-day outcome of gating a range: records of the days that passed, results of those that failed."""

    passed: dict[date, dict[str, Any]] = field(default_factory=dict)
    failed: dict[date, GateResult] = field(default_factory=dict)
    checked_per_day: list[date] = field(default_factory=list)
    passes: int = 0  # validation passes over several days

    def merge(self, other: RangeVerdict) -> None:
        self.passed.update(other.passed)
        self.failed.update(other.failed)
        self.checked_per_day += other.checked_per_day
        self.passes += other.passes


def parameterised(kwargs: dict[str, Any]) -> bool:
    return any(isinstance(v, dict) and "$PARAMETER" in v for v in kwargs.values())


def resolve(kwargs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    return {
        k: params.get(v["$PARAMETER"]) if isinstance(v, dict) and "$PARAMETER" in v else v for k, v in kwargs.items()
    }


def split_suite(data: dict[str, Any]) -> tuple[list[dict], list[dict], list[str]]:
    """(expectations for the pass over all days, ones decided on per-day facts, blocking kinds
    that neither can decide). Warnings of other kinds ride along in the pass; they decide nothing."""
    in_pass, per_day, unsupported = [], [], []
    for e in data.get("expectations", []):
        kind, kwargs = e["type"], e.get("kwargs", {})
        blocking = e.get("severity", "critical") != "warning"
        partial = kwargs.get("mostly", 1) < 1 or bool({"null_share", "outside_share"} & set(e.get("meta") or {}))
        if kind in PER_DAY or (
            partial and kind in ("expect_column_values_to_not_be_null", "expect_column_values_to_be_between")
        ):
            per_day.append(e)
        elif kind in MONOTONE and not partial:
            in_pass.append(e)
            if blocking and kind == "expect_column_values_to_be_between" and parameterised(kwargs):
                per_day.append(e)  # the pass checks the range's bounds, the facts each day's own
        elif kind == "expect_column_max_to_be_between" and "min_value" not in kwargs:
            in_pass.append(e)  # a maximum below a bound over all days is below it on each day
        elif kind == "expect_column_min_to_be_between" and "max_value" not in kwargs:
            in_pass.append(e)
        elif blocking:
            unsupported.append(kind)
        else:
            in_pass.append(e)
    return in_pass, per_day, unsupported


def bisect(days: list[date], fails: Callable[[list[date]], bool], limit: int, found: list[date]) -> int:
    """Append the days of ``days`` whose rows fail to ``found`` (stops past ``limit``); returns passes run."""
    if len(found) > limit:
        return 0
    if not fails(days):
        return 1
    if len(days) == 1:
        found.append(days[0])
        return 1
    middle = len(days) // 2
    return 1 + bisect(days[:middle], fails, limit, found) + bisect(days[middle:], fails, limit, found)


def settle(
    stage: str,
    days: list[date],
    flagged: dict[date, list[str]],
    failing: list[date],
    verdict: RangeVerdict,
    max_failures: int | None,
    progress: Callable[[str], None],
    check: Callable[[date], None],
) -> None:
    """Give every flagged or failing day the full per-day gate (stopping once past ``max_failures``)."""
    for d in failing:
        flagged.setdefault(d, []).append("failed in the pass over all days")
    progress(
        f"{stage} gate: {len(days)} day(s) in {verdict.passes} validation pass(es); "
        f"{len(flagged)} day(s) get the per-day gate"
    )
    for d in sorted(flagged):
        if max_failures is not None and len(verdict.failed) > max_failures:
            break
        check(d)


def read_days(lake: Lake, spec: PipelineSpec, days: list[date]) -> tuple[dict[date, pd.DataFrame], list[date]]:
    frames, unreadable = {}, []
    for d in days:
        try:
            frames[d] = lake.read_partition("raw", spec.name, d)
        except Exception as exc:  # the per-day gate reports it as a failure
            log.warning("raw %s unreadable (%s); it gets the per-day gate", d, exc)
            unreadable.append(d)
    return frames, unreadable


def signature(frame: pd.DataFrame) -> tuple:
    return tuple((c, str(t)) for c, t in sorted(frame.dtypes.astype(str).items()))


def count_ok(n: int, kw: dict[str, Any]) -> bool:
    return (kw.get("min_value") is None or n >= kw["min_value"]) and (
        kw.get("max_value") is None or n <= kw["max_value"]
    )


def per_day_flags(frame: pd.DataFrame, checks: list[dict], params: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The per-day expectations ``frame`` (one day) breaks, judged on its facts: (blocking, warnings)."""
    broken, warned = [], []
    rows = len(frame)
    for e in checks:
        detail = ""
        kind, kw = e["type"], resolve(e.get("kwargs", {}), params)
        column = kw.get("column")
        if kind == "expect_table_row_count_to_be_between":
            ok = count_ok(rows, kw)
        elif kind == "expect_column_unique_value_count_to_be_between":
            ok = count_ok(frame[column].nunique() if column in frame else 0, kw)
        elif kind == "expect_column_to_exist":
            ok = column in frame
        elif kind == "expect_table_columns_to_match_set":
            expected, present = set(kw.get("column_set") or []), set(frame.columns)
            ok = present == expected if kw.get("exact_match", True) else expected <= present
        elif kind == "expect_table_columns_to_match_ordered_list":
            ok = list(frame.columns) == list(kw.get("column_list") or [])
        elif kind == "expect_column_values_to_not_be_null":
            share = (e.get("meta") or {}).get("null_share")
            limit = null_share_bound(share, rows) if share is not None else 1 - kw.get("mostly", 1)
            nulls = float(frame[column].isna().mean()) if column in frame and rows else 0.0
            ok = column in frame and nulls <= limit + 1e-12
            detail = f": {nulls:.2%} of rows"
        elif kind == "expect_column_values_to_be_between":
            values = frame[column] if column in frame else None
            share = (e.get("meta") or {}).get("outside_share")
            if values is None:
                ok = False
            elif share is not None or kw.get("mostly", 1) < 1:
                limit = null_share_bound(share, rows) if share is not None else 1 - kw.get("mostly", 1)
                ok = _outside_share(values, kw) <= limit + 1e-12
            else:
                ok = between(values, kw)
        else:
            ok = False
        if not ok:
            label = f"{kind}({column or 'table'})" + (detail if e.get("severity") == "warning" else "")
            (broken if e.get("severity", "critical") != "warning" else warned).append(label)
    return broken, warned


def _outside_share(values: pd.Series, kw: dict[str, Any]) -> float:
    """Share of the non-null values outside the expectation's bounds."""
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return 0.0
    low, high = kw.get("min_value"), kw.get("max_value")
    outside = pd.Series(False, index=values.index)
    if low is not None:
        outside |= values <= low if kw.get("strict_min") else values < low
    if high is not None:
        outside |= values >= high if kw.get("strict_max") else values > high
    return float(outside.mean())


def between(values: pd.Series, kw: dict[str, Any]) -> bool:
    values = values.dropna()
    if values.empty:
        return True
    low, high = kw.get("min_value"), kw.get("max_value")
    try:
        if low is not None and not (values > low if kw.get("strict_min") else values >= low).all():
            return False
        if high is not None and not (values < high if kw.get("strict_max") else values <= high).all():
            return False
    except TypeError:
        return False
    return True
