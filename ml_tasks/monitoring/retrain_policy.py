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

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypedDict

if TYPE_CHECKING:
    from ml_tasks.monitoring.checks import DriftVerdict


class RetrainDecision(TypedDict):
    """The decision on one verdict; hand-off from `decide_retrain` to `request_retrain` (an XCom, JSON as is).

    ``signals`` are the retrain signals the verdict raised; ``evidence`` is the checked day, the
    champion version, those signals' numbers and the Evidently report's link.
    """

    fire: bool
    outcome: Literal["fired", "suppressed", "none"]
    reason: str
    signals: list[str]
    evidence: dict[str, Any]


def decide_retrain(
    verdict: DriftVerdict,
    retrain_on: list[str],
    now: datetime,
    last_request_at: datetime | None,
    active_training_runs: int,
    cooldown: timedelta,
    backfill: bool = False,
) -> RetrainDecision:
    """Apply the rules above to one monitoring verdict (see ``ml_tasks.monitoring.checks.check_drift``)."""
    signals = [s for s in retrain_on if verdict["signals"].get(s, {}).get("detected")]
    evidence = {
        "dt": verdict["dt"],
        "champion_version": verdict["champion_version"],
        "signals": {s: verdict["signals"][s] for s in signals},
        "report_uri": verdict.get("report_uri"),
    }

    def decision(outcome: Literal["fired", "suppressed", "none"], reason: str) -> RetrainDecision:
        return RetrainDecision(
            fire=outcome == "fired", outcome=outcome, reason=reason, signals=signals, evidence=evidence
        )

    if not signals:
        seen = ", ".join(f"{k}: {v.get('summary', '-')}" for k, v in verdict["signals"].items())
        return decision("none", f"no retrain signal ({seen})")
    what = " + ".join(signals)
    if backfill:
        return decision(
            "suppressed",
            f"{what} on {verdict['dt']}, but this is a backfill run: history is reported, not retrained on",
        )
    if active_training_runs > 0:
        return decision(
            "suppressed", f"{what}; absorbed by {active_training_runs} training run(s) already queued or running"
        )
    if last_request_at is not None and now - last_request_at < cooldown:
        until = last_request_at + cooldown
        return decision(
            "suppressed",
            f"{what}; cooldown: last request at {last_request_at:%Y-%m-%d %H:%M} "
            f"UTC, next allowed after {until:%Y-%m-%d %H:%M} UTC",
        )
    return decision("fired", f"{what} on {verdict['dt']}: retrain requested")
