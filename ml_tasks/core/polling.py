"""Waiting for something to become true: one loop for the stack, the Airflow client, benches and tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """What was waited for did not happen in time (or the wait was given up); the message says what."""


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str | Callable[[], str],
    *,
    every: float = 1.0,
    transient: tuple[type[BaseException], ...] = (),
    give_up: Callable[[], str | None] | None = None,
) -> T:
    """Call ``predicate`` every ``every`` seconds until it returns something truthy, and return that.

    ``what`` names what is awaited in the error (a callable is asked at the end, so it can show
    the latest state). Exceptions of the ``transient`` types count as "not yet" (a server still
    starting); any other propagates. ``give_up`` is asked after each miss: a message ends the wait
    at once (the process being waited on has died, the run has finished otherwise).
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except transient as exc:
            last_error = exc
        reason = give_up() if give_up is not None else None
        name = what() if callable(what) else what
        if reason:
            raise WaitTimeout(f"gave up waiting for {name}: {reason}")
        if time.monotonic() + every > deadline:
            raise WaitTimeout(
                f"waited {timeout:g} s for {name}"
                + (f"; last error: {type(last_error).__name__}: {last_error}" if last_error else "")
            )
        time.sleep(every)
