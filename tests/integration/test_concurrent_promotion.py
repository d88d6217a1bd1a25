"""Two promotions finishing together leave aliases and audit records consistent."""

from __future__ import annotations

import itertools
import multiprocessing as mp

import pytest

from ml_tasks.core import tracking
from ml_tasks.registry import client as registry
from ml_tasks.registry.audit import history

from .variants import variant as _variant

pytestmark = pytest.mark.spark


def _promote(settings_json: str, trained: dict, barrier) -> None:
    from ml_tasks.core.settings import ConveyorSettings
    from ml_tasks.core.spec import load_spec
    from ml_tasks.registry.promotion import promote_if_better

    settings = ConveyorSettings.model_validate_json(settings_json)
    spec = load_spec("demand", settings.specs_dir)
    barrier.wait()  # both processes start deciding at the same moment
    promote_if_better(settings, spec, trained, {"airflow.run_id": f"concurrent-{trained['version']}"}, force=True)


def test_concurrent_forced_promotions_serialise(loop, demand_spec, tmp_path):
    from ml_tasks.registry.promotion import promote_if_better
    from ml_tasks.registry.registration import train_challenger

    settings = loop["settings"].model_copy(
        update={"mlflow_tracking_uri": f"sqlite:///{tmp_path / 'c.db'}", "mlflow_artifacts_dir": str(tmp_path / "a")}
    )
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
    for before, after in itertools.pairwise(moves):  # every move starts where the previous one ended
        assert after["from_version"] == before["to_version"], moves
    client = tracking.connect(settings)
    champion = str(registry.version_by_alias(client, "demand", registry.CHAMPION).version)
    previous = str(registry.version_by_alias(client, "demand", registry.PREVIOUS_CHAMPION).version)
    assert champion == moves[-1]["to_version"] and previous == moves[-1]["from_version"]
    assert {champion, previous} == {a["version"], b["version"]}


def test_a_decision_is_never_applied_to_a_champion_it_was_not_made_against(loop, demand_spec, tmp_path):
    """Gate and move are two steps (approval may stand between them); a champion moved in between is re-gated."""
    from ml_tasks.registry.promotion import apply_promotion, evaluate_challenger, promote_if_better
    from ml_tasks.registry.registration import train_challenger

    settings = loop["settings"].model_copy(
        update={"mlflow_tracking_uri": f"sqlite:///{tmp_path / 'g.db'}", "mlflow_artifacts_dir": str(tmp_path / "a")}
    )
    # One tree: about the naive forecast, whichever target transform the backtest picks for it.
    weak = train_challenger(settings, _variant(demand_spec, trees=1))
    promote_if_better(settings, demand_spec, weak, force=True)
    a = train_challenger(settings, _variant(demand_spec, seed=3))
    b = train_challenger(settings, _variant(demand_spec, seed=5))
    gated_a = evaluate_challenger(settings, demand_spec, a)
    gated_b = evaluate_challenger(settings, demand_spec, b)
    assert gated_a["promote"] and gated_b["promote"]  # each clearly beats the weak champion
    assert gated_a["gated_against"] == gated_b["gated_against"] == weak["version"]

    assert apply_promotion(settings, demand_spec, a, gated_a)["promoted"]
    late = apply_promotion(settings, demand_spec, b, gated_b, {"airflow.run_id": "late"})
    assert late["reason"].startswith(f"re-gated against v{a['version']}: "), late
    assert not late["promoted"], late  # b is not shown better than a: a tie stays a tie
    client = tracking.connect(settings)
    assert str(registry.version_by_alias(client, "demand", registry.CHAMPION).version) == a["version"]
    decision = client.get_model_version(registry.model_name("demand"), b["version"]).tags["conveyor.promotion_decision"]
    assert "re-gated" not in decision and '"promote": false' in decision  # the tag holds the final decision
    assert [m["to_version"] for m in history(settings, "demand")] == [weak["version"], a["version"]]
