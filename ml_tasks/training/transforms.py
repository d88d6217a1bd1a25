"""Which target transforms a pipeline's learned families try (the backtest picks one per family).

For a forecast whose target has lags: ``none``; a difference from each naive forecast of the
cadence the features carry (one horizon ago, one day or week ago...); and scaling by the target's
longest rolling mean. The arithmetic, which the stored models share, is in
`model_code/target_transform.py`.
"""

from __future__ import annotations

from ml_tasks.core.spec import PipelineSpec
from ml_tasks.features.columns import history_columns, lag_and_window_columns
from ml_tasks.training.evaluation import naive_columns
from ml_tasks.training.model_code.target_transform import NONE


def target_history(spec: PipelineSpec) -> list[str]:
    """The target's own lag and window features (the columns a transform rewrites with the target)."""
    return lag_and_window_columns(spec, [spec.data.target]) if spec.data.target in history_columns(spec) else []


def level_columns(spec: PipelineSpec) -> list[str]:
    """The target's rolling means, longest first: the trailing level that ``scale`` divides by."""
    f = spec.features
    return [c for c in target_history(spec) if c.startswith("rolling_mean_")][::-1] if f.windows else []


def candidate_transforms(
    spec: PipelineSpec, kinds: tuple[str, ...] = ("difference", "scale"), offset: float = 0.0
) -> list[dict]:
    """``none`` first, then each transform of ``kinds`` the spec's features allow.

    ``offset`` keeps a scaling level away from zero (a share of the target's mean magnitude, set
    by the trainer from its training rows).
    """
    out: list[dict] = [NONE]
    if spec.task != "regression":
        return out
    history = target_history(spec)
    naive = naive_columns(spec)
    spreads = [c for c in history if c.startswith("rolling_std_")]
    if "difference" in kinds:
        for base in naive:
            out.append(
                {
                    "kind": "difference",
                    "base": base,
                    "fallback": [c for c in naive if c != base],
                    "history": history,
                    "spreads": spreads,
                }
            )
    levels = level_columns(spec)
    if "scale" in kinds and levels:
        out.append(
            {
                "kind": "scale",
                "base": levels[0],
                "fallback": [*levels[1:], *naive],
                "history": history,
                "offset": offset,
            }
        )
    return out
