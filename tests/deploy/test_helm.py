"""The Kubernetes deployment: helm/conveyor lints, renders, validates and is wired as documented.

Everything runs offline: Helm's Go SDK (helm-python-sdk) lints and renders the chart and checks
values.schema.json, and kubernetes-validate checks every rendered manifest against the
Kubernetes OpenAPI schemas. The official Airflow chart is a declared dependency that CI never
downloads (helm/conveyor/charts/ is git-ignored), so:

- lint reports it missing, as a warning, and that is the only warning tolerated;
- the SDK's render is Helm's template engine on the loaded chart and does not check declared
  dependencies (unlike `helm install`/`helm template`, which refuse until `helm dependency
  build` has run), so it renders our templates with `airflow.enabled: true` and no Airflow
  manifests;
- our `airflow:` values are checked on key names and on the settings Conveyor relies on, not
  against the official chart's own schema.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "helm" / "conveyor"
CI_VALUES = CHART_DIR / "ci" / "values-ci.yaml"
KUBE_VERSION = "1.33"
RELEASE, NAMESPACE = "conveyor", "conveyor"

AIRFLOW_CHART_VERSION = "1.22.0"
MISSING_AIRFLOW_WARNING = (2, "chart directory is missing these dependencies: airflow")
INFO = 1

# Keys of the official Airflow chart 1.22.0 that our values set (its parameters reference,
# https://airflow.apache.org/docs/helm-chart/1.22.0/parameters-ref.html, and its values.yaml).
# `enabled` is not the official chart's: it is our dependency condition.
OFFICIAL_AIRFLOW_KEYS = {
    "enabled",
    "executor",
    "airflowVersion",
    "defaultAirflowRepository",
    "defaultAirflowTag",
    "images.airflow.repository",
    "images.airflow.tag",
    "images.airflow.pullPolicy",
    "postgresql.enabled",
    "data.metadataSecretName",
    "fernetKeySecretName",
    "apiSecretKeySecretName",
    "jwtSecretName",
    "webserverSecretKeySecretName",
    "createUserJob.enabled",
    "createUserJob.defaultUser.enabled",
    "dags.persistence.enabled",
    "dags.gitSync.enabled",
    "dags.gitSync.repo",
    "dags.gitSync.branch",
    "dags.gitSync.ref",
    "dags.gitSync.subPath",
    "dags.gitSync.sshKeySecret",
    "extraEnvFrom",
    "env",
    "workers.serviceAccount.create",
    "workers.serviceAccount.name",
    "workers.kubernetes.serviceAccount.create",
    "workers.kubernetes.serviceAccount.name",
    # Image digests (images.airflow.digest wins over the tag in the chart's airflow_image helper).
    "defaultAirflowDigest",
    "images.airflow.digest",
    # Airflow's keys per component instead of in every container: the global switches of the
    # chart's standard environment, and each component's env (valueFrom.secretKeyRef supported).
    "enableBuiltInSecretEnvVars.AIRFLOW__CORE__FERNET_KEY",
    "enableBuiltInSecretEnvVars.AIRFLOW__API__SECRET_KEY",
    "enableBuiltInSecretEnvVars.AIRFLOW__API_AUTH__JWT_SECRET",
    "scheduler.env",
    "apiServer.env",
    "dagProcessor.env",
    "triggerer.env",
    "workers.env",
}

# Env names that carry credentials: in a manifest they may only come from a Secret.
SENSITIVE_ENV = re.compile(
    r"PASSWORD|PASSWD|SECRET|TOKEN|_KEY$|_KEY_ID$|CONN|BACKEND_STORE_URI|DATABASE_URI|CREDENTIAL", re.I
)
# Literal credentials in any rendered string: a URL with user:password@, or an AWS access key id.
LITERAL_CREDENTIAL = re.compile(r"://[^/\s:@]+:[^/\s@]+@|AKIA[0-9A-Z]{16}")


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chart():
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def ci_values() -> dict:
    return yaml.safe_load(CI_VALUES.read_text())


@pytest.fixture(params=["defaults", "ci"], scope="module")
def case(request, chart, ci_values):
    """(user values, merged values, rendered manifests) for the defaults and for ci/values-ci.yaml."""
    user = {} if request.param == "defaults" else ci_values
    merged = chart.merge_values(user)
    return user, merged, _manifests(chart, user)


def _render(chart, values: dict) -> dict[str, str]:
    return chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


def _manifests(chart, values: dict) -> list[dict]:
    """Parse every YAML document our templates render (NOTES.txt is text, not a manifest).

    Subchart templates (conveyor/charts/airflow/..., present only after a local `helm dependency
    build`) are left out: these tests are about Conveyor's templates.
    """
    docs = []
    for path, text in sorted(_render(chart, values).items()):
        if path.startswith("conveyor/templates/") and not path.endswith("NOTES.txt"):
            docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def _one(docs: list[dict], kind: str, component: str) -> dict:
    found = [
        d for d in docs if d["kind"] == kind and d["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, f"expected one {kind} for {component}, found {[d['metadata']['name'] for d in found]}"
    return found[0]


def _containers(doc: dict) -> list[dict]:
    spec = doc.get("spec", {})
    pod = spec.get("template", {}).get("spec", spec)
    return pod.get("containers", []) + pod.get("initContainers", [])


def _strings(node) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def _leaf_paths(node: dict, prefix: str = "") -> Iterator[str]:
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _leaf_paths(value, path + ".")
        else:
            yield path


def _lint_problems(report: dict) -> list[tuple[int, str]]:
    return [(m["severity"], m["error"].strip()) for m in report["messages"] if m["severity"] > INFO]


def _airflow_dependency_fetched() -> bool:
    return any(d["name"] == "airflow" and d["status"] == "ok" for d in helm.dependency_list(CHART_DIR))


# --- the chart as a whole ----------------------------------------------------------------------


def test_airflow_dependency_is_the_pinned_official_chart_and_is_not_vendored():
    with helm.Chart.load(CHART_DIR) as loaded:
        meta = loaded.metadata
    assert meta["apiVersion"] == "v2" and meta["type"] == "application"
    [dep] = meta["dependencies"]
    assert dep == {
        "name": "airflow",
        "version": AIRFLOW_CHART_VERSION,
        "repository": "https://airflow.apache.org",
        "condition": "airflow.enabled",
    }
    statuses = {d["name"]: d["status"] for d in helm.dependency_list(CHART_DIR)}
    assert statuses["airflow"] in {"missing", "ok"}  # "ok" only after a local `helm dependency build`
    tracked = subprocess.run(
        ["git", "ls-files", "--", str(CHART_DIR / "charts")], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert tracked == "", f"third-party charts must not be committed: {tracked}"


@pytest.mark.parametrize("values_file", [None, CI_VALUES], ids=["defaults", "ci"])
def test_lint_reports_no_errors_and_no_warning_but_the_undownloaded_airflow_chart(values_file):
    values = yaml.safe_load(values_file.read_text()) if values_file else None
    report = helm.lint(CHART_DIR, values, kube_version=f"v{KUBE_VERSION}.0")
    assert report["errors"] == []
    expected = [] if _airflow_dependency_fetched() else [MISSING_AIRFLOW_WARNING]
    assert _lint_problems(report) == expected


@pytest.mark.skipif(_airflow_dependency_fetched(), reason="the official chart was fetched into helm/conveyor/charts")
def test_sdk_renders_without_the_undownloaded_airflow_chart_and_only_our_templates(chart):
    """What CI relies on: the SDK's render does not refuse a declared but absent dependency."""
    assert chart.dependencies == []  # declared in Chart.yaml, not loaded
    rendered = _render(chart, {"airflow": {"enabled": True}})
    assert rendered and all(path.startswith("conveyor/templates/") for path in rendered)
    assert "conveyor/templates/NOTES.txt" in rendered


