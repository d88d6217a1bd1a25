"""Each deployed component holds the secrets it uses and no other (Compose and Helm).

Airflow 3's three keys, from Airflow's own code (the installed 3.3.2) and docs:

- ``[api_auth] jwt_secret`` signs and checks JWTs: the scheduler's executor signs each task's
  token (BaseExecutor.jwt_generator), the api-server checks them on the Execution API and signs
  the UI's. The dag-processor and the triggerer call the Execution API in process
  (InProcessExecutionAPI, token checks bypassed), so they do not need it.
- ``[core] fernet_key`` encrypts connections, variables and trigger arguments in the metadata
  database: the api-server decrypts connections/variables for tasks, the dag-processor and the
  triggerer for their in-process Execution API (and the triggerer its triggers' arguments), the
  scheduler writes triggers (start_from_trigger, deadline callbacks).
- ``[api] secret_key`` signs the api-server's own tokens, and the requests it sends a log server
  (airflow.utils.serve_logs checks them with it). A component that runs a log server needs it.

A task process runs user code and reaches the Execution API with the token in its workload, so
Celery workers (Compose) and KubernetesExecutor task pods (Helm) get none of the three. The
Compose workers run with --skip-serve-logs (the api-server reads the shared log volume), so they
need no [api] secret_key either.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import helm_python as helm
import jsonschema
import pytest
import yaml

from tests.deploy.helm_render import (
    CHART_DIR,
    chart,  # noqa: F401  (the chart, loaded once: a fixture)
    ci_values,
    containers,
    env_by_name,
    manifests,
    one,
)

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"

FERNET, JWT, API_KEY = (
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
)  # pragma: allowlist secret
AIRFLOW_KEYS = {FERNET, JWT, API_KEY}

# --- Compose ------------------------------------------------------------------------------------

# Which of Airflow's keys each Compose service gets. airflow-init holds them only to refuse the
# change-me placeholders of .env.example before anything starts (it runs no user code).
COMPOSE_AIRFLOW_KEYS = {
    "airflow-init": AIRFLOW_KEYS,
    "airflow-apiserver": AIRFLOW_KEYS,
    "airflow-scheduler": {FERNET, JWT},
    "airflow-dag-processor": {FERNET},
    "airflow-triggerer": {FERNET},
    "airflow-worker": set(),
    "airflow-worker-gpu": set(),
}
# Which .env secrets reach which service (by the ${VAR} its environment references).
COMPOSE_SECRET_HOLDERS = {
    "MINIO_ROOT_PASSWORD": {
        "minio",
        "minio-init",
        "mlflow",
        "airflow-apiserver",
        "airflow-worker",
        "airflow-worker-gpu",
        "spark-worker-1",
        "spark-worker-2",
    },
    "MLFLOW_DB_PASSWORD": {"postgres", "mlflow"},
    "POSTGRES_PASSWORD": {"postgres", *COMPOSE_AIRFLOW_KEYS},
    "MLFLOW_ADMIN_PASSWORD": {"mlflow", "mlflow-init"},
    "MLFLOW_FLASK_SECRET_KEY": {"mlflow"},
    "MLFLOW_WORKER_PASSWORD": {"mlflow-init", "airflow-worker", "airflow-worker-gpu"},
    "MLFLOW_VIEW_PASSWORD": {"mlflow-init", "airflow-apiserver"},
    "MLFLOW_SERVING_PASSWORD": {"mlflow-init"},
    "AIRFLOW_ADMIN_PASSWORD": {"airflow-init"},
    "AIRFLOW_FERNET_KEY": {s for s, keys in COMPOSE_AIRFLOW_KEYS.items() if FERNET in keys},
    "AIRFLOW_JWT_SECRET": {s for s, keys in COMPOSE_AIRFLOW_KEYS.items() if JWT in keys},
    "AIRFLOW_API_SECRET_KEY": {s for s, keys in COMPOSE_AIRFLOW_KEYS.items() if API_KEY in keys},
}
# The MLflow user each MLflow client signs in as (MLFLOW_TRACKING_PASSWORD comes from this .env variable).
COMPOSE_MLFLOW_CLIENTS = {
    "airflow-worker": "MLFLOW_WORKER_PASSWORD",
    "airflow-worker-gpu": "MLFLOW_WORKER_PASSWORD",
    "airflow-apiserver": "MLFLOW_VIEW_PASSWORD",
    "mlflow-init": "MLFLOW_ADMIN_PASSWORD",  # the admin, to create the others
}


@pytest.fixture(scope="module")
def compose_services() -> dict:
    """The services as YAML resolves the file: anchors and merge keys (<<) expanded, ${...} not."""
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def referenced(value: str) -> set[str]:
    return set(re.findall(r"(?<!\$)\$\{(\w+)", value))


def test_compose_gives_each_airflow_service_only_its_airflow_keys(compose_services):
    got = {name: AIRFLOW_KEYS & set(environment(service)) for name, service in compose_services.items()}
    for name, keys in got.items():
        assert keys == COMPOSE_AIRFLOW_KEYS.get(name, set()), name


def test_compose_task_workers_hold_no_key_that_mints_or_decrypts(compose_services):
    for name in ("airflow-worker", "airflow-worker-gpu"):
        env = environment(compose_services[name])
        refs = set().union(*(referenced(v) for v in env.values()))
        assert not refs & {
            "AIRFLOW_FERNET_KEY",
            "AIRFLOW_JWT_SECRET",
            "AIRFLOW_API_SECRET_KEY",
            "MLFLOW_ADMIN_PASSWORD",
            "MLFLOW_DB_PASSWORD",
            "MLFLOW_FLASK_SECRET_KEY",
            "AIRFLOW_ADMIN_PASSWORD",
        }, name


def test_compose_airflow_processes_without_api_secret_key_run_no_log_server(compose_services):
    """The log server checks the api-server's requests with [api] secret_key: skip it or hold the key."""
    for name, service in compose_services.items():
        command = service.get("command") or ""
        command = command if isinstance(command, str) else " ".join(command)
        serves_logs = command.startswith(("celery worker", "triggerer")) and "--skip-serve-logs" not in command
        if command.startswith(("celery worker", "triggerer")) and API_KEY not in environment(service):
            assert not serves_logs, name
    # ...and the api-server reads their logs from the volume they all share.
    logs = {
        name: [v for v in service.get("volumes", []) if str(v).endswith(":/opt/airflow/logs")]
        for name, service in compose_services.items()
        if name in COMPOSE_AIRFLOW_KEYS
    }
    assert len({tuple(v) for v in logs.values()}) == 1 and all(logs.values())


