"""Performance decay: the champion's stored predictions joined with the actuals that landed since.

Predictions are written per day by the scoring DAG; the target of those rows arrives with the
day's data. For every day of the window that has both, the predictions of the current champion
are joined on the pipeline's keys and timestamp with the actual target (and the seasonal-naive
forecast that MASE is measured against), and the window's error is compared with the error the
champion showed on its holdout when it was trained. Days with predictions but no actuals yet
are reported as waiting.

A window of one or two scored days is small, and its error moves a lot from day to day (churn's
log loss on one day of 600 customers read 1.32x the holdout's on a day nothing had changed).
Decay is therefore declared only when the window's error is *shown* above the tolerance: the
one-sided ``decay_level`` lower confidence bound of the window metric (a bootstrap of series x day
clusters, see :func:`window_lower_bound`) must exceed ``(1 + decay_tolerance) x`` the holdout error.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.training.evaluation import best_naive, naive_columns, naive_forecasts, row_loss, task_metrics

BOOTSTRAP_SAMPLES = 1000


def joined_actuals(lake: Lake, spec: PipelineSpec, dates: list[date], version: str) -> tuple[pd.DataFrame, dict]:
    """Rows of ``version``'s predictions on ``dates`` with their actual target; and what was found."""
    keys = [*spec.data.keys, spec.data.timestamp]
    actual_cols = list(dict.fromkeys([*keys, spec.data.target, *naive_columns(spec)]))
    found: dict[str, list[str]] = {"joined": [], "no_predictions": [], "other_version": [], "awaiting_actuals": []}
    frames = []
    for d in dates:
        if not lake.exists("predictions", spec.name, d):
            found["no_predictions"].append(d.isoformat())
            continue
        pred = lake.read_partition("predictions", spec.name, d)
        pred = pred[pred["model_version"].astype(str) == str(version)]
        if pred.empty:
            found["other_version"].append(d.isoformat())
            continue
        if not lake.exists("features", spec.name, d):
            found["awaiting_actuals"].append(d.isoformat())
            continue
        actual = lake.read_partition("features", spec.name, d, columns=actual_cols)
        frames.append(pred.merge(actual, on=keys, how="inner", validate="one_to_one"))
        found["joined"].append(d.isoformat())
    joined = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return joined, found


def performance_decay(
    lake: Lake, spec: PipelineSpec, dates: list[date], version: str, baseline: dict[str, float]
) -> dict[str, Any]:
    """The window's error of ``version`` against its holdout ``baseline``; decayed past the tolerance?"""
    drift = spec.drift
    joined, found = joined_actuals(lake, spec, dates, version)
    out: dict[str, Any] = {
        "metric": drift.decay_metric,
        "tolerance": drift.decay_tolerance,
        "rows": len(joined),
        "days": found,
        "baseline": baseline.get(drift.decay_metric),
        "window": None,
        "ratio": None,
        "detected": False,
        "evaluated": False,
    }
    if len(joined) < drift.decay_min_rows or out["baseline"] is None:
        out["note"] = (
            f"{len(joined)} rows with actuals (< decay_min_rows={drift.decay_min_rows})"
            if len(joined) < drift.decay_min_rows
            else f"no holdout {drift.decay_metric} for v{version}"
        )
        return out
    metrics = task_metrics(
        spec.task, joined[spec.data.target], joined["prediction"], naive_forecasts(spec, joined) or None
    )
    naive = best_naive(metrics)  # MASE's denominator: the strongest naive forecast on the window's rows
    window = metrics.get(drift.decay_metric)
    day = pd.to_datetime(joined[spec.data.timestamp]).dt.floor("D").rename("_day")
    keys = [joined[k] for k in spec.data.keys]
    clusters = joined.groupby([*keys, day], sort=False, dropna=False).ngroup().to_numpy()
    series = joined.groupby(keys, sort=False, dropna=False).ngroup().to_numpy() if keys else None
    low = window_lower_bound(
        drift.decay_metric,
        joined[spec.data.target],
        joined["prediction"],
        _on_common_rows(spec, joined, naive),
        clusters,
        drift.decay_level,
        strata=series,
        seed=dates[-1].toordinal() if dates else 0,
    )
    ratio = window / out["baseline"] if out["baseline"] else float("inf")
    ratio_low = low / out["baseline"] if out["baseline"] else float("inf")
    out.update(
        evaluated=True,
        window=window,
        ratio=ratio,
        window_low=low,
        ratio_low=ratio_low,
        level=drift.decay_level,
        window_metrics=metrics,
        detected=bool(ratio_low > 1.0 + drift.decay_tolerance),
    )
    return out


