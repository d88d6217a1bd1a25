from ml_tasks.core.settings import ConveyorSettings


def test_settings_come_from_conveyor_prefixed_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVEYOR_HOME", str(tmp_path))
    monkeypatch.setenv("CONVEYOR_MLFLOW_PORT", "5123")
    s = ConveyorSettings()
    assert s.home == tmp_path.resolve()
    assert s.lake_uri == str(tmp_path.resolve() / "lake")
    assert s.mlflow_tracking_uri == "http://127.0.0.1:5123"
    assert s.mode == "embedded"


def test_explicit_lake_uri_wins(monkeypatch):
    monkeypatch.setenv("CONVEYOR_LAKE_URI", "s3://bucket/lake")
    assert ConveyorSettings().lake_uri == "s3://bucket/lake"


def test_embedded_defaults_are_local_executor_on_sqlite(tmp_path):
    s = ConveyorSettings(home=tmp_path)
    assert s.executor == "LocalExecutor" and s.celery_result_backend == ""
    assert s.airflow_db_uri == f"sqlite:///{tmp_path.resolve() / 'airflow' / 'airflow.db'}"
    assert s.mlflow_backend_store_uri.startswith("sqlite:///") and s.storage_options == {}


def test_a_broker_turns_on_celery_with_the_metadata_database_as_result_backend(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVEYOR_HOME", str(tmp_path))
    monkeypatch.setenv("CONVEYOR_AIRFLOW_DB_URI", "postgresql+psycopg2://conveyor@db:5432/airflow")
    monkeypatch.setenv("CONVEYOR_CELERY_BROKER_URL", "redis://redis:6379/0")
    monkeypatch.setenv("CONVEYOR_CELERY_QUEUES", "default, gpu ,")
    s = ConveyorSettings()
    assert s.executor == "CeleryExecutor" and s.worker_queues == ["default", "gpu"]
    # the driver stays named: SQLAlchemy 2.1 would map a bare postgresql:// to psycopg 3
    assert s.celery_result_backend == "db+postgresql+psycopg2://conveyor@db:5432/airflow"


def test_the_s3_endpoint_reaches_the_lake_only_for_an_s3_lake(tmp_path):
    s3 = ConveyorSettings(home=tmp_path, lake_uri="s3://lake/x", s3_endpoint_url="http://127.0.0.1:9000")
    assert s3.storage_options == {"endpoint_url": "http://127.0.0.1:9000"}
    local = ConveyorSettings(home=tmp_path, s3_endpoint_url="http://127.0.0.1:9000")
    assert local.storage_options == {}


def test_celery_mode_adds_one_worker_per_queue_to_the_stack(tmp_path):
    from ml_tasks.platform.stack.environment import service_names, services, stack_env

    s = ConveyorSettings(
        home=tmp_path,
        mode="compose",
        celery_broker_url="redis://127.0.0.1:6379/0",
        airflow_db_uri="postgresql+psycopg2://conveyor@127.0.0.1:5432/airflow",
    )
    assert service_names(s)[-3:] == ("worker-default", "worker-gpu", "supervisor")
    workers = {w.name: w for w in services(s) if w.name.startswith("worker-")}
    gpu = workers["worker-gpu"]
    assert gpu.command[gpu.command.index("--queues") + 1] == "gpu" and gpu.env == {"CONVEYOR_WORKER_NAME": "gpu"}
    assert gpu.command[gpu.command.index("--concurrency") + 1] == "1"
    env = stack_env(s)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6379/0"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == s.airflow_db_uri
    assert env["CONVEYOR_MODE"] == "compose"
    assert service_names(ConveyorSettings(home=tmp_path)) == (
        "mlflow",
        "api-server",
        "scheduler",
        "dag-processor",
        "triggerer",
        "supervisor",
    )


def test_worker_hostname_names_the_worker(monkeypatch):
    import socket

    from ml_tasks.platform.stack.environment import worker_hostname

    monkeypatch.setenv("CONVEYOR_WORKER_NAME", "gpu")
    assert worker_hostname() == f"{socket.getfqdn()}-gpu"
    monkeypatch.delenv("CONVEYOR_WORKER_NAME")
    assert worker_hostname() == socket.getfqdn()


def test_links_name_the_public_urls_and_default_to_the_servers(monkeypatch, tmp_path):
    from ml_tasks.core.alerts import view_link
    from ml_tasks.core.tracking import run_url
    from ml_tasks.registry.client import version_url

    local = ConveyorSettings(home=tmp_path, mlflow_port=5055, airflow_port=8088)
    assert local.mlflow_public_url == "http://127.0.0.1:5055" and local.airflow_public_url == "http://127.0.0.1:8088"

    monkeypatch.setenv("CONVEYOR_MLFLOW_TRACKING_URI", "http://mlflow:5000")  # how workers reach it
    monkeypatch.setenv("CONVEYOR_MLFLOW_PUBLIC_URL", "https://mlflow.example.com/")  # how browsers do
    monkeypatch.setenv("CONVEYOR_AIRFLOW_PUBLIC_URL", "https://airflow.example.com")
    deployed = ConveyorSettings(home=tmp_path)
    assert version_url(deployed, "demand", 3) == "https://mlflow.example.com/#/models/demand/versions/3"
    assert run_url(deployed, "abc", "7") == "https://mlflow.example.com/#/experiments/7/runs/abc"
    assert (
        view_link(deployed, "demand", "days", "2026-03-02")
        == "https://airflow.example.com/conveyor/pipelines/demand/days/2026-03-02"
    )
    assert deployed.mlflow_tracking_uri == "http://mlflow:5000"


def test_the_stack_parses_the_configured_dags_folder(tmp_path):
    from ml_tasks.core.settings import REPO_ROOT
    from ml_tasks.platform.stack.environment import stack_env

    assert stack_env(ConveyorSettings(home=tmp_path))["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO_ROOT / "dags")
    elsewhere = ConveyorSettings(home=tmp_path, dags_folder=tmp_path / "dags")
    assert stack_env(elsewhere)["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "dags")