def test_chart_renders_every_conveyor_component(case):
    _, _, docs = case
    kinds = sorted((d["kind"], d["metadata"]["labels"]["app.kubernetes.io/component"]) for d in docs)
    assert kinds == [
        ("ConfigMap", "mlflow-auth"),
        ("ConfigMap", "settings"),
        ("Deployment", "mlflow"),
        ("Job", "mlflow-users"),
        ("Job", "pools"),
        ("NetworkPolicy", "mlflow"),
        ("Role", "spark"),
        ("RoleBinding", "spark"),
        ("Service", "mlflow"),
        ("ServiceAccount", "spark"),
        ("ServiceAccount", "spark-executor"),
    ]


def test_every_rendered_manifest_validates_against_the_kubernetes_openapi_schema(case):
    _, _, docs = case
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}")


def test_kubernetes_validation_rejects_a_misspelt_field(chart):
    """The strict schemas reject unknown fields, so a typo in a template cannot slip through."""
    deployment = copy.deepcopy(_one(_manifests(chart, {}), "Deployment", "mlflow"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)


# --- wiring ------------------------------------------------------------------------------------


def test_mlflow_server_is_probed_on_health_and_reachable_through_its_service(case):
    _, merged, docs = case
    deployment, service = _one(docs, "Deployment", "mlflow"), _one(docs, "Service", "mlflow")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    assert container["ports"] == [{"name": "http", "containerPort": 5000, "protocol": "TCP"}]
    assert service["spec"]["ports"] == [{"name": "http", "port": 5000, "targetPort": "http", "protocol": "TCP"}]
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert deployment["spec"]["replicas"] == merged["mlflow"]["replicas"]
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["resources"] == merged["mlflow"]["resources"]


def test_mlflow_server_serves_artifacts_from_s3_with_its_database_uri_from_a_secret(case):
    _, merged, docs = case
    [container] = _one(docs, "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"]
    command = container["command"] + container["args"]
    # files/mlflow_auth.py writes the basic-auth config, then execs the rest of the command.
    wrapper = ["python", "/opt/conveyor-mlflow/mlflow_auth.py", "exec-with-config", "--"]
    assert command[: len(wrapper)] == wrapper
    command = command[len(wrapper) :]
    assert command[:4] == ["mlflow", "server", "--app-name", "basic-auth"]

    def flag(name):
        return command[command.index(name) + 1]

    assert flag("--backend-store-uri") == "$(MLFLOW_BACKEND_STORE_URI)"
    assert flag("--artifacts-destination") == merged["mlflow"]["artifactsDestination"]
    assert "--serve-artifacts" in command
    assert (flag("--host"), flag("--port")) == ("0.0.0.0", "5000")
    service_name = _one(docs, "Service", "mlflow")["metadata"]["name"]
    assert {service_name, f"{service_name}:*", f"{service_name}.{NAMESPACE}.svc.cluster.local:*"} <= set(
        flag("--allowed-hosts").split(",")
    )
    env = {e["name"]: e for e in container["env"]}
    store = merged["mlflow"]["backendStore"]
    assert env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"] == {
        "name": store["secretName"],
        "key": store["secretKey"],
    }
    s3 = merged["mlflow"]["s3Credentials"]
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {
        "name": s3["secretName"],
        "key": s3["accessKeyIdKey"],
    }
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": s3["secretName"],
        "key": s3["secretAccessKeyKey"],
    }


