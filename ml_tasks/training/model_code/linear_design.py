"""A linear classifier kept as plain numbers: its input matrix and its probabilities.

Numeric inputs have missing values filled with the training median and are standardised; text
inputs are one-hot over the training categories (an unseen one is all zeros). Shared by the
trainer (`ml_tasks.training.baselines`) and the stored model (`linear_model.py`), so both do the
same arithmetic. Imports only numpy and pandas.
"""

import numpy as np
import pandas as pd


def columns(meta: dict) -> list[str]:
    return [n[0] for n in meta["numeric"]] + [c[0] for c in meta["categorical"]]


def design(meta: dict, frame: pd.DataFrame) -> np.ndarray:
    """The input matrix of ``frame``'s rows: ``meta["numeric"]`` is [[name, median, mean, std], ...],
    ``meta["categorical"]`` is [[name, [category, ...]], ...]."""
    parts = [np.zeros((len(frame), 0))]
    for name, median, mean, std in meta["numeric"]:
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        parts.append(((np.where(np.isnan(values), median, values) - mean) / std)[:, None])
    for name, categories in meta["categorical"]:
        text = frame[name].astype("string").to_numpy(dtype=object, na_value=None)
        parts.append(
            np.stack([text == c for c in categories], axis=1).astype(float) if categories else np.zeros((len(frame), 0))
        )
    return np.concatenate(parts, axis=1)


def probability(meta: dict, frame: pd.DataFrame) -> np.ndarray:
    """``sigmoid(intercept + weights . inputs)`` per row."""
    logit = float(meta["intercept"]) + design(meta, frame) @ np.asarray(meta["weights"], dtype=float)
    return 1.0 / (1.0 + np.exp(-logit))
