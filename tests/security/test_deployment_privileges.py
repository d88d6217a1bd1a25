"""Least privilege in what the deployments run: pods, RBAC, network, images, resources.

Rendered offline from helm/conveyor (tests/deploy/helm_render.py) with the default values and
ci/values-ci.yaml, and read from docker-compose.yaml.

Spark on Kubernetes, client mode (Spark 4.3, the fabric8 client 7.6 it bundles): the driver
creates, watches, lists and deletes its executor pods, creates its executor ConfigMap, and when the
session stops deletes the application's pods, config maps, services and volume claims by label (one
deletecollection call each). Executors never call the Kubernetes API. Spark's docs ask that the
driver may create pods and services; volume claims only matter with on-demand claims.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from tests.deploy.helm_render import (
    CHART_DIR,
    KUBE_VERSION,
    NAMESPACE,
    RELEASE,
    chart,  # noqa: F401  (the chart, loaded once: a fixture)
    ci_values,
    component,
    containers,
    env_by_name,
    manifests,
    one,
    pod_spec,
)

REPO = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(params=["defaults", "ci"], scope="module")
def case(request, chart):
    values = {} if request.param == "defaults" else ci_values()
    return chart.merge_values(values), manifests(chart, values)


def workloads(docs: list[dict]) -> list[dict]:
    return [d for d in docs if pod_spec(d) is not None]


# --- containers and pods ------------------------------------------------------------------------


def test_every_conveyor_container_is_locked_down(case):
    _, docs = case
    assert {component(d) for d in workloads(docs)} == {"mlflow", "mlflow-users", "pools"}
    for doc in workloads(docs):
        spec = pod_spec(doc)
        assert spec["automountServiceAccountToken"] is False, doc["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in containers(doc):
            where = f"{doc['metadata']['name']}/{container['name']}"
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert "privileged" not in sc or sc["privileged"] is False, where
            # the process writes to /tmp only, an emptyDir of bounded size
            [tmp] = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert "emptyDir" in volumes[tmp["name"]] and volumes[tmp["name"]]["emptyDir"]["sizeLimit"], where
            for mount in container["volumeMounts"]:
                if mount["mountPath"] != "/tmp":
                    assert mount.get("readOnly") is True, (where, mount)


def test_every_conveyor_container_has_requests_and_limits(case):
    _, docs = case
    for doc in workloads(docs):
        for container in containers(doc):
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[kind]), (doc["metadata"]["name"], kind)


def test_mlflow_runs_the_basic_auth_app_with_its_config_out_of_the_image(case):
    merged, docs = case
    deployment = one(docs, "Deployment", "mlflow")
    [server] = containers(deployment)
    command = server["command"] + server["args"]
    assert command[command.index("--app-name") + 1] == "basic-auth"
    env = env_by_name(server)
    assert env["MLFLOW_AUTH_CONFIG_PATH"]["value"].startswith("/tmp/")  # the emptyDir, written 0600 at start
    assert env["MLFLOW_AUTH_ADMIN_USERNAME"]["value"] == merged["mlflow"]["auth"]["adminUsername"]
    assert env["MLFLOW_AUTH_DEFAULT_PERMISSION"]["value"] == merged["mlflow"]["auth"]["defaultPermission"]
    # the script comes from the chart's ConfigMap, the same file docker-compose.yaml mounts
    config_map = one(docs, "ConfigMap", "mlflow-auth")
    script = (CHART_DIR / "files" / "mlflow_auth.py").read_text()
    assert config_map["data"]["mlflow_auth.py"].strip() == script.strip()
    assert deployment["spec"]["template"]["metadata"]["annotations"]["checksum/mlflow-auth-script"]


def test_mlflow_users_job_runs_after_install_and_upgrade_against_the_service(case):
    merged, docs = case
    job = one(docs, "Job", "mlflow-users")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    [container] = containers(job)
    assert container["command"][-1] == "users"
    service = one(docs, "Service", "mlflow")
    assert env_by_name(container)["MLFLOW_TRACKING_URI"]["value"] == (
        f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    )


# --- the network --------------------------------------------------------------------------------


def selects(selector: dict, labels: dict) -> bool:
    return selector.get("matchLabels", {}).items() <= labels.items() and not selector.get("matchExpressions")


# Pod labels of the official Airflow chart's components (tier/component/release).
AIRFLOW_POD_LABELS = {
    "worker": {"tier": "airflow", "component": "worker", "release": RELEASE, "airflow-worker": "12"},
    "api-server": {"tier": "airflow", "component": "api-server", "release": RELEASE},
    "scheduler": {"tier": "airflow", "component": "scheduler", "release": RELEASE},
    "dag-processor": {"tier": "airflow", "component": "dag-processor", "release": RELEASE},
    "triggerer": {"tier": "airflow", "component": "triggerer", "release": RELEASE},
}


def test_network_policy_admits_only_mlflows_clients_to_its_port(case):
    merged, docs = case
    policy = one(docs, "NetworkPolicy", "mlflow")
    kubernetes_validate.validate(policy, KUBE_VERSION, strict=True)
    deployment = one(docs, "Deployment", "mlflow")
    mlflow_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(policy["spec"]["podSelector"], mlflow_labels)
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    [rule] = policy["spec"]["ingress"]
    [container] = containers(deployment)
    assert rule["ports"] == [{"protocol": "TCP", "port": container["ports"][0]["containerPort"]}]

    peers = rule["from"]
    pod_peers = [p["podSelector"] for p in peers if set(p) == {"podSelector"}]

    def admitted(labels: dict) -> bool:
        return any(selects(s, labels) for s in pod_peers)

    # in: the task pods, the api-server, the users job, serving pods
    assert admitted(AIRFLOW_POD_LABELS["worker"]) and admitted(AIRFLOW_POD_LABELS["api-server"])
    assert admitted(one(docs, "Job", "mlflow-users")["spec"]["template"]["metadata"]["labels"])
    assert admitted(merged["mlflow"]["networkPolicy"]["servingPodLabels"])
    # out: the other Airflow components, another release's task pods, the pool job, anything unlabelled
    for name in ("scheduler", "dag-processor", "triggerer"):
        assert not admitted(AIRFLOW_POD_LABELS[name]), name
    assert not admitted({**AIRFLOW_POD_LABELS["worker"], "release": "other"})
    assert not admitted(one(docs, "Job", "pools")["spec"]["template"]["metadata"]["labels"])
    assert not admitted({})
    assert all(s.get("matchLabels") for s in pod_peers), "an empty podSelector would admit every pod"
    # nothing but the configured extra peers reaches it from other namespaces or addresses
    assert [p for p in peers if set(p) != {"podSelector"}] == merged["mlflow"]["networkPolicy"]["extraFrom"]


def test_network_policy_can_be_turned_off(chart):
    docs = manifests(chart, {"mlflow": {"networkPolicy": {"enabled": False}}})
    assert not [d for d in docs if d["kind"] == "NetworkPolicy"]


# --- Spark RBAC ---------------------------------------------------------------------------------


def role_rules(role: dict) -> dict[str, set[str]]:
    rules = {}
    for rule in role["rules"]:
        assert rule["apiGroups"] == [""], rule
        for resource in rule["resources"]:
            rules[resource] = set(rule["verbs"])
    return rules


def test_spark_driver_role_holds_what_client_mode_uses_and_no_more(case):
    merged, docs = case
    role = one(docs, "Role", "spark")
    assert role_rules(role) == {
        "pods": {"create", "get", "list", "watch", "delete", "deletecollection"},
        "configmaps": {"create", "get", "delete", "deletecollection"},
        "services": {"create", "get", "delete", "deletecollection"},
    }
    assert not merged["spark"]["rbac"]["onDemandVolumeClaims"]


def test_spark_driver_role_gets_volume_claims_only_for_on_demand_claims(chart):
    docs = manifests(chart, {"spark": {"rbac": {"onDemandVolumeClaims": True}}})
    rules = role_rules(one(docs, "Role", "spark"))
    assert rules["persistentvolumeclaims"] == {"create", "get", "list", "delete", "deletecollection"}
    for verbs in rules.values():
        assert not verbs & {"*", "patch", "update", "escalate", "bind", "impersonate"}


def test_spark_executors_run_as_an_account_with_no_role_and_no_token(case):
    merged, docs = case
    spark_namespace = merged["conveyor"]["sparkNamespace"] or NAMESPACE
    account = one(docs, "ServiceAccount", "spark-executor")
    assert account["metadata"]["name"] == merged["spark"]["executorServiceAccountName"]
    assert account["metadata"]["namespace"] == spark_namespace
    assert account["automountServiceAccountToken"] is False
    bound = [s["name"] for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding") for s in d["subjects"]]
    assert account["metadata"]["name"] not in bound
    submit = one(docs, "ConfigMap", "settings")["data"]["PYSPARK_SUBMIT_ARGS"]
    assert f"--conf spark.kubernetes.authenticate.executor.serviceAccountName={account['metadata']['name']} " in submit
    # the driver's account is a different one: it keeps its Role (and its token, to use it)
    assert one(docs, "ServiceAccount", "spark")["metadata"]["name"] != account["metadata"]["name"]


# --- images -------------------------------------------------------------------------------------


def images(docs: list[dict]) -> dict[str, str]:
    return {f"{component(d)}/{c['name']}": c["image"] for d in workloads(docs) for c in containers(d)}


def test_images_use_the_digest_when_one_is_given(chart):
    docs = manifests(chart, {"airflow": {"images": {"airflow": {"digest": DIGEST}}}})
    assert set(images(docs).values()) == {f"conveyor/airflow@{DIGEST}"}
    own = {"repository": "registry.example/mlflow", "tag": "", "digest": "sha256:" + "cd" * 32}
    docs = manifests(chart, {"mlflow": {"image": own}})
    got = images(docs)
    assert got["mlflow/mlflow"] == got["mlflow-users/mlflow-users"] == f"registry.example/mlflow@{own['digest']}"
    assert got["pools/pools"] == "conveyor/airflow:0.1.0"


def test_ci_values_pin_every_image_by_digest(chart):
    values = ci_values()
    assert values["airflow"]["defaultAirflowDigest"] == values["airflow"]["images"]["airflow"]["digest"]
    assert all(re.search(r"@sha256:[0-9a-f]{64}$", image) for image in images(manifests(chart, values)).values())


@pytest.mark.parametrize("digest", ["latest", "sha256:abc", "md5:" + "ab" * 16])
def test_schema_rejects_a_malformed_digest(chart, digest):
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema({"airflow": {"images": {"airflow": {"digest": digest}}}})
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema({"mlflow": {"image": {"digest": digest}}})


def test_schema_requires_limits(chart):
    with pytest.raises(helm.HelmValuesError, match="limits"):
        chart.validate_schema({"mlflow": {"resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": None}}})


def test_validation_rejects_a_misspelt_security_field(chart):
    deployment = copy.deepcopy(one(manifests(chart, {}), "Deployment", "mlflow"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["readOnlyRootFileSystem"] = container["securityContext"].pop("readOnlyRootFilesystem")
    with pytest.raises(kubernetes_validate.ValidationError, match="readOnlyRootFileSystem"):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)


# --- Docker Compose -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_services() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())["services"]


def test_every_compose_service_has_cpu_and_memory_limits(compose_services):
    for name, service in compose_services.items():
        limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        assert limits.get("memory") and limits.get("cpus"), name


def test_compose_third_party_images_can_be_pinned_from_env(compose_services):
    """Every image is a ${VAR:-default}, so .env can pin it as name:tag@sha256:<digest>."""
    for name, service in compose_services.items():
        assert re.fullmatch(r"\$\{\w+:-[^}]+\}", service["image"]), (name, service["image"])
