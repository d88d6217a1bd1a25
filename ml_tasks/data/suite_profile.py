"""Starting expectation suites for a new pipeline, profiled from a sample of its raw data.

The raw suite checks structure (columns, types, nulls, unique series hours, the day's interval,
nothing in the future), volume and distinct keys against recent history (parameters the gate
computes), the target's jump against each series' recent mean, and value ranges seen in the
sample. Every expectation carries a note saying why it exists; edit them like code.

Null checks on the other columns carry the share of nulls profiled from the whole sample
(``meta.null_share``) instead of a fixed ``mostly``: the gate turns it into a bound that fits
each partition's size, and expectations on columns no feature uses only warn (``ml_tasks.data.gates``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ml_tasks.data.gates import JUMP_COLUMN

INT_TYPES = ["int64", "int32", "int16", "int8", "Int64", "Int32", "uint32", "uint16", "uint8"]
FLOAT_TYPES = ["float64", "float32", "Float64", *INT_TYPES]
TIME_TYPES = ["datetime64[ns]", "datetime64[us]", "datetime64[ms]", "datetime64[s]"]


def _e(kind: str, notes: str, severity: str | None = None, **kwargs) -> dict[str, Any]:
    out = {"type": kind, "kwargs": kwargs, "meta": {"notes": notes}}
    if severity:
        out["severity"] = severity
    return out


def profiled_range(values: pd.Series) -> dict[str, Any]:
    """The range the data lives in: its 0.1% and 99.9% quantiles widened by a tenth of the span,
    with the share of values outside it (``meta.outside_share``), which the gate calibrates to each
    partition's size like a null share (a new record value is fine, a unit change is not)."""
    clean = pd.to_numeric(values, errors="coerce").dropna()
    low, high = float(clean.quantile(0.001)), float(clean.quantile(0.999))
    pad = 0.1 * (high - low)
    low, high = round(low - pad, 6), round(high + pad, 6)
    outside = float(((clean < low) | (clean > high)).mean()) if len(clean) else 0.0
    e = _e(
        "expect_column_values_to_be_between",
        f"{clean.name}: 99.8% of the profiled values lie in "
        f"[{low}, {high}] (the 0.1%..99.9% quantiles, widened by a tenth); a few outside are allowed, many mean "
        "a unit or scale change upstream",
        column=clean.name,
        min_value=low,
        max_value=high,
    )
    e["meta"]["outside_share"] = round(outside, 6)
    return e


def _unique_rows(keys: list[str], timestamp: str, notes: str) -> dict[str, Any]:
    if not keys:  # a single series: the time alone identifies a row
        return _e("expect_column_values_to_be_unique", notes, column=timestamp)
    return _e("expect_compound_columns_to_be_unique", notes, column_list=[*keys, timestamp])


def _type_list(series: pd.Series) -> list[str] | None:
    if pd.api.types.is_bool_dtype(series):
        return ["bool", "boolean"]
    if pd.api.types.is_integer_dtype(series):
        return INT_TYPES
    if pd.api.types.is_float_dtype(series):
        return FLOAT_TYPES
    return None


def raw_suite(
    name: str,
    timestamp: str,
    keys: list[str],
    target: str,
    sample: pd.DataFrame | None,
    binary_target: bool = False,
    events: bool = False,
) -> dict[str, Any]:
    """The raw suite as JSON-ready data; ``sample`` (or None) supplies columns, types and ranges.

    ``events``: the rows are events (``data.events``), validated as they came: the target is an
    aggregate, not a raw column, and many events may share a series and time.
    """
    columns = list(sample.columns) if sample is not None else [timestamp, *keys, *([] if events else [target])]
    ex = [
        _e(
            "expect_column_to_exist",
            {timestamp: "the event time; every feature window is keyed on it", target: "the target"}.get(
                c, "series key" if c in keys else "seen in the sample"
            ),
            column=c,
        )
        for c in columns
    ]
    if sample is not None:
        ex.append(
            _e(
                "expect_table_columns_to_match_set",
                "extra columns are allowed but reported: they often mean an upstream schema change",
                severity="warning",
                column_set=[*columns, JUMP_COLUMN],
                exact_match=True,
            )
        )
    ex.append(
        _e(
            "expect_column_values_to_be_in_type_list",
            "event hours must be timestamps (UTC; the gate converts zone-aware ones), not strings",
            column=timestamp,
            type_list=TIME_TYPES,
        )
    )
    ex.append(
        _e(
            "expect_table_row_count_to_be_between",
            "volume against history: half to twice the median row "
            "count of the last 7 partitions; a partial export or a double load shows here",
            min_value={"$PARAMETER": "min_rows"},
            max_value={"$PARAMETER": "max_rows"},
        )
    )
    for k in keys:
        ex.append(
            _e(
                "expect_column_unique_value_count_to_be_between",
                f"at least 80% of the {k} values seen recently; fewer means a partial export",
                column=k,
                min_value={"$PARAMETER": f"min_distinct_{k}"},
            )
        )
    for c in [timestamp, *keys, *([] if events else [target])]:
        ex.append(
            _e(
                "expect_column_values_to_not_be_null",
                "a row without it cannot be placed in a series or poisons lags and windows",
                column=c,
            )
        )
    if binary_target:
        ex.append(_e("expect_column_values_to_be_in_set", "a binary label: 0 or 1", column=target, value_set=[0, 1]))
    if sample is not None:
        for c in columns:
            if c in (timestamp, *keys):
                continue
            types = _type_list(sample[c])
            if types:
                ex.append(
                    _e(
                        "expect_column_values_to_be_in_type_list",
                        f"the sample has {sample[c].dtype}; text or another type means the export format changed",
                        column=c,
                        type_list=types,
                    )
                )
            if c != target:
                null_rate = float(sample[c].isna().mean())
                e = _e(
                    "expect_column_values_to_not_be_null",
                    f"{null_rate:.2%} nulls in the profiled data; the gate "
                    "allows what chance explains at that rate for each partition's size, so a spike means the "
                    "feed broke",
                    column=c,
                )
                e["meta"]["null_share"] = round(null_rate, 6)
                ex.append(e)
            if pd.api.types.is_numeric_dtype(sample[c]) and not pd.api.types.is_bool_dtype(sample[c]):
                low = float(sample[c].min())
                if low >= 0:
                    ex.append(
                        _e(
                            "expect_column_values_to_be_between",
                            "never negative in the sample; a negative value is a booking or sign error",
                            column=c,
                            min_value=0,
                        )
                    )
                if c != target and sample[c].nunique() > 10:
                    ex.append(profiled_range(sample[c]))
    if not events:  # many events may share a series and time
        ex.append(
            _unique_rows(
                keys,
                timestamp,
                "one row per series and time; duplicates double-count (a repeated "
                "delivery of identical rows is dropped when landed)",
            )
        )
    ex.append(
        _e(
            "expect_column_values_to_be_between",
            "a partition holds exactly its own UTC day",
            column=timestamp,
            min_value={"$PARAMETER": "interval_start"},
            max_value={"$PARAMETER": "interval_last_slot"},
        )
    )
    ex.append(
        _e(
            "expect_column_max_to_be_between",
            "events cannot be in the future; future hours mean a clock or time-zone bug upstream",
            column=timestamp,
            max_value={"$PARAMETER": "now"},
        )
    )
    if not binary_target:  # a label has no volume to jump
        ex.append(
            _e(
                "expect_column_values_to_be_between",
                "a series at 50x its recent daily total is almost always "
                "a unit or decimal error; derived by the gate, NaN for series without history",
                column=JUMP_COLUMN,
                max_value=50,
            )
        )
    return {
        "name": f"{name}_raw",
        "meta": {
            "notes": f"Gate on each landed raw partition of the {name} pipeline "
            "(one UTC day). Generated by `conveyor new-pipeline`; review and edit."
        },
        "expectations": ex,
    }


