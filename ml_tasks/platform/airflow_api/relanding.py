"""Days landed again get their features rebuilt without anyone clearing a task.

`conveyor land` posts one event on the Asset ``raw:<pipeline>`` through Airflow's REST API, its
extra naming the days that held something before (raw data not built yet, a quarantine verdict,
published features). ``<pipeline>_relanded`` is scheduled on that Asset and triggers
``<pipeline>_features`` once for each of those days, so a fixed day is gated and published again.
New days are left to the daily schedule and to `conveyor backfill-features`; so are more than
``MAX_DAYS`` days landed again at once (one Spark job over them is faster than as many runs).
"""

from __future__ import annotations

from datetime import date

import requests

from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.platform.airflow_api.client import AirflowAPIError, AirflowClient

MAX_DAYS = 31  # days landed again that one event may name; the DAG refuses more


def raw_asset_name(pipeline: str) -> str:
    """The Asset `land` updates (conveyor_factory.assets.raw_asset declares it)."""
    return f"raw:{pipeline}"


def announce_relanded(settings: ConveyorSettings, pipeline: str, days: list[date]) -> str:
    """Tell Airflow that ``days`` were landed again; returns one line for the user saying what will happen,
    or why nothing will and what to run instead."""
    from ml_tasks.platform.stack import environment

    first, last = min(days), max(days)
    by_hand = (
        f"`conveyor backfill-features {pipeline} {first} {last}` rebuilds them (or trigger "
        f"{pipeline}_features with dt=DAY)"
    )
    if len(days) > MAX_DAYS:
        return f"{len(days)} days landed again, more than {MAX_DAYS} to re-run one by one: {by_hand}"
    client = AirflowClient(
        settings.airflow_url, settings.airflow_user, environment.airflow_password(settings), timeout=10
    )
    try:
        client.asset_event(raw_asset_name(pipeline), {"days": [d.isoformat() for d in days]})
        paused = client.request("GET", f"/dags/{pipeline}_relanded")["is_paused"]
    except requests.RequestException:
        return f"Airflow does not answer at {settings.airflow_url}, so nothing re-runs by itself: {by_hand}"
    except AirflowAPIError as exc:
        return f"Airflow refused the event ({str(exc)[:200]}): {by_hand}"
    note = f" once {pipeline}_relanded is unpaused" if paused else ""
    return (
        f"Airflow told (Asset {raw_asset_name(pipeline)}): {pipeline}_relanded runs {pipeline}_features for "
        f"the {len(days)} day(s) landed again{note}"
    )


def days_to_rerun(pipeline: str, extras: list[dict]) -> list[str]:
    """The days the Asset events' extras name, checked: each a date, at most ``MAX_DAYS`` in all (an
    event's extra is whatever its sender wrote, so nothing in it is trusted as it is)."""
    days: set[str] = set()
    for extra in extras:
        named = extra.get("days", [])
        if not isinstance(named, list):
            raise ValueError(
                f"an event on {raw_asset_name(pipeline)} has days={named!r:.100}: expected a list of dates"
            )
        for day in named:
            try:
                days.add(date.fromisoformat(str(day)).isoformat())
            except ValueError:
                raise ValueError(
                    f"an event on {raw_asset_name(pipeline)} names {day!r:.40} as a day: expected YYYY-MM-DD"
                ) from None
    if len(days) > MAX_DAYS:
        raise ValueError(
            f"{len(days)} days landed again, more than {MAX_DAYS}: rebuild them in one Spark job with "
            f"`conveyor backfill-features {pipeline} {min(days)} {max(days)}`"
        )
    return sorted(days)
