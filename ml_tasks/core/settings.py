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

REPO_ROOT = Path(__file__).resolve().parents[2]


class ConveyorSettings(BaseSettings):
    """Where Conveyor keeps its state and how it reaches its services."""

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_", extra="ignore")

    mode: Literal["embedded", "compose", "kubernetes"] = "embedded"
    home: Path = Field(default=REPO_ROOT / ".conveyor", description="state of the embedded stack")
    lake_uri: str = Field(default="", description="root of raw/features/predictions; local path or s3://")
    specs_dir: Path = REPO_ROOT / "dags" / "specs"
    dags_folder: Path = Field(
        default=REPO_ROOT / "dags",
        description=(
            "the DAG files the embedded stack's dag-processor parses (Airflow's dags_folder); it must hold "
            "conveyor_factory beside the pipelines' DAG files"
        ),
    )
    expectations_dir: Path = REPO_ROOT / "expectations"

    s3_endpoint_url: str = Field(default="", description="S3-compatible endpoint (MinIO, moto); empty = AWS")
    spark_s3a: bool = Field(
        default=False,
        description=(
            "Spark reads and writes s3:// itself through the S3A connector (hadoop-aws on its classpath, as in "
            "the Docker image); otherwise a job copies the partitions it needs through a local scratch folder"
        ),
    )

    mlflow_tracking_uri: str = Field(default="", description="defaults to the embedded MLflow server")
    mlflow_artifacts_dir: str = Field(
        default="", description="artifact root used by the embedded server (path or s3://)"
    )

    airflow_db_uri: str = Field(default="", description="Airflow metadata database; defaults to SQLite under home")
    celery_broker_url: str = Field(default="", description="set it (redis://...) to run CeleryExecutor workers")
    celery_result_backend: str = Field(default="", description="defaults to the metadata database (db+...)")
    celery_queues: str = Field(default="default,gpu", description="one Celery worker per queue, comma separated")
    worker_name: str = Field(default="", description="tells workers on one host apart in Airflow's task records")
    mlflow_backend_store_uri: str = Field(default="", description="MLflow's database; defaults to SQLite under home")

    alert_webhook_url: str = Field(
        default="",
        description=(
            "POST one JSON alert here on a quarantined day, a failed training task, a retrain request, a champion "
            "change and a missed features deadline (docs/alerts.md); empty = no alerts"
        ),
    )
    serving_max_body_bytes: int = Field(default=1_048_576, description="largest /predict body read (413 above)")
    serving_max_rows: int = Field(default=10_000, description="most rows in one /predict request (413 above)")
    alert_include_rows: bool = Field(
        default=False,
        description=(
            "put the failing rows' example values in quarantine alerts; off: counts, expectations and links only "
            "(the receiver is often a third-party service)"
        ),
    )
    model_digest_required: bool = Field(
        default=True,
        description=(
            "refuse to load a model version that carries no artifact digest (registered outside Conveyor or before "
            "digests were recorded; `conveyor verify-model --record` gives it one); a digest that does not match "
            "is refused whatever this says"
        ),
    )

    airflow_host: str = "127.0.0.1"
    airflow_port: int = 8080
    mlflow_host: str = "127.0.0.1"
    mlflow_port: int = 5000
    airflow_user: str = "admin"
    airflow_public_url: str = Field(
        default="",
        description=(
            "the Airflow UI as people's browsers reach it, for links in alerts; defaults to http://airflow_host:airflow_port"
        ),
    )
    mlflow_public_url: str = Field(
        default="",
        description=(
            "the MLflow UI as people's browsers reach it, for the links tasks write; defaults to http://mlflow_host:mlflow_port"
        ),
    )

    task_threads: int = Field(
        default=0,
        ge=0,
        description=(
            "CPU threads each task's LightGBM, PyTorch and BLAS may use; 0 keeps the libraries' defaults. "
            "`conveyor up` sets it to the machine's cores divided among the tasks it runs at once, "
            "at least 1: more threads than cores make OpenMP threads spin waiting for each other"
        ),
    )

    task_retry_delay_seconds: int = Field(
        default=60,
        ge=0,
        description=(
            "how long a failed task waits before its retry (every DAG gets one retry); the soak run's "
            "compressed days use 10"
        ),
    )

    failpoints_dir: str = Field(
        default="",
        description=(
            "fault tests only: a folder whose files arm crash points in the stack's processes "
            "(ml_tasks.core.failpoints); never set in a deployment"
        ),
    )

    spark_master: str = "local[2]"
    spark_shuffle_partitions: int = 4
    spark_driver_memory: str = "2g"
    features_gate_pandas_max_rows: int = Field(
        default=1_000_000,
        ge=0,
        description=(
            "a staged feature day with at most this many rows is validated in pandas (no Spark session "
            "to start); larger days on Spark, never collected. 0: always Spark"
        ),
    )
    spark_image: str = Field(default="", description="executor image when spark_master is k8s://")
    spark_namespace: str = Field(default="default", description="executor namespace when spark_master is k8s://")

    @model_validator(mode="after")
    def _fill_derived(self) -> ConveyorSettings:
        self.home = Path(self.home).expanduser().resolve()
        if not self.lake_uri:
            self.lake_uri = str(self.home / "lake")
        if not self.mlflow_artifacts_dir:
            self.mlflow_artifacts_dir = str(self.home / "mlflow" / "artifacts")
        if not self.mlflow_tracking_uri:
            self.mlflow_tracking_uri = f"http://{self.mlflow_host}:{self.mlflow_port}"
        if not self.mlflow_backend_store_uri:
            self.mlflow_backend_store_uri = f"sqlite:///{self.home / 'mlflow' / 'mlflow.db'}"
        if not self.airflow_db_uri:
            self.airflow_db_uri = f"sqlite:///{self.airflow_home / 'airflow.db'}"
        self.airflow_public_url = (self.airflow_public_url or self.airflow_url).rstrip("/")
        self.mlflow_public_url = (self.mlflow_public_url or self.mlflow_url).rstrip("/")
        if self.celery_broker_url and not self.celery_result_backend:
            self.celery_result_backend = "db+" + self.airflow_db_uri
        return self

    @property
    def executor(self) -> str:
        """CeleryExecutor when a broker is configured, else LocalExecutor."""
        return "CeleryExecutor" if self.celery_broker_url else "LocalExecutor"

    @property
    def worker_queues(self) -> list[str]:
        return [q.strip() for q in self.celery_queues.split(",") if q.strip()]

    @property
    def storage_options(self) -> dict:
        """fsspec options for the lake (the S3 endpoint when one is set)."""
        return (
            {"endpoint_url": self.s3_endpoint_url} if self.s3_endpoint_url and self.lake_uri.startswith("s3://") else {}
        )

    @property
    def airflow_url(self) -> str:
        return f"http://{self.airflow_host}:{self.airflow_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://{self.mlflow_host}:{self.mlflow_port}"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"


def load_settings(**overrides) -> ConveyorSettings:
    """Read the settings from the environment, with explicit overrides winning."""
    return ConveyorSettings(**overrides)
