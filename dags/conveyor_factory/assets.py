"""The Assets that connect a pipeline's DAGs, defined in one place."""

from airflow.sdk import Asset


def features_asset(pipeline: str) -> Asset:
    return Asset(name=f"features:{pipeline}", uri=f"conveyor://{pipeline}/features", group="conveyor")


def model_asset(pipeline: str) -> Asset:
    return Asset(name=f"model:{pipeline}", uri=f"conveyor://{pipeline}/model", group="conveyor")


def retrain_request_asset(pipeline: str) -> Asset:
    return Asset(name=f"retrain_request:{pipeline}", uri=f"conveyor://{pipeline}/retrain_request", group="conveyor")


def raw_asset(pipeline: str) -> Asset:
    """Updated by `conveyor land` (REST) with the days it landed again; `<pipeline>_relanded` follows it.
    The name is :func:`ml_tasks.platform.airflow_api.relanding.raw_asset_name`."""
    return Asset(name=f"raw:{pipeline}", uri=f"conveyor://{pipeline}/raw", group="conveyor")