def test_no_rendered_manifest_holds_a_credential(case):
    _, _, docs = case
    assert not [d for d in docs if d["kind"] == "Secret"], "the chart must reference Secrets, never create them"
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        for container in _containers(doc):
            for env in container.get("env", []):
                if SENSITIVE_ENV.search(env["name"]):
                    assert "value" not in env and "secretKeyRef" in env["valueFrom"], (
                        f"{where}: {env['name']} is not a secret reference"
                    )
            for source in container.get("envFrom", []):
                assert "secretRef" in source or "configMapRef" in source, where
        if doc["kind"] == "ConfigMap":
            sensitive = [k for k in doc["data"] if SENSITIVE_ENV.search(k)]
            assert not sensitive, f"{where}: credential-like settings in a ConfigMap: {sensitive}"
        literals = [s for s in _strings(doc) if LITERAL_CREDENTIAL.search(s)]
        assert not literals, f"{where}: literal credentials {literals}"


def test_spark_role_lets_drivers_in_task_pods_create_and_delete_executor_pods(case):
    _, merged, docs = case
    role, binding = _one(docs, "Role", "spark"), _one(docs, "RoleBinding", "spark")
    account = _one(docs, "ServiceAccount", "spark")
    verbs = {
        resource: set(rule["verbs"])
        for rule in role["rules"]
        if rule["apiGroups"] == [""]
        for resource in rule["resources"]
    }
    assert {"create", "delete", "get", "list", "watch"} <= verbs["pods"]
    for resource in ("services", "configmaps"):
        assert {"create", "delete", "get"} <= verbs[resource], resource
    spark_namespace = merged["conveyor"]["sparkNamespace"] or NAMESPACE
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == spark_namespace
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]
    # ...and the Airflow task pods run as that account.
    workers = merged["airflow"]["workers"]
    assert (
        workers["serviceAccount"]
        == workers["kubernetes"]["serviceAccount"]
        == {"create": False, "name": account["metadata"]["name"]}
    )


