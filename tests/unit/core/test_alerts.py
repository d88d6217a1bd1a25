"""Alerts reach a webhook on loopback as one JSON message each; no receiver never fails a task."""

from __future__ import annotations

import pytest

from ml_tasks.core.settings import load_settings
from ml_tasks.core.alerts import Alert, send, view_link

from ...e2e.stack_helpers import alert_receiver


@pytest.fixture
def receiver():
    with alert_receiver() as (url, received):
        yield url, received


def test_one_alert_is_one_json_post_with_the_numbers_and_a_link_into_the_view(receiver, tmp_path):
    url, received = receiver
    settings = load_settings(home=tmp_path, alert_webhook_url=url)
    link = view_link(settings, "demand", "days", "2026-03-04")
    alert = Alert("quarantine", "demand", "2026-03-04 quarantined at the raw gate: 3 rows of 24", {"dt": "2026-03-04"}, link)
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
