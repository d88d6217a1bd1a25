"""Conveyor inside Airflow: the Conveyor view (a FastAPI app in the api-server) and its navigation entries.

Installed as an ``airflow.plugins`` entry point (pyproject.toml), so every Airflow process of the
project's environment loads it without a plugins folder. The view lives at ``/conveyor/``: in the
navigation (``Conveyor``) and as a tab on each pipeline DAG's page. It uses Airflow's own login.

- `plugin`: the plugin class (``ConveyorPlugin``, what the entry point names);
- `app`: the view's routes, login and permissions; `pages`: their HTML; `lineage_view` and `charts`:
  the champion's lineage as a chain of steps and the inline SVG charts;
- `overview`: what the pages show, read from MLflow and the lake.

The plugin class is imported when Airflow asks for it, not with the package: a test or a tool that
reads `conveyor_plugin.overview` does not import Airflow (whose import sets up its own logging).
"""

from __future__ import annotations


def __getattr__(name: str):
    if name == "ConveyorPlugin":
        from conveyor_plugin.plugin import ConveyorPlugin

        return ConveyorPlugin
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