def test_pool_job_creates_the_registry_pool_after_install_and_upgrade(case):
    from conveyor_factory.routing import REGISTRY_POOL

    _, merged, docs = case
    job = _one(docs, "Job", "pools")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "post-install,post-upgrade"
    assert int(annotations["helm.sh/hook-weight"]) > 2  # after the official chart's migrate and create-user hooks
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] + container["args"] == ["airflow", "pools", "set", REGISTRY_POOL, "1", "alias moves"]
    image = merged["airflow"]["images"]["airflow"]
    pinned = (
        f"{image['repository']}@{image['digest']}" if image.get("digest") else f"{image['repository']}:{image['tag']}"
    )
    assert container["image"] == pinned
    env = {e["name"]: e for e in container["env"]}
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]["valueFrom"]["secretKeyRef"] == {
        "name": merged["airflow"]["data"]["metadataSecretName"],
        "key": "connection",
    }
    # The only credential; the rest points the CLI's own files at /tmp (read-only root filesystem).
    assert [n for n in env if SENSITIVE_ENV.search(n)] == ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW_CONFIG"]["value"].startswith("/tmp/")


def test_settings_configmap_runs_conveyor_in_kubernetes_mode_with_spark_on_kubernetes(case, monkeypatch):
    from ml_tasks.core.settings import ConveyorSettings

    _, merged, docs = case
    data = _one(docs, "ConfigMap", "settings")["data"]
    service = _one(docs, "Service", "mlflow")
    assert data["CONVEYOR_MODE"] == "kubernetes"
    assert data["CONVEYOR_SPARK_MASTER"].startswith("k8s://https://")
    assert data["CONVEYOR_SPARK_S3A"] == "true"
    assert data["CONVEYOR_LAKE_URI"] == merged["conveyor"]["lakeUri"]
    assert (
        data["CONVEYOR_MLFLOW_TRACKING_URI"]
        == f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    )
    assert data["CONVEYOR_SPARK_IMAGE"] == merged["conveyor"]["sparkImage"]
    assert data["CONVEYOR_SPARK_NAMESPACE"] == (merged["conveyor"]["sparkNamespace"] or NAMESPACE)
    # Spark executors get the lake credentials from the same Secret, by reference.
    secret = merged["conveyor"]["s3Credentials"]["secretName"]
    assert (
        f"spark.kubernetes.executor.secretKeyRef.AWS_SECRET_ACCESS_KEY={secret}:AWS_SECRET_ACCESS_KEY"
        in data["PYSPARK_SUBMIT_ARGS"]
    )
    assert data["PYSPARK_SUBMIT_ARGS"].endswith("pyspark-shell")

    # Every CONVEYOR_* name is a real setting (the settings object ignores unknown ones), and
    # the settings object reads the ConfigMap as the pods will.
    conveyor_vars = {k: v for k, v in data.items() if k.startswith("CONVEYOR_")}
    unknown = [k for k in conveyor_vars if k.removeprefix("CONVEYOR_").lower() not in ConveyorSettings.model_fields]
    assert not unknown, f"not ConveyorSettings fields: {unknown}"
    for name, value in conveyor_vars.items():
        monkeypatch.setenv(name, value)
    settings = ConveyorSettings()
    assert settings.mode == "kubernetes" and settings.spark_s3a is True
    assert settings.spark_master == data["CONVEYOR_SPARK_MASTER"]
    assert settings.mlflow_tracking_uri == data["CONVEYOR_MLFLOW_TRACKING_URI"]
    public = merged["conveyor"]["publicUrls"]
    assert (
        data["CONVEYOR_MLFLOW_PUBLIC_URL"] == public["mlflow"]
        and data["CONVEYOR_AIRFLOW_PUBLIC_URL"] == public["airflow"]
    )
    if public["mlflow"]:
        assert settings.mlflow_public_url == public["mlflow"].rstrip("/")


