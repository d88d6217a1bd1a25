"""Buttons on a task instance's page that open that very try's evidence (Airflow operator extra links).

A task that has evidence to show pushes a dict ``{link key: url}`` as the XCom ``conveyor_links``
(:func:`push_links`; a failing gate pushes its quarantine report before it raises). When the try
ends, Airflow's task runner asks each declared :class:`EvidenceLink` for its URL and stores it with
the task instance; a link with nothing to show returns "" and the UI leaves its button out, so a
button never opens a broken page.

TaskFlow's ``@task`` takes no ``operator_extra_links`` argument, so :func:`linked_task` builds the
same decorator on a subclass of the standard provider's decorated Python operator whose class
attribute declares the links (the documented place for them).
"""

from __future__ import annotations

from functools import cache

import attrs
from airflow.providers.standard.decorators.python import _PythonDecoratedOperator
from airflow.sdk import BaseOperatorLink
from airflow.sdk.bases.decorator import task_decorator_factory

LINKS_XCOM = "conveyor_links"

LINK_NAMES = {
    "mlflow_run": "MLflow run",
    "model_version": "Model version",
    "validation_report": "Validation report",
    "quarantine_report": "Quarantine report",
    "drift_report": "Evidently report",
    "predictions": "Predictions",
    "conveyor_view": "Conveyor view",
}


@attrs.define
class EvidenceLink(BaseOperatorLink):
    """The button for one kind of evidence; its URL is what the task pushed under ``key``."""

    key: str

    @property
    def name(self) -> str:
        return LINK_NAMES[self.key]

    @property
    def xcom_key(self) -> str:  # one stored link per kind (the default would be one per class)
        return f"_link_conveyor_{self.key}"

    def get_link(self, operator, *, ti_key) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        links = XCom.get_value(ti_key=ti_key, key=LINKS_XCOM) or {}
        return str(links.get(self.key) or "") if isinstance(links, dict) else ""


@cache
def _operator_with(keys: tuple[str, ...]) -> type:
    unknown = set(keys) - set(LINK_NAMES)
    if unknown:
        raise ValueError(f"unknown evidence links {sorted(unknown)}; known: {sorted(LINK_NAMES)}")
    return type(
        "ConveyorTaskOperator",
        (_PythonDecoratedOperator,),
        {"operator_extra_links": tuple(EvidenceLink(k) for k in keys), "custom_operator_name": "@task"},
    )


def linked_task(*keys: str, **task_kwargs):
    """``@task(**task_kwargs)`` whose task instance page has a button per evidence link in ``keys``."""
    return task_decorator_factory(decorated_operator_class=_operator_with(tuple(keys)), **task_kwargs)


def push_links(ti, **urls: str | None) -> None:
    """Offer this try's evidence: merged with what the try pushed before; empty URLs are left out."""
    current = ti.xcom_pull(task_ids=ti.task_id, key=LINKS_XCOM, map_indexes=ti.map_index) or {}
    merged = {**(current if isinstance(current, dict) else {}), **{k: v for k, v in urls.items() if v}}
    ti.xcom_push(key=LINKS_XCOM, value=merged)


VIEW_PREFIX = "/conveyor"  # where the Conveyor plugin mounts its view in the api-server


def view_url(pipeline: str, *parts: str) -> str:
    """A page of the Conveyor view (same origin as the Airflow UI, so it opens in place)."""
    return "/".join([f"{VIEW_PREFIX}/pipelines/{pipeline}", *parts])
