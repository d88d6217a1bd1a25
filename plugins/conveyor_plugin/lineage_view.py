"""The champion's lineage as the view draws it: a chain of steps in the order the data flowed.

raw days -> gates -> features -> run -> version -> alias. Each step is a box with what the lineage
(``ml_tasks.registry.lineage``) knows of it and the links the overview built for it
(``conveyor_plugin.overview.lineage_links``): the days' pages of this view, the training and plan
runs and the version in MLflow, the Airflow run that trained it. Every value here comes from tags
a task wrote: the template escapes them, and a day becomes a link only when it is a date.
"""

from __future__ import annotations

from datetime import date
from typing import Any, NamedTuple

DAY_LINKS = 6  # days named per kind (released, with warnings) in the gates' box; the rest are counted


class Link(NamedTuple):
    label: str
    href: str
    external: bool  # opens outside the view (MLflow, Airflow's UI): a new tab


class Step(NamedTuple):
    step: str
    title: str
    lines: list[str]
    links: list[Link]


def _day_link(pipeline: str, day: Any, label: str | None = None) -> list[Link]:
    """A link to the day's page of this view, or none when ``day`` is not an ISO date."""
    try:
        dt = date.fromisoformat(str(day))
    except ValueError:
        return []
    return [Link(label or dt.isoformat(), f"{pipeline}/days/{dt.isoformat()}", False)]


def _gates(pipeline: str, validation: dict[str, Any]) -> Step:
    passed, partitions = validation.get("passed_both_gates"), validation.get("partitions")
    lines = [
        f"{passed}/{partitions} days passed both gates"
        if passed is not None
        else f"{partitions} days; gate results not recorded with this version"
    ]
    links: list[Link] = []
    for kind, days in (
        ("released as they are", sorted(validation.get("released") or {})),
        ("with warnings", sorted(validation.get("warnings") or {})),
        ("without a gate record", sorted(validation.get("unrecorded") or [])),
    ):
        if days:
            lines.append(f"{len(days)} {kind}")
            links += [link for day in days[:DAY_LINKS] for link in _day_link(pipeline, day, f"{day} {kind}")]
    coverage = validation.get("coverage") or {}
    if coverage.get("mean") is not None:
        lines.append(f"raw coverage: mean {coverage['mean']:.1%}, {coverage.get('days_below_full', 0)} days below full")
    return Step("gates", f"{validation.get('raw_suite')} -> {validation.get('features_suite')}", lines, links)


def _features(pipeline: str, chain: dict[str, Any]) -> Step:
    f = chain.get("feature_partitions") or {}
    return Step(
        "features",
        str(f.get("zone")),
        [
            f"{f.get('days')} days, {f.get('first')} .. {f.get('last')}",
            f"sha256 {str(f.get('sha256') or '?')[:16]}",
            f"training {chain.get('training_window')}; holdout {chain.get('holdout_window')}",
        ],
        [
            *_day_link(pipeline, f.get("first"), f"first day {f.get('first')}"),
            *_day_link(pipeline, f.get("last"), f"last day {f.get('last')}"),
        ],
    )


def _run(chain: dict[str, Any], links: dict[str, str]) -> Step:
    airflow = chain.get("airflow") or {}
    lines = [f"code {str(chain.get('code_version') or '?')[:12]}"]
    found = []
    if links.get("training_run"):
        found.append(Link(f"MLflow run {str(chain.get('training_run'))[:8]}", links["training_run"], True))
    if links.get("parent_run"):
        found.append(Link(f"plan run {str(chain.get('parent_run'))[:8]}", links["parent_run"], True))
    if links.get("airflow_run"):
        found.append(Link(f"Airflow {airflow.get('dag_id')} / {airflow.get('run_id')}", links["airflow_run"], True))
    elif airflow.get("dag_id"):
        lines.append(f"Airflow {airflow.get('dag_id')} (no run recorded)")
    return Step("run", f"{chain.get('model_family')} training run", lines, found)


def chain_steps(pipeline: str, chain: dict[str, Any]) -> list[Step]:
    """The six steps of a version's lineage, in order (raw days, gates, features, run, version, alias),
    each with its facts and links."""
    links = chain.get("links") or {}
    raw = chain.get("raw_partitions") or {}
    aliases = chain.get("aliases") or []
    return [
        Step("raw days", str(raw.get("zone")), [f"{raw.get('from')} .. {raw.get('to')}", str(raw.get("note", ""))], []),
        _gates(pipeline, chain.get("validation") or {}),
        _features(pipeline, chain),
        _run(chain, links),
        Step(
            "version",
            f"{chain.get('model')} v{chain.get('version')}",
            [f"gate: {chain['promotion']}"] if chain.get("promotion") else [],
            [Link("MLflow model version", links["version"], True)] if links.get("version") else [],
        ),
        Step(
            "alias",
            ", ".join(f"@{a}" for a in aliases) or "no alias",
            [],
            [Link("registered model", links["model"], True)] if links.get("model") else [],
        ),
    ]