def test_compose_secret_from_env_reaches_only_its_services(compose_services):
    holders: dict[str, set[str]] = {}
    for name, service in compose_services.items():
        for value in environment(service).values():
            for var in referenced(value):
                holders.setdefault(var, set()).add(name)
    for var, expected in COMPOSE_SECRET_HOLDERS.items():
        assert holders.get(var, set()) == expected, var


def test_compose_mlflow_clients_sign_in_as_their_own_user(compose_services):
    for name, service in compose_services.items():
        env = environment(service)
        password = env.get("MLFLOW_TRACKING_PASSWORD")
        if name not in COMPOSE_MLFLOW_CLIENTS:
            assert password is None, f"{name} has MLflow credentials"
            continue
        assert referenced(password) == {COMPOSE_MLFLOW_CLIENTS[name]}, name
        assert env["MLFLOW_TRACKING_USERNAME"].startswith("${MLFLOW_"), name
    users = {
        environment(compose_services[n])["MLFLOW_TRACKING_USERNAME"] for n in ("airflow-worker", "airflow-apiserver")
    }
    assert len(users) == 2


def test_compose_mlflow_uses_its_own_database_role_not_airflows(compose_services):
    env = environment(compose_services["mlflow"])
    for key in ("MLFLOW_BACKEND_STORE_URI", "MLFLOW_AUTH_DATABASE_URI"):
        assert re.match(
            r"postgresql\+psycopg2://mlflow:\$\{MLFLOW_DB_PASSWORD:\?[^}]*\}@postgres/mlflow(_auth)?$", env[key]
        ), key
    assert not any("POSTGRES_PASSWORD" in referenced(v) for v in env.values())


# --- Helm ---------------------------------------------------------------------------------------

# Which secretKeyRef env each Airflow component of the official chart gets from our values.
HELM_AIRFLOW_KEYS = {
    "scheduler": {FERNET, JWT},
    "apiServer": AIRFLOW_KEYS,
    "dagProcessor": {FERNET},
    # its log server checks the api-server's signed requests for deferred tasks' logs
    "triggerer": {FERNET, API_KEY},
    "workers": set(),  # the KubernetesExecutor pod template: task pods
}
HELM_OTHER_SECRETS = {
    "scheduler": set(),
    "apiServer": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"},
    "dagProcessor": set(),
    "triggerer": set(),
    "workers": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"},
}
KEY_OF = {
    FERNET: ("fernetKeySecretName", "fernet-key"),
    JWT: ("jwtSecretName", "jwt-secret"),
    API_KEY: ("apiSecretKeySecretName", "api-secret-key"),
}
MLFLOW_CLIENT_OF = {"apiServer": "apiServer", "workers": "worker"}


