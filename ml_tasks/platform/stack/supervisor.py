"""The embedded stack's supervisor: a service that dies is started again, as systemd or Kubernetes would.

`conveyor up` starts it beside the services (its own process group, ``run/supervisor.pid``).
Every ``every`` seconds it looks at each service's PID file: a file whose process group is gone
means the service died (a crash, the OOM killer, ``kill -9``) and it is started again with the
same command and environment; a missing file means `conveyor down` stopped it on purpose, and
it stays stopped. A service that keeps dying is restarted with a growing delay (a crash loop
must not spin). Each restart is a line in ``logs/supervisor.log`` and a record in
``logs/restarts.jsonl`` (when, which service, the old and new PID) that `conveyor status` and
the soak run read.

Seen in CI: Airflow's scheduler exits on an exception inside its loop (an ``ObjectDeletedError``
when an API call that was creating backfill runs was rolled back on a locked SQLite database);
without a supervisor every later run stayed queued for good.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.platform.stack import environment, lifecycle

# A service restarted more than BURST times within WINDOW seconds waits before the next start:
# BACKOFF_FIRST seconds, doubling up to BACKOFF_MAX.
BURST, WINDOW, BACKOFF_FIRST, BACKOFF_MAX = 5, 600.0, 10.0, 300.0


@dataclass
class Restart:
    at: str
    service: str
    old_pid: int
    new_pid: int

    def line(self) -> str:
        return f"{self.at} {self.service} had died (pid {self.old_pid}); started again as pid {self.new_pid}"


@dataclass
class Supervisor:
    """Watches the services of one stack; :meth:`tick` does one round (tests call it directly)."""

    settings: ConveyorSettings
    services: list  # of environment.Service, the ones to keep alive (never the supervisor itself)
    history: dict[str, list[float]] = field(default_factory=dict)  # service -> monotonic restart times
    not_before: dict[str, float] = field(default_factory=dict)

    def tick(self) -> list[Restart]:
        done: list[Restart] = []
        with lifecycle.stack_lock(self.settings):
            state = lifecycle.running(self.settings)
            env = environment.stack_env(self.settings)
            for service in self.services:
                path = lifecycle.pid_file(self.settings, service.name)
                if state.get(service.name) is not None or not path.exists():
                    continue  # alive, or stopped on purpose
                now = time.monotonic()
                if now < self.not_before.get(service.name, 0.0):
                    continue
                old_pid = int(path.read_text() or 0)
                new_pid = lifecycle.start_service(service, self.settings, env)
                record = Restart(datetime.now(UTC).isoformat(timespec="seconds"), service.name, old_pid, new_pid)
                self._record(record)
                done.append(record)
                recent = [t for t in self.history.get(service.name, []) if now - t < WINDOW] + [now]
                self.history[service.name] = recent
                if len(recent) > BURST:
                    delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (len(recent) - BURST - 1))
                    self.not_before[service.name] = now + delay
                    self._log(
                        f"{service.name} restarted {len(recent)} times in {WINDOW:.0f} s: "
                        f"the next restart waits {delay:.0f} s"
                    )
        return done

    def _record(self, record: Restart) -> None:
        self._log(record.line())
        with open(restarts_file(self.settings), "a") as fh:
            fh.write(json.dumps(record.__dict__) + "\n")

    def _log(self, message: str) -> None:
        print(message, flush=True)  # stdout is logs/supervisor.log

    def run(self, every: float = 2.0) -> None:
        self._log(f"supervising {', '.join(s.name for s in self.services)} every {every:g} s")
        while True:
            try:
                self.tick()
            except Exception as exc:  # a bad round (a PID file half written) must not end the supervision
                self._log(f"supervisor round failed: {type(exc).__name__}: {exc}")
            time.sleep(every)


def restarts_file(settings: ConveyorSettings) -> Path:
    return settings.home / "logs" / "restarts.jsonl"


def restarts(settings: ConveyorSettings) -> list[Restart]:
    """Every restart the supervisor made in this home, oldest first."""
    path = restarts_file(settings)
    if not path.exists():
        return []
    return [Restart(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str]) -> None:  # pragma: no cover - runs as the stack's supervisor process
    settings = ConveyorSettings(**json.loads(Path(argv[1]).read_text()))
    Supervisor(settings, [s for s in environment.services(settings) if s.name != environment.SUPERVISOR]).run()


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv)
