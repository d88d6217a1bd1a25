"""Crash points for fault tests: a process that reaches an armed point is killed there with SIGKILL.

Some faults need a kill at an exact moment that no outside timer can hit: between two objects of
a publish on S3, between the `@champion` move and its audit record. Each such moment calls
:func:`reached` with its name. Nothing happens unless ``CONVEYOR_FAILPOINTS_DIR`` is set (only the
distributed soak sets it, for its own stack; a deployment never does): then a file named
``<name>`` in that folder arms the point for one hit. The first process to reach it takes the
file (an atomic rename, so two workers never both die) and kills itself, as ``kill -9`` or the
OOM killer would. The file's text is a count: the point fires on that hit (``1``: the first).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

ENV = "CONVEYOR_FAILPOINTS_DIR"


def reached(name: str) -> None:
    """Called at the named point; returns at once unless the point is armed for this hit."""
    folder = os.environ.get(ENV)
    if not folder:
        return
    armed = Path(folder) / name
    try:
        count = int(armed.read_text().strip() or "1")
    except (OSError, ValueError):
        return
    if count > 1:  # not this hit yet: count down (one writer at a time: the taken file below)
        armed.write_text(str(count - 1))
        return
    taken = armed.with_name(f"{name}.hit-{os.getpid()}")
    try:
        os.rename(armed, taken)
    except OSError:
        return  # another process took it first
    os.utime(taken)  # when it fired, for the fault's record
    os.kill(os.getpid(), signal.SIGKILL)


def arm(folder: Path, name: str, on_hit: int = 1) -> None:
    """Arm ``name`` in ``folder`` to kill the process that reaches it for the ``on_hit``-th time."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(str(on_hit))


def hits(folder: Path, name: str) -> list[int]:
    """The PIDs a point killed (one per arming)."""
    return [int(p.name.rsplit("-", 1)[1]) for p in folder.glob(f"{name}.hit-*")]


def fired_at(folder: Path, name: str) -> float | None:
    """When the point last fired (seconds since the epoch), or None."""
    taken = sorted(folder.glob(f"{name}.hit-*"), key=lambda p: p.stat().st_mtime)
    return taken[-1].stat().st_mtime if taken else None


def disarm(folder: Path, name: str) -> bool:
    """Take an arming back; True when it had not fired."""
    try:
        (folder / name).unlink()
        return True
    except FileNotFoundError:
        return False
