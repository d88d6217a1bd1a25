"""Watching the champion: data and prediction drift, performance decay, the retrain decision.

Owns `checks` (the scheduled check of one day; `DriftVerdict`), `drift` (Evidently reports),
`decay` (error on labelled days against the model's holdout), `sampling` (the day windows a check
reads), `retrain_policy` (when a verdict asks for retraining) and `plots`.
"""
