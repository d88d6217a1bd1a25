"""The champion/challenger gate as a pure function: per-row errors in, a decision with its numbers out.

A challenger becomes champion only if

(a) it beats the strongest baseline on the same holdout rows (the best naive forecast of the
    cadence; for classification the better of base rate and logistic regression): its loss is at
    most ``baseline_ratio`` times the baseline's; and it passes the spec's absolute thresholds;
(b) it beats the current champion on the same evaluation rows with statistical evidence: a
    paired bootstrap of the per-row loss difference (challenger - champion), resampling whole
    clusters (series x day, whose errors are correlated) rather than rows, must give a
    confidence interval whose upper bound is below zero (superiority), or below
    ``margin x champion loss`` when the spec asks for non-inferiority;
(c) no guardrail regresses: in every segment (for example every store) the challenger's error
    stays within ``guardrail_tolerance`` of the champion's.

Before all of these, (0): a regression candidate whose holdout MAE is below
``leakage_ratio`` (1%) of the naive forecast's is not promoted, whatever else it shows: no
honest forecast is that good, and the usual cause is an input that carries the answer (the
target, or a sum that makes it, listed as known ahead). The decision says "suspected leakage".

The first model of a pipeline needs only (0) and (a). ``force`` promotes regardless and says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from ml_tasks.training.evaluation import row_loss

HIGHER_IS_BETTER = {"roc_auc", "pr_auc", "f1"}


@dataclass(frozen=True)
class GateConfig:
    metric: Literal["mae", "rmse", "log_loss", "brier"] = "mae"
    level: float = 0.95
    bootstrap_samples: int = 2000
    mode: Literal["superiority", "non_inferiority"] = "superiority"
    margin: float = 0.0
    thresholds: dict[str, float] = field(default_factory=dict)
    guardrail_tolerance: float = 0.15
    seed: int = 0
    leakage_ratio: float = 0.01
    baseline_ratio: float = 1.0


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    forced: bool = False
    checks: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def paired_bootstrap(
    diff: np.ndarray, clusters: np.ndarray, samples: int, level: float, seed: int
) -> tuple[float, float, float]:
    """Mean of ``diff`` and its bootstrap confidence interval, resampling whole clusters."""
    codes, inverse = np.unique(clusters, return_inverse=True)
    sums = np.bincount(inverse, weights=diff, minlength=len(codes))
    counts = np.bincount(inverse, minlength=len(codes)).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(codes), size=(samples, len(codes)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    alpha = (1 - level) / 2
    return float(diff.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def decide(
    cfg: GateConfig,
    challenger_metrics: dict[str, float],
    y_true=None,
    challenger_pred=None,
    champion_pred=None,
    clusters=None,
    segments=None,
    force: bool = False,
    baseline: dict | None = None,
) -> Decision:
    """Apply (a), (b) and (c); without champion predictions only (a) applies (first model).

    ``baseline`` is the challenger against the strongest baseline (``name``, ``metric``, ``loss``,
    ``ratio`` = challenger's loss / baseline's); None when there was none to compare with.
    """
    checks: dict = {}
    failed_thresholds = {
        m: (challenger_metrics.get(m), bound)
        for m, bound in cfg.thresholds.items()
        if not _meets(m, challenger_metrics.get(m), bound)
    }
    if baseline is not None and not (baseline["ratio"] <= cfg.baseline_ratio):  # NaN fails too
        failed_thresholds[f"{baseline['metric']} vs {baseline['name']}"] = (baseline["ratio"], cfg.baseline_ratio)
    checks["baseline"] = baseline or {"note": "no baseline to compare with"}
    checks["thresholds"] = {"limits": cfg.thresholds, "failed": failed_thresholds}
    leak = suspected_leakage(cfg, challenger_metrics)
    checks["leakage"] = {"ratio_limit": cfg.leakage_ratio, "suspected": leak is not None}
    if leak is not None:
        return _maybe_forced(force, leak, checks)
    if champion_pred is None:
        if failed_thresholds:
            return _maybe_forced(force, f"first model fails thresholds {failed_thresholds}", checks)
        return Decision(True, "first model of the pipeline; passes the thresholds", checks=checks)

    y_true = np.asarray(y_true, dtype=float)
    challenger_loss = row_loss(y_true, challenger_pred, cfg.metric)
    champion_loss = row_loss(y_true, champion_pred, cfg.metric)
    diff = challenger_loss - champion_loss
    mean, lo, hi = paired_bootstrap(diff, np.asarray(clusters), cfg.bootstrap_samples, cfg.level, cfg.seed)
    bound = cfg.margin * float(champion_loss.mean()) if cfg.mode == "non_inferiority" else 0.0
    significant = hi < bound
    checks["paired_bootstrap"] = {
        "metric": cfg.metric,
        "mode": cfg.mode,
        "level": cfg.level,
        "samples": cfg.bootstrap_samples,
        "clusters": int(len(np.unique(clusters))),
        "rows": int(len(diff)),
        "challenger_loss": float(challenger_loss.mean()),
        "champion_loss": float(champion_loss.mean()),
        "mean_diff": mean,
        "ci_low": lo,
        "ci_high": hi,
        "must_be_below": bound,
        "passed": bool(significant),
    }
    regressions = {}
    if segments is not None:
        seg = np.asarray(segments)
        for value in np.unique(seg):
            mask = seg == value
            new, old = challenger_loss[mask].mean(), champion_loss[mask].mean()
            if new > old * (1 + cfg.guardrail_tolerance) and new - old > 1e-12:
                regressions[str(value)] = {"challenger": float(new), "champion": float(old)}
        checks["guardrails"] = {"tolerance": cfg.guardrail_tolerance, "regressed": regressions}

    if failed_thresholds:
        return _maybe_forced(force, f"fails thresholds {failed_thresholds}", checks)
    if not significant:
        what = "better" if cfg.mode == "superiority" else f"non-inferior (margin {cfg.margin:.1%})"
        return _maybe_forced(
            force,
            f"not shown {what}: {cfg.metric} difference {mean:+.4f}, "
            f"{cfg.level:.0%} CI [{lo:+.4f}, {hi:+.4f}] does not lie below {bound:+.4f}",
            checks,
        )
    if regressions:
        return _maybe_forced(
            force,
            f"guardrail: segments {sorted(regressions)} regress by more than {cfg.guardrail_tolerance:.0%}",
            checks,
        )
    return Decision(
        True,
        f"{cfg.metric} difference {mean:+.4f}, {cfg.level:.0%} CI [{lo:+.4f}, {hi:+.4f}] "
        f"below {bound:+.4f}; no segment regresses",
        checks=checks,
    )


def suspected_leakage(cfg: GateConfig, metrics: dict[str, float]) -> str | None:
    """The reason to refuse an implausibly good regression candidate, or None."""
    mae, naive = metrics.get("mae"), metrics.get("naive_mae")
    if mae is None or naive is None or not np.isfinite(naive) or naive <= 0:
        return None
    if mae < cfg.leakage_ratio * naive:
        return (
            f"suspected leakage: holdout MAE {mae:.4g} is {mae / naive:.2%} of the naive forecast's {naive:.4g} "
            f"(below {cfg.leakage_ratio:.0%}); an input probably carries the target: check features.known_ahead "
            f"(`conveyor validate` lists inputs that nearly equal the target)"
        )
    return None


def _meets(metric: str, value, bound: float) -> bool:
    """Thresholds are floors for scores (ROC-AUC, PR-AUC, F1) and ceilings for errors."""
    if value is None or np.isnan(value):
        return False
    return value >= bound if metric in HIGHER_IS_BETTER else value <= bound


def _maybe_forced(force: bool, reason: str, checks: dict) -> Decision:
    if force:
        return Decision(True, f"FORCED despite: {reason}", forced=True, checks=checks)
    return Decision(False, reason, checks=checks)