def test_every_airflow_pod_loads_the_settings_by_reference_and_no_secret(case):
    """airflow.extraEnvFrom is templated by the official chart; only .Release.Name is used.

    It reaches every Airflow container, so it carries the settings only: credentials go to the
    components that use them (tests/security/test_secrets_per_component.py).
    """
    _, merged, docs = case
    template = merged["airflow"]["extraEnvFrom"]
    assert set(re.findall(r"{{.*?}}", template)) <= {"{{ .Release.Name }}"}
    sources = yaml.safe_load(template.replace("{{ .Release.Name }}", RELEASE))
    assert sources == [{"configMapRef": {"name": _one(docs, "ConfigMap", "settings")["metadata"]["name"]}}]


# --- the official chart's values ---------------------------------------------------------------


def test_airflow_runs_the_conveyor_image_with_the_kubernetes_executor(chart):
    from importlib.metadata import version

    airflow = chart.values["airflow"]
    assert airflow["enabled"] is True
    assert airflow["executor"] == "KubernetesExecutor"
    image = airflow["images"]["airflow"]
    assert (image["repository"], image["tag"]) == ("conveyor/airflow", chart.metadata["appVersion"])
    assert (airflow["defaultAirflowRepository"], airflow["defaultAirflowTag"]) == (image["repository"], image["tag"])
    assert airflow["airflowVersion"] == version("apache-airflow"), "the chart must know the Airflow in the image"
    assert chart.values["conveyor"]["sparkImage"] == f"{image['repository']}:{image['tag']}"


def test_airflow_dags_are_baked_into_the_image_unless_git_sync_is_turned_on(chart, ci_values):
    assert chart.values["airflow"]["dags"]["gitSync"]["enabled"] is False
    assert chart.values["airflow"]["dags"]["persistence"]["enabled"] is False
    # With git-sync on, the synced copy must win over the image's baked-in paths (Dockerfile ENV).
    synced = ci_values["airflow"]["dags"]["gitSync"]
    assert synced["enabled"] is True and synced["sshKeySecret"]  # by reference, never the key itself
    synced_dags = f"/opt/airflow/dags/repo/{synced['subPath']}"
    assert {"name": "AIRFLOW__CORE__DAGS_FOLDER", "value": synced_dags} in ci_values["airflow"]["env"]
    assert ci_values["conveyor"]["extraEnv"]["CONVEYOR_SPECS_DIR"] == f"{synced_dags}/specs"


