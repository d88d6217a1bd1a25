"""The monitoring history as a picture: one panel per monitored quantity, thresholds and retrain requests marked."""

from __future__ import annotations

from pathlib import Path

from ml_tasks.training.plots import pyplot


def monitoring_plot(series: dict[str, list[tuple]], thresholds: dict[str, float], title: str, path: Path) -> Path:
    """One panel per monitored quantity over the data days, each with its threshold line.

    ``series`` maps a label to ``(day, value)`` pairs; retrain requests are marked on every panel.
    """
    plt = pyplot()
    panels = [k for k in series if k != "retrain requested" and series[k]]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.4 * max(len(panels), 1)), sharex=True, squeeze=False)
    fired = [d for d, v in series.get("retrain requested", []) if v >= 1]
    for ax, label in zip(axes[:, 0], panels, strict=False):  # one empty axis without panels
        days, values = zip(*sorted(series[label]), strict=True)
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
