"""Evaluation pictures people would rather see than read, saved as PNG files for MLflow artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ml_tasks.core.cadence import DAY, WEEK
from ml_tasks.core.spec import PipelineSpec


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (tasks have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def forecast_plot(frame: pd.DataFrame, spec: PipelineSpec, path: Path, n_series: int = 4) -> Path:
    """Forecast vs actual for the busiest few series of ``frame`` (needs a ``prediction`` column)."""
    plt = pyplot()
    keys, ts, target = list(spec.data.keys), spec.data.timestamp, spec.data.target
    if not keys:  # a single series
        frame, keys = frame.assign(_series=spec.data.target), ["_series"]
    busiest = frame.groupby(keys)[target].sum().nlargest(n_series).index
    fig, axes = plt.subplots(len(busiest), 1, figsize=(11, 2.6 * max(len(busiest), 1)), squeeze=False)
    for ax, key in zip(axes[:, 0], busiest, strict=False):
        key = key if isinstance(key, tuple) else (key,)
        mask = (frame[keys] == pd.Series(key, index=keys)).all(axis=1)
        series = frame[mask].sort_values(ts)
        ax.plot(series[ts], series[target], label="actual", lw=1.2)
        ax.plot(series[ts], series["prediction"], label="forecast", lw=1.2)
        ax.set_title(" / ".join(str(k) for k in key), fontsize=9)
        ax.legend(loc="upper right", fontsize=8)
    fig.suptitle(f"{spec.name}: holdout forecast vs actual")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def residual_plots(frame: pd.DataFrame, spec: PipelineSpec, path: Path) -> Path:
    """Residual distribution and mean absolute error by hour of day (daily data: by weekday; weekly
    data: by month), side by side."""
    plt = pyplot()
    residual = frame["prediction"] - frame[spec.data.target]
    times = pd.to_datetime(frame[spec.data.timestamp])
    step = spec.features.step_seconds
    hourly, weekly = step < DAY, step >= WEEK
    by_time = (
        residual.abs().groupby(times.dt.hour if hourly else times.dt.month if weekly else times.dt.dayofweek).mean()
    )
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
    left.hist(residual.clip(residual.quantile(0.005), residual.quantile(0.995)), bins=60)
    left.set_title("residuals (forecast - actual)")
    right.bar(by_time.index, by_time.to_numpy())
    right.set_title(
        "mean absolute error by hour of day (UTC)"
        if hourly
        else "mean absolute error by month"
        if weekly
        else "mean absolute error by weekday (Mon = 0)"
    )
    right.set_xlabel("hour" if hourly else "month" if weekly else "weekday")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def importance_plot(importance: dict[str, float], title: str, path: Path) -> Path:
    plt = pyplot()
    names = list(importance)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(names) + 1))
    ax.barh(names, np.array([importance[n] for n in names]))
    ax.set_title(title)
    ax.set_xlabel("MAE increase when shuffled")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def classification_plots(y_true, probability, threshold: float, title: str, path: Path) -> Path:
    """ROC curve, precision-recall curve (with the tuned threshold) and a reliability diagram."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    plt = pyplot()
    y, p = np.asarray(y_true, dtype=int), np.asarray(probability, dtype=float)
    fig, (roc, pr, cal) = plt.subplots(1, 3, figsize=(13, 4))
    if y.min() != y.max():
        fpr, tpr, _ = roc_curve(y, p)
        roc.plot(fpr, tpr, lw=1.5)
        precision, recall, cuts = precision_recall_curve(y, p)
        pr.plot(recall, precision, lw=1.5)
        at = int(np.searchsorted(cuts, threshold)) if len(cuts) else 0
        pr.scatter(
            [recall[min(at, len(recall) - 1)]],
            [precision[min(at, len(precision) - 1)]],
            color="tab:red",
            zorder=3,
            label=f"threshold {threshold:.3f}",
        )
        pr.legend(loc="upper right", fontsize=8)
    roc.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    roc.set(title="ROC", xlabel="false positive rate", ylabel="true positive rate")
    pr.axhline(y.mean(), ls="--", color="grey", lw=1)
    pr.set(title="precision-recall (dashed: prevalence)", xlabel="recall", ylabel="precision")
    bins = np.linspace(0, 1, 11)
    idx = np.clip(np.digitize(p, bins) - 1, 0, 9)
    mean_p = [p[idx == b].mean() for b in range(10) if (idx == b).any()]
    rate = [y[idx == b].mean() for b in range(10) if (idx == b).any()]
    cal.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    cal.plot(mean_p, rate, marker="o")
    cal.set(title="calibration", xlabel="mean predicted probability", ylabel="observed rate")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
