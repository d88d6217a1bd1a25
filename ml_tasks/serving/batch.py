"""Batch scoring: the ``@champion`` model applied to one feature partition.

The predictions partition is replaced atomically, so re-running an interval gives the same
result and readers never see half a day.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import TypedDict

import pandas as pd

from ml_tasks.core import tracking
from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.registry import client as registry
from ml_tasks.registry.artifacts import load_verified

log = logging.getLogger(__name__)


class ScoredPartition(TypedDict):
    """What `score` wrote (an XCom, JSON as is): ``rows`` predictions of ``model_version`` for day ``dt``,
    at ``path`` (``predictions/<pipeline>/dt=<dt>/``)."""

    dt: str
    path: str
    rows: int
    model_version: str


def score_partition(settings: ConveyorSettings, spec: PipelineSpec, dt: date) -> ScoredPartition:
    """Write ``predictions/<pipeline>/dt=<dt>/`` from the champion and that day's features."""
    client = tracking.connect(settings)
    champion = registry.version_by_alias(client, spec.name, registry.CHAMPION)
    if champion is None:
        raise registry.NoChampionError(
            f"pipeline {spec.name!r} has no @champion model yet: run {spec.name}_train first"
        )
    lake = Lake.from_settings(settings)
    features = lake.read_partition("features", spec.name, dt)
    model = load_verified(settings, spec.name, champion.version)
    prediction = model.predict(features)
    out = features[[*spec.data.keys, spec.data.timestamp]].copy()
    out["prediction"] = pd.Series(prediction).to_numpy(dtype=float)
    out["model_version"] = str(champion.version)
    path = lake.write_partition(out, "predictions", spec.name, dt)
    log.info("wrote %d predictions of %s v%s to %s", len(out), spec.name, champion.version, path)
    return ScoredPartition(dt=dt.isoformat(), path=path, rows=len(out), model_version=str(champion.version))
