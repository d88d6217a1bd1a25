"""Alerts: one JSON message per event to the configured webhook, with the numbers and a link.

Events: ``quarantine`` (a day failed a gate and was moved aside), ``training_failed`` (a model
family's training task failed), ``retrain_requested`` (the drift check asked for a retrain),
``champion_changed`` (`@champion` moved) and ``deadline_missed`` (a day's features were not
published in time). The Airflow side (`conveyor_factory.alerts`) decides when; this module says
what and delivers it. Delivery never fails the task that triggers it: a receiver that is away is
logged and skipped.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import requests

from ml_tasks.core.settings import ConveyorSettings

log = logging.getLogger(__name__)
EVENTS = ("quarantine", "training_failed", "retrain_requested", "champion_changed", "deadline_missed")


@dataclass(frozen=True)
class Alert:
    """One event: ``summary`` is the line a person reads first; ``details`` the numbers behind it."""

    event: str
    pipeline: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    link: str | None = None
    time: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def __post_init__(self):
        if self.event not in EVENTS:
            raise ValueError(f"unknown alert event {self.event!r}; expected one of {EVENTS}")

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "text": f"[Conveyor] {self.pipeline}: {self.summary}"
                + (f" <{self.link}>" if self.link else "")}


def view_link(settings: ConveyorSettings, pipeline: str, *parts: str) -> str:
    """The absolute URL of a Conveyor view page (the alert is read outside the Airflow UI)."""
    return "/".join([f"{settings.airflow_public_url}/conveyor/pipelines/{pipeline}", *parts])


def send(settings: ConveyorSettings, alert: Alert) -> bool:
    """Deliver ``alert`` to the webhook; True when the receiver took it, False when none is set or it failed."""
    if not settings.alert_webhook_url:
        return False
    try:
        requests.post(settings.alert_webhook_url, json=alert.as_json(), timeout=10).raise_for_status()
    except requests.RequestException as exc:
        log.warning("alert %s for %s not delivered to %s: %s", alert.event, alert.pipeline,
                    settings.alert_webhook_url, exc)
        return False
    log.info("alert %s for %s delivered", alert.event, alert.pipeline)
    return True
