"""Leakage by configuration: raw inputs that are almost the target, found in the data itself.

A column listed as known ahead is used for the row it describes. If it is (nearly) the target
(|correlation| >= 0.98) or the target is a sum of inputs (``total = casual + registered``), the
model would be trained on the answer and score implausibly well; `conveyor validate` and
`conveyor new-pipeline` refuse such a configuration unless the spec acknowledges the column
(``features.acknowledged_target_proxies``). The promotion gate has a last line of defence: a
candidate far better than the naive forecast is not promoted (``ml_tasks.registry.gate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

CORRELATION_LIMIT = 0.98
SUM_SHARE = 0.99  # the target equals the sum on at least this share of rows
MAX_SUM_TERMS = 3


@dataclass(frozen=True)
class TargetProxy:
    columns: tuple[str, ...]
    reason: str


def target_proxies(frame: pd.DataFrame, target: str, inputs: list[str]) -> list[TargetProxy]:
    """Inputs of ``frame`` that (nearly) are ``target``: one column highly correlated with it, or
    two or three numeric columns that add up to it."""
    if target not in frame or not pd.api.types.is_numeric_dtype(frame[target]):
        return []
    y = frame[target].astype(float)
    numeric = [
        c
        for c in inputs
        if c in frame
        and c != target
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]
    found = []
    for col in numeric:
        x = frame[col].astype(float)
        both = x.notna() & y.notna()
        if both.sum() < 10 or x[both].std() == 0 or y[both].std() == 0:
            continue
        r = float(np.corrcoef(x[both], y[both])[0, 1])
        if abs(r) >= CORRELATION_LIMIT:
            found.append(TargetProxy((col,), f"correlation {r:+.3f} with the target (|r| >= {CORRELATION_LIMIT})"))
    for size in range(2, MAX_SUM_TERMS + 1):
        for cols in combinations(numeric, size):
            total = frame[list(cols)].astype(float).sum(axis=1, min_count=size)
            both = total.notna() & y.notna()
            if both.sum() < 10:
                continue
            equal = np.isclose(total[both], y[both], rtol=1e-6, atol=1e-9).mean()
            if equal >= SUM_SHARE:
                found.append(TargetProxy(cols, f"the target equals {' + '.join(cols)} on {equal:.1%} of rows"))
    return found