def _on_common_rows(spec: PipelineSpec, joined: pd.DataFrame, naive: str | None):
    """The strongest naive's forecasts on the rows every naive forecast has (NaN elsewhere), as MASE uses."""
    if naive is None:
        return None
    forecasts = naive_forecasts(spec, joined)
    common = np.logical_and.reduce([~np.isnan(v) for v in forecasts.values()])
    return np.where(common, forecasts[naive], np.nan)


def window_lower_bound(
    metric: str,
    y_true,
    prediction,
    naive,
    clusters,
    level: float,
    strata=None,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> float:
    """One-sided ``level`` lower confidence bound of the window's ``metric``, resampling ``clusters``.

    Every supported metric is a ratio of sums over rows (MAE: sum |error| / rows; WAPE: sum |error| /
    sum |actual|; MASE: sum |error| / sum |naive error| on the rows that have a naive forecast;
    RMSE: the square root of sum squared error / rows), so a bootstrap sample only needs the
    per-cluster sums of numerator and denominator. With ``strata`` (one label per row: the series),
    clusters are resampled within their stratum: the window holds the same series the holdout did,
    so how much their error levels differ is not uncertainty, only how each one's days vary is.
    Strata seen in one cluster only (a key scored on one day) are resampled together.
    """
    y, p = np.asarray(y_true, dtype=float), np.asarray(prediction, dtype=float)
    if metric in ("wape", "mase"):
        numerator = np.abs(p - y)
        if metric == "wape":
            denominator = np.abs(y)
        else:
            n = np.asarray(naive, dtype=float) if naive is not None else np.full_like(y, np.nan)
            has_naive = ~np.isnan(n)
            numerator, denominator = numerator * has_naive, np.where(has_naive, np.abs(n - y), 0.0)
    else:  # mae, log_loss: the row's loss; rmse, brier: its squared error
        numerator, denominator = row_loss(y, p, metric), np.ones_like(y)
    codes, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    num = np.bincount(inverse, weights=numerator, minlength=len(codes))
    den = np.bincount(inverse, weights=denominator, minlength=len(codes))
    stratum = np.zeros(len(codes), dtype=np.int64)
    if strata is not None:
        stratum[inverse] = np.unique(np.asarray(strata), return_inverse=True)[1]
        sizes = np.bincount(stratum)
        stratum = np.where(sizes[stratum] > 1, stratum + 1, 0)  # the singletons share stratum 0
    order = np.argsort(stratum, kind="stable")
    num, den, stratum = num[order], den[order], stratum[order]
    first = np.searchsorted(stratum, stratum, side="left")  # each cluster's stratum: where it starts, its size
    size = np.searchsorted(stratum, stratum, side="right") - first
    rng = np.random.default_rng(seed)
    values = np.empty(samples)
    chunk = max(1, 2_000_000 // max(len(codes), 1))  # bounded memory for windows of many series
    for start in range(0, samples, chunk):
        n_draws = min(chunk, samples - start)
        draws = first + (rng.random((n_draws, len(codes))) * size).astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            values[start : start + n_draws] = num[draws].sum(axis=1) / den[draws].sum(axis=1)
    if metric == "rmse":
        values = np.sqrt(values)
    return float(np.nanquantile(values, 1.0 - level))
