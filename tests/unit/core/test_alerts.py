"""Alerts reach a webhook on loopback as one JSON message each; no receiver never fails a task."""

from __future__ import annotations

import pytest

from ml_tasks.core.alerts import Alert, send, view_link
from ml_tasks.core.settings import load_settings

from ...e2e.stack_helpers import alert_receiver


@pytest.fixture
def receiver():
    with alert_receiver() as (url, received):
        yield url, received


def test_one_alert_is_one_json_post_with_the_numbers_and_a_link_into_the_view(receiver, tmp_path):
    url, received = receiver
    settings = load_settings(home=tmp_path, alert_webhook_url=url)
    link = view_link(settings, "demand", "days", "2026-03-04")
    alert = Alert(
        "quarantine", "demand", "2026-03-04 quarantined at the raw gate: 3 rows of 24", {"dt": "2026-03-04"}, link
    )
    assert send(settings, alert)
    assert len(received) == 1
    body = received[0]
    assert body["event"] == "quarantine" and body["details"] == {"dt": "2026-03-04"}
    assert body["link"] == "http://127.0.0.1:8080/conveyor/pipelines/demand/days/2026-03-04"
    assert body["text"].startswith("[Conveyor] demand: 2026-03-04 quarantined") and link in body["text"]


def test_without_a_webhook_nothing_is_sent_and_an_absent_receiver_is_not_an_error(tmp_path):
    alert = Alert("champion_changed", "demand", "@champion v1 -> v2")
    assert send(load_settings(home=tmp_path), alert) is False
    assert send(load_settings(home=tmp_path, alert_webhook_url="http://127.0.0.1:9/hook"), alert) is False


def test_an_unknown_event_is_refused():
    with pytest.raises(ValueError, match="unknown alert event"):
        Alert("something", "demand", "x")


def test_a_webhook_is_never_logged_whole_and_a_failing_one_is_tried_three_times(tmp_path, caplog):
    import logging
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answers = [503, 503, 204]  # down twice, then takes it

    class Flaky(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(answers.pop(0))
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret_path = "/services/T000/B000/XXXXSECRETXXXX"  # pragma: allowlist secret
    try:
        flaky = load_settings(home=tmp_path, alert_webhook_url=f"http://127.0.0.1:{server.server_port}{secret_path}")
        assert send(flaky, Alert("champion_changed", "demand", "v1 -> v2"), waits=(0.05, 0.05)) and answers == []
    finally:
        server.shutdown()
    away = load_settings(home=tmp_path, alert_webhook_url=f"http://127.0.0.1:9{secret_path}")
    with caplog.at_level(logging.INFO, logger="ml_tasks.core.alerts"):
        assert send(away, Alert("champion_changed", "demand", "v1 -> v2"), waits=(0.05, 0.05)) is False
    assert "after 3 attempt(s): ConnectionError" in caplog.text and "http://127.0.0.1/..." in caplog.text
    assert "SECRET" not in caplog.text and "services" not in caplog.text


def test_a_quarantine_alert_names_the_failed_expectations_and_counts_but_not_the_rows(tmp_path):
    from ml_tasks.core.alerts import quarantine_alert

    error = (
        "raw partition raw/demand/dt=2026-03-04 failed the gate and was moved to quarantine/demand/dt=2026-03-04\n"
        "suite 'demand_raw': 1 of 12 expectation(s) failed\n"
        "  - expect_column_values_to_be_between(units): observed 3 of 24 rows; expected >= 0; e.g. [-4, -1, -2]"
    )
    alert = quarantine_alert(load_settings(home=tmp_path), "demand", "2026-03-04", "raw", error, "manual__1")
    assert alert.summary.startswith("2026-03-04 quarantined at the raw gate: raw partition raw/demand/dt=2026-03-04 ")
    assert alert.details["failed"] == [
        "expect_column_values_to_be_between(units): observed 3 of 24 rows; expected >= 0"
    ]
    assert alert.link.endswith("/conveyor/pipelines/demand/days/2026-03-04")
    with_rows = quarantine_alert(
        load_settings(home=tmp_path, alert_include_rows=True), "demand", "2026-03-04", "raw", error, "manual__1"
    )
    assert with_rows.details["failed"][0].endswith("e.g. [-4, -1, -2]")


def test_a_champion_alert_says_which_version_replaced_which_and_whether_it_was_forced(tmp_path):
    from ml_tasks.core.alerts import champion_changed_alert

    outcome = {
        "promoted": True,
        "forced": True,
        "version": "4",
        "previous_champion": "3",
        "champion": "4",
        "reason": "forced by a person",
        "checks": {},
    }
    alert = champion_changed_alert(load_settings(home=tmp_path), "demand", outcome)
    assert alert.summary == "@champion v3 -> v4 (FORCED): forced by a person"
    assert alert.details == {"champion": "4", "previous_champion": "3", "forced": True, "checks": {}}


def test_a_missed_deadline_names_the_day_and_the_run(tmp_path):
    from ml_tasks.core.alerts import deadline_missed_alert

    alert = deadline_missed_alert(load_settings(home=tmp_path), "demand", 6, "2026-03-04", "scheduled__x", "running")
    assert alert.summary == "features of 2026-03-04 not published 6 h after the day ended (run scheduled__x is running)"
    assert alert.details["deadline_hours"] == 6 and alert.link.endswith("/days/2026-03-04")
