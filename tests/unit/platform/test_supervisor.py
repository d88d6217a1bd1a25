"""The embedded stack's supervisor, on real processes: what dies is started again, what `down`
stopped stays stopped, a crash loop backs off, and the supervisor process itself goes first on
`down` (so it cannot bring back what is being stopped)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

from ml_tasks.core.polling import wait_until
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.platform.stack import environment, lifecycle
from ml_tasks.platform.stack.supervisor import BURST, Supervisor, restarts


@pytest.fixture
def settings(tmp_path):
    s = ConveyorSettings(home=tmp_path)
    yield s
    for pid in lifecycle.running(s).values():  # whatever a test left running
        if pid:
            os.killpg(pid, signal.SIGKILL)


def _sleeper(name: str) -> environment.Service:
    return environment.Service(name, ["sleep", "600"])


def _kill(pid: int) -> None:
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: not lifecycle.group_alive(pid), 30, f"group {pid} to die", every=0.1)


def test_a_killed_service_is_started_again_with_the_same_command_and_recorded(settings):
    services = [_sleeper("scheduler"), _sleeper("triggerer")]
    env = environment.stack_env(settings)
    pids = {s.name: lifecycle.start_service(s, settings, env) for s in services}
    supervisor = Supervisor(settings, services)
    assert supervisor.tick() == []  # all alive: nothing to do

    _kill(pids["scheduler"])
    [restart] = supervisor.tick()
    assert (restart.service, restart.old_pid) == ("scheduler", pids["scheduler"])
    state = lifecycle.running(settings)
    assert state["scheduler"] == restart.new_pid != pids["scheduler"] and state["triggerer"] == pids["triggerer"]
    with open(f"/proc/{restart.new_pid}/cmdline", "rb") as fh:
        assert fh.read().split(b"\0")[:2] == [b"sleep", b"600"]
    assert [(r.service, r.new_pid) for r in restarts(settings)] == [("scheduler", restart.new_pid)]
    assert supervisor.tick() == []


def test_a_service_stopped_on_purpose_stays_stopped(settings):
    service = _sleeper("scheduler")
    pid = lifecycle.start_service(service, settings, environment.stack_env(settings))
    _kill(pid)
    lifecycle.pid_file(settings, "scheduler").unlink()  # what `down` does after stopping it
    assert Supervisor(settings, [service]).tick() == []
    assert lifecycle.running(settings)["scheduler"] is None and restarts(settings) == []


def test_a_crash_loop_is_restarted_with_a_growing_delay(settings, capsys):
    service = environment.Service("triggerer", ["true"])  # exits at once, every time
    lifecycle.start_service(service, settings, environment.stack_env(settings))
    supervisor = Supervisor(settings, [service])
    made = 0
    for _ in range(BURST + 3):
        wait_until(lambda: lifecycle.running(settings)["triggerer"] is None, 30, "the service to exit", every=0.05)
        made += len(supervisor.tick())
    assert made == BURST + 1  # then it waits: the next start is not before the backoff
    assert supervisor.not_before["triggerer"] > time.monotonic()
    assert f"triggerer restarted {BURST + 1} times" in capsys.readouterr().out


def test_down_stops_the_supervisor_before_the_services_it_watches(settings):
    """The real supervisor process, watching a sleeper named like a service: `down` stops both
    and nothing is started again afterwards."""
    service = _sleeper("triggerer")
    env = environment.stack_env(settings)
    lifecycle.start_service(service, settings, env)
    path = environment.supervised_settings(settings)
    path.write_text(settings.model_dump_json())
    # the supervisor watches the stack's real services; only the sleeper's PID file exists, so
    # it is the only one it would restart
    sup = lifecycle.start_service(
        environment.Service(
            environment.SUPERVISOR, [sys.executable, "-m", "ml_tasks.platform.stack.supervisor", str(path)]
        ),
        settings,
        env,
    )
    wait_until(
        lambda: (
            (settings.home / "logs" / "supervisor.log").exists()
            and "supervising" in (settings.home / "logs" / "supervisor.log").read_text()
        ),
        60,
        "the supervisor to start",
        every=0.2,
    )
    victim = lifecycle.running(settings)["triggerer"]
    _kill(victim)
    wait_until(
        lambda: lifecycle.running(settings)["triggerer"] not in (None, victim),
        30,
        "the supervisor's restart",
        every=0.2,
    )

    stopped = lifecycle.down(settings, say=lambda m: None, grace=10)
    assert stopped[0] == environment.SUPERVISOR and "triggerer" in stopped
    time.sleep(3)  # more than one supervisor round
    assert not lifecycle.group_alive(sup) and all(pid is None for pid in lifecycle.running(settings).values())
    assert [r.service for r in restarts(settings)] == ["triggerer"]
    assert json.loads(path.read_text())["home"] == str(settings.home)
