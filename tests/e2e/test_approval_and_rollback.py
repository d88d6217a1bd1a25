"""Human approval of promotions and rollback from the Airflow UI, on the real embedded stack.

The spec asks for approval (`promotion.require_approval: true`). Every run of `demand_train`
whose gate says "promote" waits in task `approve` (Airflow's human-in-the-loop ApprovalOperator)
until someone answers through the REST API the UI's Required Actions page uses. Reject keeps the
champion; Approve moves it and the audit trail names who approved. `demand_rollback`, triggered
with params as the UI's trigger form does, moves the champion back.
"""

from __future__ import annotations

import shutil
import time

import pytest
import yaml

from ml_tasks.core import tracking
from ml_tasks.core.polling import wait_until
from ml_tasks.core.settings import load_settings
from ml_tasks.demo.seed import DemoSize, seed_demo
from ml_tasks.registry import client as registry
from ml_tasks.registry.audit import history

from .stack_helpers import champion_version, explain_run, running_stack, stack_settings, wait_all_runs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
SIZE = DemoSize(stores=2, items=6, days=28)
TRAIN = "demand_train"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    home = tmp_path_factory.mktemp("approval")
    specs = home / "specs"
    specs.mkdir()
    base = load_settings().specs_dir / "demand.yaml"
    spec = yaml.safe_load(base.read_text())
    spec["promotion"]["require_approval"] = True
    spec["training"]["models"] = ["lightgbm"]
    spec["training"]["tuning"] = {"trials": 3, "minutes": 1}  # the soak's cap: these tests are about the UI, not tuning
    (specs / "demand.yaml").write_text(yaml.safe_dump(spec))
    settings = stack_settings(home, specs_dir=specs)
    seed_demo(settings, SIZE, leave_unbuilt=0, say=lambda m: None)
    with running_stack(settings) as client:
        client.set_paused(TRAIN, False)
        yield {"settings": settings, "client": client}
    shutil.rmtree(specs, ignore_errors=True)


def _latest_version(settings) -> str:
    versions = tracking.connect(settings).search_model_versions(f"name='{registry.model_name('demand')}'")
    return str(max(int(v.version) for v in versions))


def _train_until_approval(client, force: bool) -> tuple[str, dict]:
    wait_all_runs(client, TRAIN)
    run_id = client.trigger(TRAIN, conf={"force": force})
    client.wait_for_task_state(TRAIN, run_id, "approve", {"awaiting_input"}, timeout=600)
    _settle(client, run_id)
    return run_id, client.hitl_detail(TRAIN, run_id, "approve")


def _settle(client, run_id: str, timeout: float = 120) -> None:
    """Answer once the process that parked the task has exited, as a person (seconds later) would.

    Airflow 3.3 fails a human-in-the-loop task whose answer lands while the task process that
    parked it is still winding down: the answer re-queues the task and the old process's last
    calls then conflict with the new attempt. Seen in CI twice, 0.5 s and 3 s after the state
    flipped on a busy machine. The task's PID is in Airflow's record of the task instance.
    """
    import psutil

    ti = next(t for t in client.task_instances(TRAIN, run_id) if t["task_id"] == "approve")
    if ti.get("pid"):
        wait_until(
            lambda: not psutil.pid_exists(ti["pid"]), timeout, f"the task process {ti['pid']} to exit", every=0.5
        )
    time.sleep(2)


def _first_waiting_run(client, timeout: float = 600) -> str:
    """Unpausing may also start the latest nightly run: whichever run asks first is the first model."""

    def waiting() -> str | None:
        for run in client.runs(TRAIN):
            if client.task_states(TRAIN, run["dag_run_id"]).get("approve") == "awaiting_input":
                return run["dag_run_id"]
            assert run["state"] != "failed", run
        return None

    return wait_until(waiting, timeout, lambda: f"a {TRAIN} run to reach `approve`: {client.runs(TRAIN)}", every=3)


def test_first_model_waits_for_approval_and_approving_makes_it_champion(platform):
    client, settings = platform["client"], platform["settings"]
    client.trigger(TRAIN, conf={"force": False})
    run_id = _first_waiting_run(client)
    _settle(client, run_id)
    request = client.hitl_detail(TRAIN, run_id, "approve")
    version = _latest_version(settings)
    assert request["options"] == ["Approve", "Reject"] and not request["response_received"]
    assert "first model of the pipeline" in request["body"] and f"demand v{version}**" in request["body"]
    assert champion_version(settings) is None  # nothing moves while the run waits

    client.respond(TRAIN, run_id, "approve", "Approve")
    assert client.wait_for_run(TRAIN, run_id, timeout=300) == "success", explain_run(client, settings, TRAIN, run_id)
    assert champion_version(settings) == version
    moves = history(settings, "demand")
    assert moves[-1]["to_version"] == version and moves[-1]["approved_by"].startswith("admin")
    assert moves[-1]["airflow.run_id"] == run_id
    runs = wait_all_runs(client, TRAIN)  # any other run retrained the same data: a tie, no request
    assert {r["state"] for r in runs} == {"success"} and len(history(settings, "demand")) == 1


def test_a_run_the_gate_rejects_never_asks(platform):
    client, settings = platform["client"], platform["settings"]
    champion = champion_version(settings)
    run_id = client.trigger(TRAIN, conf={"force": False})  # same data and seed: a tie, not better
    assert client.wait_for_run(TRAIN, run_id, timeout=600) == "success"
    states = client.task_states(TRAIN, run_id)
    assert states["gate"] == "success" and states["approve"] == "skipped" and states["promote"] == "skipped", states
    assert champion_version(settings) == champion


def test_rejecting_keeps_the_champion_and_approving_a_forced_one_moves_it(platform):
    client, settings = platform["client"], platform["settings"]
    champion = champion_version(settings)

    run_id, request = _train_until_approval(client, force=True)
    assert "FORCED" in request["body"]
    client.respond(TRAIN, run_id, "approve", "Reject")
    assert client.wait_for_run(TRAIN, run_id, timeout=300) == "success", explain_run(client, settings, TRAIN, run_id)
    states = client.task_states(TRAIN, run_id)
    assert states["promote"] == "skipped" and states["announce_champion"] == "skipped", states
    assert champion_version(settings) == champion

    run_id, _ = _train_until_approval(client, force=True)
    client.respond(TRAIN, run_id, "approve", "Approve")
    assert client.wait_for_run(TRAIN, run_id, timeout=300) == "success", explain_run(client, settings, TRAIN, run_id)
    assert champion_version(settings) not in (None, champion)
    platform["first_champion"] = champion


def test_rollback_from_the_ui_trigger_form_restores_the_previous_champion(platform):
    client, settings = platform["client"], platform["settings"]
    before = champion_version(settings)
    client.set_paused("demand_rollback", False)
    run_id = client.trigger("demand_rollback", conf={"to_version": "", "reason": "approved model misbehaves"})
    assert client.wait_for_run("demand_rollback", run_id, timeout=300) == "success"
    assert champion_version(settings) == platform["first_champion"] != before
    last = history(settings, "demand")[-1]
    assert last["reason"] == "rollback: approved model misbehaves" and last["trigger"] == "airflow_ui"
    assert (last["from_version"], last["to_version"]) == (before, platform["first_champion"])
    assert last["airflow.dag_id"] == "demand_rollback" and last["airflow.run_id"] == run_id