def features_suite(
    name: str, timestamp: str, keys: list[str], target: str, lag_columns: list[str], binary_target: bool = False
) -> dict[str, Any]:
    """The features suite: rows for the day, the target, calendar ranges, filled lags, unique rows."""
    ex = [
        _e("expect_table_row_count_to_be_between", "the feature job must produce rows for its day", min_value=1),
        _e("expect_column_values_to_not_be_null", "training needs the target on every row", column=target),
        _e(
            "expect_column_values_to_be_between",
            "Monday = 0 .. Sunday = 6 (UTC)",
            column="day_of_week",
            min_value=0,
            max_value=6,
        ),
    ]
    if binary_target:
        ex.append(_e("expect_column_values_to_be_in_set", "a binary label: 0 or 1", column=target, value_set=[0, 1]))
    for col in lag_columns:
        ex.append(
            _e(
                "expect_column_values_to_not_be_null",
                "a lag is null only where the raw data has a gap; the "
                "gate allows as many nulls as the raw gaps explain (plus chance), so more means the job lost "
                "history",
                column=col,
            )
        )
    ex += [
        _unique_rows(keys, timestamp, "one feature row per series and time"),
        _e(
            "expect_column_values_to_be_between",
            "a feature partition holds exactly its own day",
            column=timestamp,
            min_value={"$PARAMETER": "interval_start"},
            max_value={"$PARAMETER": "interval_last_slot"},
        ),
    ]
    return {
        "name": f"{name}_features",
        "meta": {
            "notes": f"Gate on the {name} feature rows of one day, on the "
            "Spark DataFrame, before they are published. Generated by `conveyor new-pipeline`."
        },
        "expectations": ex,
    }


def reprofile_null_shares(data: dict[str, Any], history: pd.DataFrame) -> tuple[dict[str, Any], list[str]]:
    """The raw suite with every partial null check set to the null share of ``history`` (landed data),
    and every profiled range to the share of landed values outside it.

    A check with a profiled share (``meta.null_share``) gets the new share; one with a fixed
    ``mostly`` (older suites) becomes a profiled share, which the gate calibrates to each
    partition's size. Returns the new suite data and one line per change.
    """
    import copy

    out, changes = copy.deepcopy(data), []
    for e in out.get("expectations", []):
        column = e.get("kwargs", {}).get("column")
        meta = e.setdefault("meta", {})
        if e.get("type") == "expect_column_values_to_be_between" and "outside_share" in meta and column in history:
            clean = pd.to_numeric(history[column], errors="coerce").dropna()
            low, high = e["kwargs"].get("min_value"), e["kwargs"].get("max_value")
            share = round(float(((clean < low) | (clean > high)).mean()), 6) if len(clean) else 0.0
            if share != meta["outside_share"]:
                changes.append(f"{column}: share outside [{low}, {high}] {meta['outside_share']} -> {share}")
                meta["outside_share"] = share
            continue
        partial = "null_share" in meta or e["kwargs"].get("mostly", 1) < 1
        if e.get("type") != "expect_column_values_to_not_be_null" or not partial or column not in history:
            continue
        share = round(float(history[column].isna().mean()), 6)
        before = meta.get("null_share", f"mostly {e['kwargs'].get('mostly')}")
        e["kwargs"].pop("mostly", None)
        meta["null_share"] = share
        if before != share:
            changes.append(f"{column}: null share {before} -> {share} (from {len(history):,} landed rows)")
    return out, changes