@pytest.fixture(params=["defaults", "ci"], scope="module")
def merged(request, chart):
    return chart.merge_values({} if request.param == "defaults" else ci_values())


def secret_env(entries: list[dict]) -> dict[str, dict]:
    refs = {}
    for entry in entries or []:
        assert "value" not in entry or not re.search(r"PASSWORD|SECRET|_KEY$|_KEY_ID$", entry["name"]), entry
        if "valueFrom" in entry:
            refs[entry["name"]] = entry["valueFrom"]["secretKeyRef"]
    return refs


def test_helm_turns_off_the_official_charts_keys_in_every_container(merged):
    builtin = merged["airflow"]["enableBuiltInSecretEnvVars"]
    assert {key: builtin[key] for key in AIRFLOW_KEYS} == dict.fromkeys(AIRFLOW_KEYS, False)
    # ...and nothing else hands a credential to every Airflow container.
    assert "secretRef" not in merged["airflow"]["extraEnvFrom"]
    assert not secret_env(merged["airflow"].get("env", []))
    assert not merged["airflow"].get("secret")


@pytest.mark.parametrize("component", sorted(HELM_AIRFLOW_KEYS))
def test_helm_gives_each_airflow_component_only_its_secrets(merged, component):
    airflow = merged["airflow"]
    refs = secret_env(airflow[component].get("env", []))
    assert AIRFLOW_KEYS & set(refs) == HELM_AIRFLOW_KEYS[component]
    assert set(refs) - AIRFLOW_KEYS == HELM_OTHER_SECRETS[component]
    for name in AIRFLOW_KEYS & set(refs):  # the Secret the official chart would have used
        secret_value, key = KEY_OF[name]
        assert refs[name] == {"name": airflow[secret_value], "key": key}, name
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        if name in refs:
            assert refs[name] == {"name": merged["conveyor"]["s3Credentials"]["secretName"], "key": name}
    if component in MLFLOW_CLIENT_OF:
        secret = merged["mlflow"]["auth"]["clients"][MLFLOW_CLIENT_OF[component]]["secretName"]
        assert refs["MLFLOW_TRACKING_USERNAME"] == {"name": secret, "key": "username"}
        assert refs["MLFLOW_TRACKING_PASSWORD"] == {"name": secret, "key": "password"}


def test_helm_mlflow_clients_have_secrets_of_their_own(merged):
    clients = merged["mlflow"]["auth"]["clients"]
    names = [c["secretName"] for c in clients.values()]
    assert len(set(names)) == len(names) == 3
    assert merged["mlflow"]["auth"]["secretName"] not in names


def rendered_secret_refs(container: dict) -> dict[str, str]:
    """env name -> Secret name, for the container's secretKeyRef env."""
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


@pytest.mark.parametrize("values_case", ["defaults", "ci"])
def test_helm_conveyor_pods_get_only_their_own_secrets(chart, values_case):
    values = {} if values_case == "defaults" else ci_values()
    merged = chart.merge_values(values)
    docs = manifests(chart, values)
    auth, store, s3 = merged["mlflow"]["auth"], merged["mlflow"]["backendStore"], merged["mlflow"]["s3Credentials"]

    [server] = containers(one(docs, "Deployment", "mlflow"))
    assert rendered_secret_refs(server) == {
        "MLFLOW_BACKEND_STORE_URI": store["secretName"],
        "AWS_ACCESS_KEY_ID": s3["secretName"],
        "AWS_SECRET_ACCESS_KEY": s3["secretName"],
        "MLFLOW_AUTH_DATABASE_URI": auth["secretName"],
        "MLFLOW_AUTH_ADMIN_PASSWORD": auth["secretName"],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": auth["secretName"],
    }

    [users] = containers(one(docs, "Job", "mlflow-users"))
    refs = rendered_secret_refs(users)
    assert refs.pop("MLFLOW_TRACKING_PASSWORD") == auth["secretName"]  # the admin's
    clients = {name: ref["secretName"] for name, ref in auth["clients"].items()}
    assert refs == {
        f"CONVEYOR_MLFLOW_{name.upper()}_{field}": secret
        for name, secret in clients.items()
        for field in ("USERNAME", "PASSWORD")
    }
    assert env_by_name(users)["CONVEYOR_MLFLOW_CLIENTS"]["value"].split(",") == sorted(clients)

    [pools] = containers(one(docs, "Job", "pools"))
    assert rendered_secret_refs(pools) == {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": merged["airflow"]["data"]["metadataSecretName"]
    }
    for doc in docs:
        for container in containers(doc):
            assert not AIRFLOW_KEYS & set(env_by_name(container)), doc["metadata"]["name"]


