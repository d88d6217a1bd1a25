"""The one settings object: every path, endpoint and mode comes from here.

Values are read from environment variables prefixed ``CONVEYOR_`` (for example
``CONVEYOR_HOME``, ``CONVEYOR_MLFLOW_TRACKING_URI``) at the edge of the program (CLI, DAG
factory, stack launcher) and passed down as a typed object. Deep code never reads the
environment. The table of variables lives in ``docs/settings.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class ConveyorSettings(BaseSettings):
    """Where Conveyor keeps its state and how it reaches its services."""

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_", extra="ignore")

    mode: Literal["embedded", "compose", "kubernetes"] = "embedded"
    home: Path = Field(default=REPO_ROOT / ".conveyor", description="state of the embedded stack")
    lake_uri: str = Field(default="", description="root of raw/features/predictions; local path or s3://")
    specs_dir: Path = REPO_ROOT / "dags" / "specs"
    expectations_dir: Path = REPO_ROOT / "expectations"

    mlflow_tracking_uri: str = Field(default="", description="defaults to the embedded MLflow server")
    mlflow_artifacts_dir: str = Field(default="", description="artifact root used by the embedded server")

    airflow_host: str = "127.0.0.1"
    airflow_port: int = 8080
    mlflow_host: str = "127.0.0.1"
    mlflow_port: int = 5000
    airflow_user: str = "admin"

    spark_master: str = "local[2]"
    spark_shuffle_partitions: int = 4
    spark_driver_memory: str = "2g"

    @model_validator(mode="after")
    def _fill_derived(self) -> "ConveyorSettings":
        self.home = Path(self.home).expanduser().resolve()
        if not self.lake_uri:
            self.lake_uri = str(self.home / "lake")
        if not self.mlflow_artifacts_dir:
            self.mlflow_artifacts_dir = str(self.home / "mlflow" / "artifacts")
        if not self.mlflow_tracking_uri:
            self.mlflow_tracking_uri = f"http://{self.mlflow_host}:{self.mlflow_port}"
        return self

    @property
    def airflow_url(self) -> str:
        return f"http://{self.airflow_host}:{self.airflow_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://{self.mlflow_host}:{self.mlflow_port}"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def mlflow_backend_uri(self) -> str:
        return f"sqlite:///{self.home / 'mlflow' / 'mlflow.db'}"


def load_settings(**overrides) -> ConveyorSettings:
    """Read the settings from the environment, with explicit overrides winning."""
    return ConveyorSettings(**overrides)