def test_airflow_has_no_default_user_and_every_secret_by_name(chart):
    airflow = chart.values["airflow"]
    assert airflow["createUserJob"]["enabled"] is False
    assert airflow["createUserJob"]["defaultUser"]["enabled"] is False
    assert airflow["postgresql"]["enabled"] is False, "the bundled PostgreSQL has a default password"
    passwords = [
        p for p in _leaf_paths(airflow) if re.search(r"pass(word)?$|^fernetKey$|secretKey$|jwtSecret$", p, re.I)
    ]
    assert passwords == [], f"plain-text credential fields in the airflow values: {passwords}"
    for key in ("fernetKeySecretName", "apiSecretKeySecretName", "jwtSecretName", "webserverSecretKeySecretName"):
        assert isinstance(airflow[key], str) and airflow[key], key
    assert isinstance(airflow["data"]["metadataSecretName"], str) and airflow["data"]["metadataSecretName"]


@pytest.mark.parametrize("values_file", [CHART_DIR / "values.yaml", CI_VALUES], ids=["defaults", "ci"])
def test_airflow_values_use_only_key_names_of_the_official_chart(values_file):
    airflow = yaml.safe_load(values_file.read_text())["airflow"]
    unknown = sorted(set(_leaf_paths(airflow)) - OFFICIAL_AIRFLOW_KEYS)
    assert unknown == [], f"not keys of the official Airflow chart {AIRFLOW_CHART_VERSION}: {unknown}"


# --- values.schema.json ------------------------------------------------------------------------


def test_schema_is_draft_07_and_accepts_the_shipped_values(chart, ci_values):
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator(schema).validate(chart.merge_values({}))
    jsonschema.Draft7Validator(schema).validate(chart.merge_values(ci_values))
    chart.validate_schema({})
    chart.validate_schema(ci_values)


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        pytest.param({"mlflow": {"replica": 2}}, "additional properties 'replica' not allowed", id="typo-in-mlflow"),
        pytest.param({"mlfow": {"replicas": 2}}, "additional properties 'mlfow' not allowed", id="typo-at-top-level"),
        pytest.param(
            {"mlflow": {"backendStore": {"password": "hunter2"}}},  # pragma: allowlist secret
            "additional properties 'password' not allowed",
            id="plain-text-password",
        ),
        pytest.param(
            {"mlflow": {"backendStore": {"uri": "postgresql://mlflow:hunter2@db/mlflow"}}},  # pragma: allowlist secret
            "additional properties 'uri' not allowed",
            id="plain-text-database-uri",
        ),
        pytest.param(
            {"mlflow": {"backendStore": {"secretName": ""}}}, "/mlflow/backendStore/secretName", id="empty-secret-name"
        ),
        pytest.param(
            {"conveyor": {"s3Credentials": {"secretName": 42}}},
            "got number, want string",
            id="secret-name-not-a-string",
        ),
        pytest.param(
            {"airflow": {"data": {"metadataSecretName": ""}}},
            "/airflow/data/metadataSecretName",
            id="empty-metadata-secret",
        ),
        pytest.param(
            {"airflow": {"fernetKey": "plain-text-fernet-key"}}, "/airflow/fernetKey", id="plain-text-fernet-key"
        ),
        pytest.param(
            {"airflow": {"jwtSecret": "plain-text-jwt"}},  # pragma: allowlist secret
            "/airflow/jwtSecret",
            id="plain-text-jwt-secret",
        ),
        pytest.param({"airflow": {"executor": "CeleryExecutor"}}, "/airflow/executor", id="other-executor"),
        pytest.param({"conveyor": {"mode": "compose"}}, "/conveyor/mode", id="other-mode"),
        pytest.param(
            {"conveyor": {"extraEnv": {"AWS_SECRET_ACCESS_KEY": "x"}}},
            "invalid propertyName 'AWS_SECRET_ACCESS_KEY'",
            id="non-conveyor-extra-env",
        ),
        pytest.param({"mlflow": {"enabled": False}}, "/conveyor/mlflowTrackingUri", id="no-mlflow-and-no-tracking-uri"),
    ],
)
def test_schema_rejects_bad_values(chart, values, complaint):
    with pytest.raises(helm.HelmValuesError) as raised:
        chart.validate_schema(values)
    assert complaint in str(raised.value)


