"""The Airflow plugin: the Conveyor view mounted in the api-server, and its navigation entries."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from conveyor_plugin.app import PREFIX, create_view_app


class ConveyorPlugin(AirflowPlugin):
    name = "conveyor"
    fastapi_apps = [{"app": create_view_app(), "url_prefix": PREFIX, "name": "Conveyor view"}]
    external_views = [
        {"name": "Conveyor", "href": f"{PREFIX}/", "url_route": "conveyor", "destination": "nav", "category": "browse"},
        {"name": "Conveyor", "href": f"{PREFIX}/dags/{{DAG_ID}}", "url_route": "conveyor-dag", "destination": "dag"},
    ]
