"""Conveyor inside Airflow: the Conveyor view (a FastAPI app in the api-server) and its navigation entries.

Installed as an ``airflow.plugins`` entry point (pyproject.toml), so every Airflow process of the
project's environment loads it without a plugins folder. The view lives at ``/conveyor/``: in the
navigation (``Conveyor``) and as a tab on each pipeline DAG's page. It uses Airflow's own login.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from conveyor_plugin.app import PREFIX, create_view_app


class ConveyorPlugin(AirflowPlugin):
    name = "conveyor"
    fastapi_apps = [{"app": create_view_app(), "url_prefix": PREFIX, "name": "Conveyor view"}]
    external_views = [
        {"name": "Conveyor", "href": f"{PREFIX}/", "url_route": "conveyor", "destination": "nav",
         "category": "browse"},
        {"name": "Conveyor", "href": f"{PREFIX}/dags/{{DAG_ID}}", "url_route": "conveyor-dag", "destination": "dag"},
    ]
