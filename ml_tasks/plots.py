"""Pictures people would rather see than read, saved as PNG files for MLflow artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ml_tasks.spec import PipelineSpec


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def forecast_plot(frame: pd.DataFrame, spec: PipelineSpec, path: Path, n_series: int = 4) -> Path:
    """Forecast vs actual for the busiest few series of ``frame`` (needs a ``prediction`` column)."""
    plt = _plt()
    keys, ts, target = list(spec.data.keys), spec.data.timestamp, spec.data.target
    if not keys:  # a single series
        frame, keys = frame.assign(_series=spec.data.target), ["_series"]
    busiest = frame.groupby(keys)[target].sum().nlargest(n_series).index
    fig, axes = plt.subplots(len(busiest), 1, figsize=(11, 2.6 * max(len(busiest), 1)), squeeze=False)
    for ax, key in zip(axes[:, 0], busiest):
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
    """Residual distribution and mean absolute error by hour of day (daily data: by weekday), side by side."""
    plt = _plt()
    residual = frame["prediction"] - frame[spec.data.target]
    times = pd.to_datetime(frame[spec.data.timestamp])
    hourly = spec.features.frequency == "hourly"
    by_time = residual.abs().groupby(times.dt.hour if hourly else times.dt.dayofweek).mean()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
    left.hist(residual.clip(residual.quantile(0.005), residual.quantile(0.995)), bins=60)
    left.set_title("residuals (forecast - actual)")
    right.bar(by_time.index, by_time.to_numpy())
    right.set_title("mean absolute error by hour of day (UTC)" if hourly else "mean absolute error by weekday (Mon = 0)")
    right.set_xlabel("hour" if hourly else "weekday")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def importance_plot(importance: dict[str, float], title: str, path: Path) -> Path:
    plt = _plt()
    names = list(importance)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(names) + 1))
    ax.barh(names, np.array([importance[n] for n in names]))
    ax.set_title(title)
    ax.set_xlabel("MAE increase when shuffled")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def monitoring_plot(series: dict[str, list[tuple]], thresholds: dict[str, float], title: str, path: Path) -> Path:
    """One panel per monitored quantity over the data days, each with its threshold line.

    ``series`` maps a label to ``(day, value)`` pairs; retrain requests are marked on every panel.
    """
    plt = _plt()
    panels = [k for k in series if k != "retrain requested" and series[k]]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.4 * max(len(panels), 1)), sharex=True, squeeze=False)
    fired = [d for d, v in series.get("retrain requested", []) if v >= 1]
    for ax, label in zip(axes[:, 0], panels):
        days, values = zip(*sorted(series[label]))
        ax.plot(days, values, marker="o", lw=1.2)
        if label in thresholds:
            ax.axhline(thresholds[label], color="tab:red", ls="--", lw=1, label="threshold")
            ax.legend(loc="upper left", fontsize=8)
        for d in fired:
            ax.axvline(d, color="tab:orange", lw=1, alpha=0.7)
        ax.set_ylabel(label, fontsize=8)
    axes[0, 0].set_title(title + ("  (orange: retrain requested)" if fired else ""))
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def classification_plots(y_true, probability, threshold: float, title: str, path: Path) -> Path:
    """ROC curve, precision-recall curve (with the tuned threshold) and a reliability diagram."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    plt = _plt()
    y, p = np.asarray(y_true, dtype=int), np.asarray(probability, dtype=float)
    fig, (roc, pr, cal) = plt.subplots(1, 3, figsize=(13, 4))
    if y.min() != y.max():
        fpr, tpr, _ = roc_curve(y, p)
        roc.plot(fpr, tpr, lw=1.5)
        precision, recall, cuts = precision_recall_curve(y, p)
        pr.plot(recall, precision, lw=1.5)
        at = int(np.searchsorted(cuts, threshold)) if len(cuts) else 0
        pr.scatter([recall[min(at, len(recall) - 1)]], [precision[min(at, len(precision) - 1)]], color="tab:red",
                   zorder=3, label=f"threshold {threshold:.3f}")
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
