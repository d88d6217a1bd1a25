"""Forecast error metrics, computed on identical rows for every model being compared, and the naive
forecasts of the cadence every forecast is measured against."""

from __future__ import annotations

import numpy as np


def naive_columns(spec) -> list[str]:
    """The naive forecasts of the cadence the features carry (regression only): the target one
    horizon ago and one seasonal period ago (a day and a week for hourly data, a week and a year
    for daily), as lag columns; MASE divides by the strongest of them on the same rows."""
    from ml_tasks.features.columns import naive_columns as lag_columns

    return lag_columns(spec) if spec.task == "regression" else []


def naive_forecasts(spec, frame) -> dict[str, np.ndarray]:
    """Each naive forecast of ``frame``'s rows by its column name (empty for classification)."""
    return {c: frame[c].to_numpy(dtype=float, na_value=np.nan) for c in naive_columns(spec) if c in frame.columns}


def segment_column(spec) -> str | None:
    """The column whose values are the gate's guardrail segments (None for a single series)."""
    return spec.promotion.segment_by or (spec.data.keys[0] if spec.data.keys else None)


NAIVE_PREFIX = "naive_mae_"


def regression_metrics(y_true, y_pred, naives=None) -> dict[str, float]:
    """MAE, RMSE, WAPE and, given naive forecasts, each one's MAE and MASE against the strongest.

    ``naives`` maps a name to a naive forecast of the same rows (an array alone counts as one,
    named ``naive``). They are compared on the rows where every one of them exists: each one's MAE
    there is ``naive_mae_<name>``, the smallest is ``naive_mae``, and MASE is the model's MAE on
    those rows divided by it: below 1 means the model beats every naive forecast.
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
    if naives is not None and not isinstance(naives, dict):
        naives = {"naive": naives}
    if naives:
        forecasts = {name: np.asarray(n, dtype=float) for name, n in naives.items()}
        ok = np.logical_and.reduce([~np.isnan(n) for n in forecasts.values()])
        for name, n in forecasts.items():
            out[NAIVE_PREFIX + name] = float(np.mean(np.abs(n[ok] - y_true[ok]))) if ok.any() else float("nan")
        naive_mae = min((out[NAIVE_PREFIX + name] for name in forecasts), key=lambda v: np.nan_to_num(v, nan=np.inf))
        model_mae = float(np.mean(np.abs(err[ok]))) if ok.any() else float("nan")
        out["naive_mae"] = naive_mae
        out["mase"] = model_mae / naive_mae if naive_mae and naive_mae > 0 else float("nan")
    return out


def best_naive(metrics: dict[str, float]) -> str | None:
    """The name of the strongest naive forecast in ``metrics`` (lowest MAE on the same rows), if any."""
    scored = {k[len(NAIVE_PREFIX) :]: v for k, v in metrics.items() if k.startswith(NAIVE_PREFIX) and np.isfinite(v)}
    return min(scored, key=scored.__getitem__) if scored else None


def tune_threshold(y_true, probability) -> float:
    """The probability cut-off with the best F1 (ties: the lower cut-off), from the PR curve."""
    from sklearn.metrics import precision_recall_curve

    y = np.asarray(y_true, dtype=int)
    if y.min() == y.max():
        return 0.5
    precision, recall, cuts = precision_recall_curve(y, np.asarray(probability, dtype=float))
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)[:-1]
    return float(cuts[int(np.argmax(f1))]) if len(cuts) else 0.5


def calibration_error(y_true, probability, bins: int = 10) -> float:
    """Expected calibration error: mean |observed rate - mean probability| over equal-width bins."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(probability, dtype=float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += mask.sum() * abs(y[mask].mean() - p[mask].mean())
    return float(total / max(len(y), 1))


def classification_metrics(y_true, probability, threshold: float = 0.5) -> dict[str, float]:
    """ROC-AUC, PR-AUC, log loss, Brier, calibration error, and F1/precision/recall at ``threshold``."""
    from sklearn.metrics import (
        average_precision_score,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    y = np.asarray(y_true, dtype=int)
    p = np.clip(np.asarray(probability, dtype=float), 1e-7, 1 - 1e-7)
    if y.shape != p.shape or y.size == 0:
        raise ValueError(f"need equally long, non-empty arrays; got {y.shape} and {p.shape}")
    both = y.min() != y.max()
    label = (p >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": calibration_error(y, p),
        "f1": float(f1_score(y, label, zero_division=0)),
        "precision": float(precision_score(y, label, zero_division=0)),
        "recall": float(recall_score(y, label, zero_division=0)),
        "threshold": float(threshold),
        "prevalence": float(y.mean()),
    }


def task_metrics(task: str, y_true, prediction, naives=None, threshold: float = 0.5) -> dict[str, float]:
    """The metrics of a pipeline's task on the same rows (``naives``: see :func:`regression_metrics`)."""
    if task == "classification":
        return classification_metrics(y_true, prediction, threshold)
    return regression_metrics(y_true, prediction, naives)


def segment_metrics(
    frame,
    prediction,
    segment: str | None,
    target: str,
    naive: list[str],
    task: str = "regression",
    threshold: float = 0.5,
) -> dict[str, dict[str, float]]:
    """The same metrics per value of ``segment`` (per store, say), on the same rows; none without one."""
    if segment is None:
        return {}
    data = frame.assign(_pred=np.asarray(prediction, dtype=float))
    out = {}
    for value, part in data.groupby(segment, observed=True):
        naives = {c: part[c].to_numpy(dtype=float, na_value=np.nan) for c in naive if c in part.columns}
        out[str(value)] = task_metrics(task, part[target], part["_pred"], naives or None, threshold)
    return dict(sorted(out.items()))


def permutation_importance(
    predict, frame, features: list[str], target: str, seed: int = 0, max_rows: int = 20_000, loss=None
) -> dict[str, float]:
    """Increase in ``loss`` (default: MAE) when one feature's values are shuffled (on held-out rows)."""
    rng = np.random.default_rng(seed)
    loss = loss or (lambda y, p: float(np.mean(np.abs(p - y))))
    sample = frame.sample(n=min(len(frame), max_rows), random_state=seed) if len(frame) > max_rows else frame
    y = sample[target].to_numpy(dtype=float)
    base = loss(y, predict(sample))
    out = {}
    for col in features:
        shuffled = sample.copy()
        shuffled[col] = rng.permutation(shuffled[col].to_numpy())
        out[col] = loss(y, predict(shuffled)) - base
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def row_loss(y_true, y_pred, metric: str) -> np.ndarray:
    """Per-row loss: absolute or squared error; for probabilities, log loss or Brier score."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if metric == "log_loss":
        p = np.clip(p, 1e-7, 1 - 1e-7)
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))
    err = p - y
    return np.abs(err) if metric == "mae" else err**2
