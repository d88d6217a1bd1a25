"""An Airflow auth manager for the tests that limits a user to one pipeline's DAGs, as FAB's per-DAG
permissions or a Keycloak policy would: Airflow's simple auth manager, except that a user called
``<pipeline>_only`` may touch only the DAGs named ``<pipeline>_...``."""

from __future__ import annotations

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager


class PipelineAuthManager(SimpleAuthManager):
    def is_authorized_dag(self, *, method, user, access_entity=None, details=None) -> bool:
        allowed = super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)
        name = user.get_name()
        if allowed and name.endswith("_only"):
            return bool(details and details.id and details.id.startswith(name.removesuffix("_only") + "_"))
        return allowed
