"""Lineage: from a serving alias back to the raw partitions a model version was built from."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from ml_tasks.core import tracking
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.registry import client as registry


class LineageError(ValueError):
    pass


def parse_ref(ref: str) -> tuple[str, str]:
    """``demand@champion`` -> ("demand", "champion"); ``demand/3`` -> ("demand", "3")."""
    for sep in ("@", "/"):
        if sep in ref:
            pipeline, what = ref.split(sep, 1)
            if pipeline and what:
                return pipeline, what
    raise LineageError(f"{ref!r}: expected PIPELINE@ALIAS (e.g. demand@champion) or PIPELINE/VERSION")


def lineage(settings: ConveyorSettings, ref: str) -> dict[str, Any]:
    """The chain raw partitions -> features (hash) -> training runs -> version -> aliases."""
    from ml_tasks.core.spec import load_spec
    from ml_tasks.features.columns import lookback_days

    pipeline, what = parse_ref(ref)
    client = tracking.connect(settings)
    name = registry.model_name(pipeline)
    if what.isdigit():
        version = client.get_model_version(name, what)
    else:
        version = registry.version_by_alias(client, pipeline, what)
        if version is None:
            raise LineageError(f"{ref}: model {name!r} has no alias @{what}")
    tags = version.tags or {}
    features = json.loads(tags.get("conveyor.feature_partitions", "[]"))
    spec = load_spec(pipeline, settings.specs_dir)
    raw: list[str] = []
    if features:
        first = date.fromisoformat(features[0]) - timedelta(days=lookback_days(spec))
        raw = [first.isoformat(), features[-1]]
    all_aliases = client.get_registered_model(name).aliases or {}
    aliases = sorted(a for a, v in all_aliases.items() if str(v) == str(version.version))
    return {
        "model": name,
        "version": str(version.version),
        "aliases": aliases,
        "model_family": tags.get("conveyor.model_family"),
        "training_run": tags.get("conveyor.run_id", version.run_id),
        "parent_run": tags.get("conveyor.parent_run_id"),
        "airflow": {"dag_id": tags.get("airflow.dag_id"), "run_id": tags.get("airflow.run_id")},
        "code_version": tags.get("conveyor.code_version"),
        "training_window": tags.get("conveyor.training_window"),
        "holdout_window": tags.get("conveyor.holdout_window"),
        "feature_partitions": {
            "zone": f"features/{pipeline}",
            "days": len(features),
            "first": features[0] if features else None,
            "last": features[-1] if features else None,
            "sha256": tags.get("conveyor.features_sha256"),
        },
        "raw_partitions": {
            "zone": f"raw/{pipeline}",
            "from": raw[0] if raw else None,
            "to": raw[1] if raw else None,
            "note": f"features of a day read its raw day and {lookback_days(spec)} days before it",
        },
        "validation": json.loads(tags.get("conveyor.validation", "null"))
        or {
            "raw_suite": spec.data.raw_suite,
            "features_suite": spec.data.features_suite,
            "partitions": len(features),
            "passed_both_gates": None,
            "unrecorded": features,
            "warnings": {},
        },
        "promotion": json.loads(tags.get("conveyor.promotion_decision", "{}")).get("reason"),
    }