@pytest.mark.parametrize(
    ("values", "where"),
    [
        pytest.param(
            {"airflow": {"enableBuiltInSecretEnvVars": {FERNET: True}}},
            "/airflow/enableBuiltInSecretEnvVars",
            id="global-fernet",
        ),
        pytest.param(
            {
                "airflow": {
                    "workers": {
                        "env": [
                            {
                                "name": JWT,
                                "valueFrom": {"secretKeyRef": {"name": "conveyor-airflow", "key": "jwt-secret"}},
                            }
                        ]
                    }
                }
            },
            "/airflow/workers/env",
            id="jwt-in-task-pods",
        ),
        pytest.param(
            {
                "airflow": {
                    "workers": {
                        "env": [
                            {
                                "name": FERNET,
                                "valueFrom": {"secretKeyRef": {"name": "conveyor-airflow", "key": "fernet-key"}},
                            }
                        ]
                    }
                }
            },
            "/airflow/workers/env",
            id="fernet-in-task-pods",
        ),
        pytest.param(
            {"airflow": {"extraEnvFrom": "- secretRef:\n    name: conveyor-airflow\n"}},
            "/airflow/extraEnvFrom",
            id="secret-for-every-container",
        ),
        pytest.param(
            {"airflow": {"scheduler": {"env": [{"name": FERNET, "value": "plain-text"}]}}},
            "/airflow/scheduler/env/0",
            id="plain-text-key",
        ),
        pytest.param(
            {"mlflow": {"auth": {"adminPassword": "hunter2hunter2"}}},  # pragma: allowlist secret
            "additional properties 'adminPassword' not allowed",
            id="plain-text-mlflow-admin-password",
        ),
        pytest.param(
            {"mlflow": {"auth": {"clients": {"worker": {"password": "hunter2hunter2"}}}}},  # pragma: allowlist secret
            "additional properties 'password' not allowed",
            id="plain-text-client-password",
        ),
    ],
)
def test_helm_schema_keeps_secrets_where_they_belong(chart, values, where):
    with pytest.raises(helm.HelmValuesError) as raised:
        chart.validate_schema(values)
    assert where in str(raised.value)


def test_schema_rule_for_task_pods_accepts_the_shipped_values():
    schema = json_schema()
    for values in (yaml.safe_load((CHART_DIR / "values.yaml").read_text()), ci_values()):
        jsonschema.Draft7Validator(
            schema["properties"]["airflow"]["properties"]["workers"],
            resolver=jsonschema.RefResolver.from_schema(schema),
        ).validate(values["airflow"]["workers"])


def json_schema() -> dict:
    import json

    return json.loads((CHART_DIR / "values.schema.json").read_text())


# --- the Airflow facts this relies on, checked against the installed Airflow ---------------------


def test_airflow_facts_behind_the_split():
    from airflow.api_fastapi.execution_api import app as execution_api
    from airflow.executors import base_executor
    from airflow.models import trigger
    from airflow.providers.celery.executors.celery_executor import CeleryExecutor
    from airflow.utils.serve_logs import log_server

    # The scheduler's executor signs task tokens with [api_auth]'s key.
    assert "get_signing_args" in inspect.getsource(base_executor.BaseExecutor.jwt_generator.func)
    # In-process Execution API (dag-processor, triggerer): token checks replaced by always_allow.
    source = inspect.getsource(execution_api.InProcessExecutionAPI)
    assert "dependency_overrides[_jwt_bearer] = always_allow" in source
    # Trigger arguments are encrypted with the Fernet key.
    assert "get_fernet()" in inspect.getsource(trigger.Trigger)
    # The log server checks requests with [api] secret_key; Celery's scheduler side serves no logs.
    assert 'get_signing_key("api", "secret_key")' in inspect.getsource(log_server)
    assert CeleryExecutor.serve_logs is False
