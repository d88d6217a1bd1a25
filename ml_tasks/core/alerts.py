"""Alerts: one JSON message per event to the configured webhook, with the numbers and a link.

Events: ``quarantine`` (a day failed a gate and was moved aside), ``training_failed`` (a model
family's training task failed), ``retrain_requested`` (the drift check asked for a retrain),
``champion_changed`` (`@champion` moved), ``deadline_missed`` (a day's features were not
published in time) and ``serving_reload_failed`` (a server could not load the new champion and
keeps serving the old one) and ``model_unverified`` (a model version's files do not match the digest
recorded at registration, so nothing loads it). The Airflow side (`conveyor_factory.callbacks`) and the server
decide when; this module says what (one builder per Airflow-raised event, from plain values) and delivers it.

The receiver is often a third-party service (Slack, Teams), and its URL is its secret: payloads
carry counts and links, never data rows unless ``alert_include_rows`` asks; the URL is never
logged whole (:func:`redacted`). Delivery is retried with backoff and never fails the task or
request that triggers it: a receiver that stays away is logged and skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from ml_tasks.core.settings import ConveyorSettings

log = logging.getLogger(__name__)
EVENTS = (
    "quarantine",
    "training_failed",
    "retrain_requested",
    "champion_changed",
    "deadline_missed",
    "serving_reload_failed",
    "model_unverified",
)
RETRY_WAITS = (1.0, 3.0)  # seconds before the second and third delivery attempts


@dataclass(frozen=True)
class Alert:
    """One event: ``summary`` is the line a person reads first; ``details`` the numbers behind it."""

    event: str
    pipeline: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    link: str | None = None
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def __post_init__(self):
        if self.event not in EVENTS:
            raise ValueError(f"unknown alert event {self.event!r}; expected one of {EVENTS}")

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "text": f"[Conveyor] {self.pipeline}: {self.summary}" + (f" <{self.link}>" if self.link else ""),
        }


def view_link(settings: ConveyorSettings, pipeline: str, *parts: str) -> str:
    """The absolute URL of a Conveyor view page (the alert is read outside the Airflow UI)."""
    return "/".join([f"{settings.airflow_public_url}/conveyor/pipelines/{pipeline}", *parts])


def quarantine_alert(settings: ConveyorSettings, pipeline: str, dt: str, stage: str, error: str, dag_run: str) -> Alert:
    """Day ``dt`` was quarantined at the ``stage`` gate (``raw`` or ``features``). ``error`` is the gate's
    message: a first line, then one ``  - `` line per failed expectation; the rows' example values in
    those lines are cut unless ``alert_include_rows`` (the receiver is often a third party)."""
    lines = error.splitlines()
    failed = [line.strip()[2:] for line in lines if line.startswith("  - ")]
    if not settings.alert_include_rows:  # the expectations and counts, not the rows' values
        failed = [line.split("; e.g. ")[0] for line in failed]
    return Alert(
        "quarantine",
        pipeline,
        f"{dt} quarantined at the {stage} gate: {lines[0] if lines else ''}",
        {"dt": dt, "stage": stage, "failed": failed[:20], "dag_run": dag_run},
        view_link(settings, pipeline, "days", dt),
    )


def training_failed_alert(
    settings: ConveyorSettings, pipeline: str, task_id: str, attempt: int, dag_run: str, error: BaseException | None
) -> Alert:
    """A model family's training task failed (each try alerts)."""
    return Alert(
        "training_failed",
        pipeline,
        f"{task_id} failed (try {attempt}): {type(error).__name__}: {str(error)[:300]}",
        {"task": task_id, "dag_run": dag_run, "try": attempt},
        view_link(settings, pipeline),
    )


def retrain_requested_alert(settings: ConveyorSettings, pipeline: str, decision: Mapping[str, Any] | None) -> Alert:
    """The drift DAG requested a retrain; ``decision`` is its `RetrainDecision` (None: not found)."""
    decision = decision or {}
    return Alert(
        "retrain_requested",
        pipeline,
        decision.get("reason", "retrain requested"),
        {"signals": decision.get("signals"), "evidence": decision.get("evidence")},
        view_link(settings, pipeline),
    )


def champion_changed_alert(settings: ConveyorSettings, pipeline: str, outcome: Mapping[str, Any] | None) -> Alert:
    """`@champion` moved; ``outcome`` is the train DAG's `PromotionOutcome` (None: not found)."""
    outcome = outcome or {}
    forced = " (FORCED)" if outcome.get("forced") else ""
    return Alert(
        "champion_changed",
        pipeline,
        f"@champion v{outcome.get('previous_champion') or '-'} -> "
        f"v{outcome.get('champion')}{forced}: {outcome.get('reason', '')}",
        {k: outcome.get(k) for k in ("champion", "previous_champion", "forced", "checks")},
        view_link(settings, pipeline),
    )


def deadline_missed_alert(
    settings: ConveyorSettings, pipeline: str, hours: float, day: str, run_id: str | None, state: str | None
) -> Alert:
    """The features of ``day`` (empty: unknown) were not published ``hours`` after the day ended."""
    return Alert(
        "deadline_missed",
        pipeline,
        f"features of {day or 'a day'} not published {hours:g} h after the day ended "
        f"(run {run_id or '?'} is {state or '?'})",
        {"dt": day, "run_id": run_id, "state": state, "deadline_hours": hours},
        view_link(settings, pipeline, "days", day) if day else view_link(settings, pipeline),
    )


def redacted(url: str) -> str:
    """A webhook URL as logs may show it: scheme and host only (the path and query carry its secret)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/..." if parts.scheme else "(webhook)"


def send(settings: ConveyorSettings, alert: Alert, waits: tuple[float, ...] = RETRY_WAITS) -> bool:
    """Deliver ``alert`` to the webhook, retrying after each of ``waits``; True when the receiver took it,
    False when none is set or every attempt failed (logged without the URL's secret part; never raised)."""
    if not settings.alert_webhook_url:
        return False
    where, problem = redacted(settings.alert_webhook_url), ""
    for attempt, wait in enumerate((0.0, *waits), start=1):  # noqa: B007 (attempt: the count logged below)
        time.sleep(wait)
        try:
            answer = requests.post(settings.alert_webhook_url, json=alert.as_json(), timeout=10)
        except requests.RequestException as exc:  # its text holds the whole URL: only its kind is logged
            problem = type(exc).__name__
            continue
        if answer.status_code < 400:
            log.info("alert %s for %s delivered to %s", alert.event, alert.pipeline, where)
            return True
        problem = f"HTTP {answer.status_code}"
        if answer.status_code < 500 and answer.status_code != 429:
            break  # the receiver refuses this message: sending it again will not help
    log.warning(
        "alert %s for %s not delivered to %s after %d attempt(s): %s",
        alert.event,
        alert.pipeline,
        where,
        attempt,
        problem,
    )
    return False
