"""Variants of the demand spec for promotion tests."""


def variant(spec, seed=None, trees=None):
    """The demand spec with LightGBM only and no tuning (so a small forest stays small), optionally
    another seed or a (too) small forest."""
    lgbm = spec.training.lightgbm.model_copy(update={"n_estimators": trees} if trees else {})
    tuning = spec.training.tuning.model_copy(update={"trials": 0})
    training = spec.training.model_copy(
        update={
            "models": ["lightgbm"],
            "lightgbm": lgbm,
            "tuning": tuning,
            **({"seed": seed} if seed is not None else {}),
        }
    )
    return spec.model_copy(update={"training": training})
