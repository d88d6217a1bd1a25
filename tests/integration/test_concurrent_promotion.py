"""Two promotions finishing together leave aliases and audit records consistent."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from ml_tasks import registry
from ml_tasks.audit import history

from .variants import variant as _variant

pytestmark = pytest.mark.spark


def _promote(settings_json: str, trained: dict, barrier) -> None:
    from ml_tasks.promotion import promote_if_better
    from ml_tasks.settings import ConveyorSettings
    from ml_tasks.spec import load_spec

    settings = ConveyorSettings.model_validate_json(settings_json)
    spec = load_spec("demand", settings.specs_dir)
    barrier.wait()  # both processes start deciding at the same moment
    promote_if_better(settings, spec, trained, {"airflow.run_id": f"concurrent-{trained['version']}"}, force=True)


def test_concurrent_forced_promotions_serialise(loop, demand_spec, tmp_path):
    from ml_tasks.promotion import promote_if_better
    from ml_tasks.training import train_challenger

    settings = loop["settings"].model_copy(update={"mlflow_tracking_uri": f"sqlite:///{tmp_path / 'c.db'}",
                                                   "mlflow_artifacts_dir": str(tmp_path / "a")})
    base = train_challenger(settings, _variant(demand_spec))
    promote_if_better(settings, demand_spec, base)
    a = train_challenger(settings, _variant(demand_spec, seed=3))
    b = train_challenger(settings, _variant(demand_spec, seed=4))

    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_promote, args=(settings.model_dump_json(), t, barrier)) for t in (a, b)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0

    moves = history(settings, "demand")
    assert len(moves) == 3
    for before, after in zip(moves, moves[1:]):  # every move starts where the previous one ended
        assert after["from_version"] == before["to_version"], moves
    client = registry.connect(settings)
    champion = str(registry.version_by_alias(client, "demand", registry.CHAMPION).version)
    previous = str(registry.version_by_alias(client, "demand", registry.PREVIOUS_CHAMPION).version)
    assert champion == moves[-1]["to_version"] and previous == moves[-1]["from_version"]
    assert {champion, previous} == {a["version"], b["version"]}
