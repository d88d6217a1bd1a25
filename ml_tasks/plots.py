"""Pictures people would rather see than read, saved as files for MLflow artifacts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ml_tasks.spec import PipelineSpec


def forecast_plot(frame: pd.DataFrame, spec: PipelineSpec, path: Path, n_series: int = 4) -> Path:
    """Forecast vs actual for the busiest few series of ``frame`` (needs a ``prediction`` column)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys, ts, target = list(spec.data.keys), spec.data.timestamp, spec.data.target
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
