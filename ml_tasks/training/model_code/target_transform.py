"""Target transforms for the learned families, applied the same way in training and in the stored model.

A transform makes the target (and the target's own history features) free of the series' level,
so that a model learns shapes that carry over to a level it has not seen (a colder December, a
store twice as busy), and predictions are turned back exactly:

- ``none``: the target as it is;
- ``difference``: the target minus a *base*, the target's value one horizon or one seasonal period
  earlier (a lag feature); the target's lags and rolling means become differences from the base
  too. Prediction: the model's output plus the base.
- ``scale``: the target divided by a trailing *level* (the target's longest rolling mean, made
  positive: ``|mean| + offset``); the target's lags, rolling means and rolling spreads are divided
  by it too (per-series normalisation). Prediction: the model's output times the level.

A transform is a small JSON-able dict, stored in the model's metadata. Where the base or level is
missing for a row (the first days of a series), the next column of its ``fallback`` list stands in,
and where every one is missing (a new series), the training target's mean (``fill``).
This file is stored with every model (MLflow ``code_paths``) and imports only numpy and pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NONE = {"kind": "none"}


def describe(transform: dict) -> str:
    """Short name for logs, parameters and the model card: ``none``, ``difference(lag_24h)``..."""
    kind = transform.get("kind", "none")
    return kind if kind == "none" else f"{kind}({transform['base']})"


def scale_offset(target: np.ndarray) -> float:
    """What keeps a scaling level away from zero: a tenth of the training target's mean magnitude."""
    values = np.abs(np.asarray(target, dtype=float))
    magnitude = float(np.nanmean(values)) if np.isfinite(values).any() else 0.0
    return 0.1 * magnitude if magnitude > 0 else 1e-6


def fitted(transform: dict, target) -> dict:
    """The transform with what it learns from the training target: the mean that stands in for a
    missing base or level, and (scaling) the offset that keeps a level away from zero."""
    if transform.get("kind", "none") == "none":
        return transform
    values = np.asarray(target, dtype=float)
    fill = float(np.nanmean(values)) if np.isfinite(values).any() else 0.0
    out = {**transform, "fill": fill}
    return {**out, "offset": scale_offset(values)} if transform["kind"] == "scale" else out


def first_present(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Per row, the value of the first of ``columns`` that is present (NaN where none is)."""
    out = np.full(len(frame), np.nan)
    for column in columns:
        if column in frame.columns:
            values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            out = np.where(np.isnan(out), values, out)
    return out


def anchor(frame: pd.DataFrame, transform: dict) -> np.ndarray:
    """The row's base (difference) or level (scale): the first present column of its fallback list."""
    out = first_present(frame, [transform["base"], *transform.get("fallback", [])])
    out = np.where(np.isnan(out), transform.get("fill", np.nan), out)
    if transform["kind"] == "scale":
        out = np.abs(out) + transform["offset"]
    return out


def transform_frame(frame: pd.DataFrame, transform: dict) -> pd.DataFrame:
    """The model inputs with the target's history columns made level-free (a copy; ``none``: as is)."""
    kind = transform.get("kind", "none")
    if kind == "none":
        return frame
    a = anchor(frame, transform)
    out = frame.copy()
    for column in transform["history"]:
        if column not in out.columns:
            continue
        values = pd.to_numeric(out[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if kind == "difference":
            out[column] = values if column in transform.get("spreads", []) else values - a
        else:
            out[column] = values / a
    return out


def _apply(frame: pd.DataFrame, values: np.ndarray, transform: dict, inverse: bool) -> np.ndarray:
    """``values`` made level-free (forward) or put back in the target's units (inverse), row by row."""
    kind = transform.get("kind", "none")
    y = np.asarray(values, dtype=float)
    if kind == "none":
        return y
    a = anchor(frame, transform)
    if kind == "difference":
        return y + a if inverse else y - a
    return y * a if inverse else y / a


def transform_target(frame: pd.DataFrame, target: np.ndarray, transform: dict) -> np.ndarray:
    """The target the model learns (NaN where the base or level is missing: such rows are not learned)."""
    return _apply(frame, target, transform, inverse=False)


def invert(frame: pd.DataFrame, output: np.ndarray, transform: dict) -> np.ndarray:
    """Predictions in the target's units from the model's output on ``frame``'s rows (exact inverse)."""
    return _apply(frame, output, transform, inverse=True)


def invert_rows(rows: list[dict], output: np.ndarray, transform: dict) -> np.ndarray:
    """:func:`invert` for rows given as dicts (the online path, no pandas frame)."""
    if transform.get("kind", "none") == "none":
        return np.asarray(output, dtype=float)
    columns = [transform["base"], *transform.get("fallback", [])]
    return invert(pd.DataFrame([{c: row.get(c) for c in columns} for row in rows], columns=columns), output, transform)


def transform_rows(rows: list[dict], transform: dict) -> list[dict]:
    """:func:`transform_frame` for rows given as dicts: only the target's history values change (the
    other values keep their types, so a key stays the text or number it was)."""
    if transform.get("kind", "none") == "none":
        return rows
    columns = [
        c
        for c in dict.fromkeys([*transform["history"], transform["base"], *transform.get("fallback", [])])
        if rows and c in rows[0]
    ]
    frame = transform_frame(
        pd.DataFrame([{c: row.get(c) for c in columns} for row in rows], columns=columns, dtype=float), transform
    )
    changed = frame[[c for c in transform["history"] if c in frame.columns]]
    changed = changed.astype(object).where(changed.notna(), None).to_dict("records")
    return [{**row, **new} for row, new in zip(rows, changed, strict=True)]
