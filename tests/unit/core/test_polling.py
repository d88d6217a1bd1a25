"""`wait_until`: returns what the predicate found, says what it waited for when it times out."""

import pytest

from ml_tasks.core.polling import WaitTimeout, wait_until


def test_returns_the_first_truthy_value():
    calls = iter([None, 0, "ready"])
    assert wait_until(lambda: next(calls), timeout=5, what="ready", every=0.01) == "ready"


def test_times_out_naming_what_it_waited_for_and_the_last_transient_error():
    def boom():
        raise ConnectionError("refused")

    with pytest.raises(WaitTimeout, match=r"the server at :1.*ConnectionError: refused"):
        wait_until(boom, timeout=0.05, what="the server at :1", every=0.01, transient=(ConnectionError,))


def test_other_errors_propagate_at_once():
    with pytest.raises(KeyError):
        wait_until(lambda: {}["x"], timeout=5, what="x", every=0.01, transient=(ConnectionError,))


def test_give_up_ends_the_wait_with_its_reason_and_the_latest_state():
    state = {"n": 0}

    def never():
        state["n"] += 1
        return False

    with pytest.raises(WaitTimeout, match=r"gave up waiting for run r1 \(polled 3 times\): it failed"):
        wait_until(
            never,
            timeout=60,
            what=lambda: f"run r1 (polled {state['n']} times)",
            every=0.01,
            give_up=lambda: "it failed" if state["n"] >= 3 else None,
        )
