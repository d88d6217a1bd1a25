"""Forecast error metrics, computed on identical rows for every model being compared."""

from __future__ import annotations

import numpy as np


SEASONAL_NAIVE = "lag_168h"  # the naive forecast MASE is measured against: the same hour a week before


def regression_metrics(y_true, y_pred, y_naive=None) -> dict[str, float]:
    """MAE, RMSE, WAPE and (given the seasonal-naive forecast) MASE.

    MASE here is the model's MAE divided by the MAE of the seasonal-naive forecast (the same
    hour one week earlier) on the same rows: below 1 means the model beats the naive forecast.
    """
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"need equally long, non-empty arrays; got {y_true.shape} and {y_pred.shape}")
    err = y_pred - y_true
    mae = float(np.mean(np.abs(err)))
    total = float(np.sum(np.abs(y_true)))
    out = {
        "mae": mae,
        "rmse": float(np.sqrt(np.mean(err**2))),
        "wape": float(np.sum(np.abs(err)) / total) if total > 0 else float("nan"),
    }
    if y_naive is not None:
        naive = np.asarray(y_naive, dtype=float)
        ok = ~np.isnan(naive)
        naive_mae = float(np.mean(np.abs(naive[ok] - y_true[ok]))) if ok.any() else float("nan")
        model_mae = float(np.mean(np.abs(err[ok]))) if ok.any() else float("nan")
        out["naive_mae"] = naive_mae
        out["mase"] = model_mae / naive_mae if naive_mae and naive_mae > 0 else float("nan")
    return out


def segment_metrics(frame, prediction, segment: str, target: str, naive: str) -> dict[str, dict[str, float]]:
    """The same metrics per value of ``segment`` (per store, say), on the same rows."""
    data = frame.assign(_pred=np.asarray(prediction, dtype=float))
    out = {}
    for value, part in data.groupby(segment, observed=True):
        out[str(value)] = regression_metrics(part[target], part["_pred"], part[naive])
    return dict(sorted(out.items()))


def permutation_importance(predict, frame, features: list[str], target: str, seed: int = 0,
                           max_rows: int = 20_000) -> dict[str, float]:
    """Increase in MAE when one feature's values are shuffled (model-agnostic, on held-out rows)."""
    rng = np.random.default_rng(seed)
    sample = frame.sample(n=min(len(frame), max_rows), random_state=seed) if len(frame) > max_rows else frame
    y = sample[target].to_numpy(dtype=float)
    base = float(np.mean(np.abs(predict(sample) - y)))
    out = {}
    for col in features:
        shuffled = sample.copy()
        shuffled[col] = rng.permutation(shuffled[col].to_numpy())
        out[col] = float(np.mean(np.abs(predict(shuffled) - y))) - base
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))
