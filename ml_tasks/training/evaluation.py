"""Forecast error metrics, computed on identical rows for every model being compared."""

from __future__ import annotations

import numpy as np


def naive_column(spec) -> str | None:
    """The seasonal-naive forecast MASE compares with (regression only): the target one week
    before when the spec has that lag (``lag_168h``, ``lag_7d``), else its shortest lag."""
    from ml_tasks.features.columns import seasonal_naive_column

    return seasonal_naive_column(spec) if spec.task == "regression" else None


def segment_column(spec) -> str | None:
    """The column whose values are the gate's guardrail segments (None for a single series)."""
    return spec.promotion.segment_by or (spec.data.keys[0] if spec.data.keys else None)


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
    from sklearn.metrics import average_precision_score, f1_score, log_loss, precision_score, recall_score, roc_auc_score

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


def task_metrics(task: str, y_true, prediction, naive=None, threshold: float = 0.5) -> dict[str, float]:
    """The metrics of a pipeline's task on the same rows."""
    if task == "classification":
        return classification_metrics(y_true, prediction, threshold)
    return regression_metrics(y_true, prediction, naive)


def segment_metrics(frame, prediction, segment: str, target: str, naive: str | None,
                    task: str = "regression", threshold: float = 0.5) -> dict[str, dict[str, float]]:
    """The same metrics per value of ``segment`` (per store, say), on the same rows; none without one."""
    if segment is None:
        return {}
    data = frame.assign(_pred=np.asarray(prediction, dtype=float))
    out = {}
    for value, part in data.groupby(segment, observed=True):
        out[str(value)] = task_metrics(task, part[target], part["_pred"], part[naive] if naive else None, threshold)
    return dict(sorted(out.items()))


def permutation_importance(predict, frame, features: list[str], target: str, seed: int = 0,
                           max_rows: int = 20_000, loss=None) -> dict[str, float]:
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