@pytest.mark.parametrize(
    "path",
    [
        ("mlflow", "backendStore", "secretName"),
        ("mlflow", "s3Credentials", "secretName"),
        ("conveyor", "s3Credentials", "secretName"),
        ("airflow", "data", "metadataSecretName"),
        ("airflow", "jwtSecretName"),
    ],
    ids=".".join,
)
def test_a_missing_secret_name_stops_the_render(chart, path):
    """`--set key=null` deletes a default in Helm; the schema then refuses to render."""
    values: dict = {}
    node = values
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = None
    with pytest.raises(helm.HelmValuesError, match=f"missing property '{path[-1]}'"):
        chart.render(values, name=RELEASE, namespace=NAMESPACE)


# --- GPU training pods -------------------------------------------------------------------------


def test_gpu_training_pod_override_is_a_valid_pod_on_the_gpu_nodes(chart):
    """The training task's pod_override under the KubernetesExecutor, as the DAG builds it."""
    from kubernetes.client import ApiClient

    from conveyor_factory.routing import gpu_pod
    from ml_tasks.core.spec import load_spec

    spec = load_spec("demand", REPO_ROOT / "dags" / "specs")
    manifest = ApiClient().sanitize_for_serialization(gpu_pod(spec))
    manifest.update(apiVersion="v1", kind="Pod", metadata={"name": "demand-train-lightning"})
    kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)

    gpu = chart.values["gpu"]
    [base] = manifest["spec"]["containers"]
    assert base["name"] == "base"  # the container the KubernetesExecutor merges the override into
    res = spec.training.resources
    assert base["resources"]["limits"][gpu["resourceName"]] == str(res.gpus)
    assert manifest["spec"]["nodeSelector"] == dict(res.node_selector)
    assert manifest["spec"]["tolerations"] == [dict(t) for t in res.tolerations]


def test_every_gpu_spec_targets_the_gpu_nodes_the_chart_documents(chart):
    from ml_tasks.core.spec import load_spec

    gpu = chart.values["gpu"]
    gpu_specs = [load_spec(p) for p in sorted((REPO_ROOT / "dags" / "specs").glob("*.yaml"))]
    gpu_specs = [s for s in gpu_specs if s.training.resources.gpu]
    assert gpu_specs, "no pipeline asks for a GPU: the gpu values document nothing"
    for spec in gpu_specs:
        res = spec.training.resources
        assert dict(res.node_selector).items() <= gpu["nodeLabels"].items(), spec.name
        for taint in gpu["taints"]:
            tolerated = any(
                t.get("key") == taint["key"]
                and t.get("effect") in (None, taint["effect"])
                and t.get("operator") == "Exists"
                for t in res.tolerations
            )
            assert tolerated, f"{spec.name} does not tolerate {taint}"


# --- the check fails on broken files -----------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("templates/configmap.yaml", "{{ .Values.conveyor.mode | quote }}", "{{ .Values.conveyor.mode | quote "),
        ("templates/mlflow-deployment.yaml", 'include "conveyor.mlflowName" .', 'include "conveyor.mlflowNmae" .'),
        ("values.yaml", "  mode: kubernetes\n", "  mode: kubernetes\n    broken: [\n"),
    ],
    ids=["unclosed-action", "unknown-helper", "invalid-values-yaml"],
)
def test_a_broken_chart_fails_lint_and_render(tmp_path, file, old, new):
    broken = tmp_path / "conveyor"
    shutil.copytree(CHART_DIR, broken, ignore=shutil.ignore_patterns("charts"))
    target = broken / file
    assert old in target.read_text()
    target.write_text(target.read_text().replace(old, new, 1))

    report = helm.lint(broken)
    assert report["errors"], report
    assert any(severity == 3 for severity, _ in _lint_problems(report))
    with pytest.raises(helm.HelmError):
        with helm.Chart.load(broken) as loaded:
            loaded.render(name=RELEASE, namespace=NAMESPACE)
