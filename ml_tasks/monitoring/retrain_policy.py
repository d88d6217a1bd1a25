"""When a monitoring verdict becomes a retrain request: signals, cooldown, de-duplication.

A pure function of what the drift check found and what Airflow knows (when the last retrain
request was made, how many training runs are queued or running). One rule per line, the first
that applies decides, and the decision always says why:

1. no signal the spec retrains on  -> no request;
2. a backfill run (history, not today) -> no request;
3. a training run already queued or running -> suppressed: that run absorbs this request;
4. the last request is younger than the cooldown -> suppressed until the cooldown ends;
5. otherwise -> fire, with the evidence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ml_tasks.monitoring.checks import DriftVerdict


@dataclass(frozen=True)
class RetrainDecision:
    """The decision on one verdict; its XCom form (`decide_retrain` -> `request_retrain`) is :meth:`as_dict`."""

    fire: bool
    outcome: str  # "fired" | "suppressed" | "none"
    reason: str
    signals: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide_retrain(verdict: DriftVerdict, retrain_on: list[str], now: datetime, last_request_at: datetime | None,
                   active_training_runs: int, cooldown: timedelta, backfill: bool = False) -> RetrainDecision:
    """Apply the rules above to one monitoring verdict (see ``ml_tasks.monitoring.checks.check``)."""
    signals = [s for s in retrain_on if verdict["signals"].get(s, {}).get("detected")]
    evidence = {"dt": verdict["dt"], "champion_version": verdict["champion_version"],
                "signals": {s: verdict["signals"][s] for s in signals}, "report_uri": verdict.get("report_uri")}
    if not signals:
        seen = ", ".join(f"{k}: {v.get('summary', '-')}" for k, v in verdict["signals"].items())
        return RetrainDecision(False, "none", f"no retrain signal ({seen})", [], evidence)
    what = " + ".join(signals)
    if backfill:
        return RetrainDecision(False, "suppressed", f"{what} on {verdict['dt']}, but this is a backfill run: "
                                                    "history is reported, not retrained on", signals, evidence)
    if active_training_runs > 0:
        return RetrainDecision(False, "suppressed", f"{what}; absorbed by {active_training_runs} training run(s) "
                                                    "already queued or running", signals, evidence)
    if last_request_at is not None and now - last_request_at < cooldown:
        until = last_request_at + cooldown
        return RetrainDecision(False, "suppressed", f"{what}; cooldown: last request at {last_request_at:%Y-%m-%d %H:%M} "
                                                    f"UTC, next allowed after {until:%Y-%m-%d %H:%M} UTC", signals, evidence)
    return RetrainDecision(True, "fired", f"{what} on {verdict['dt']}: retrain requested", signals, evidence)
