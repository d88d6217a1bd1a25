"""Offline rendering of helm/conveyor for the tests that look at its objects (no cluster, no Helm binary).

The same calls tests/deploy/test_helm.py makes: Helm's Go SDK renders our templates (the official
Airflow chart is a dependency that is never downloaded, so only Conveyor's manifests come out).
"""

from __future__ import annotations

from pathlib import Path

import helm_python as helm
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "helm" / "conveyor"
CI_VALUES = CHART_DIR / "ci" / "values-ci.yaml"
KUBE_VERSION = "1.33"
RELEASE, NAMESPACE = "conveyor", "conveyor"


def ci_values() -> dict:
    return yaml.safe_load(CI_VALUES.read_text())


def manifests(chart, values: dict) -> list[dict]:
    """Every YAML document our templates render for ``values`` (NOTES.txt left out)."""
    rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs = []
    for path, text in sorted(rendered.items()):
        if path.startswith("conveyor/templates/") and not path.endswith("NOTES.txt"):
            docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def component(doc: dict) -> str:
    return doc["metadata"]["labels"].get("app.kubernetes.io/component", "")


def one(docs: list[dict], kind: str, name: str) -> dict:
    """The one object of ``kind`` whose app.kubernetes.io/component label is ``name``."""
    found = [d for d in docs if d["kind"] == kind and component(d) == name]
    assert len(found) == 1, f"expected one {kind} for {name}, found {[d['metadata']['name'] for d in found]}"
    return found[0]


def pod_spec(doc: dict) -> dict | None:
    """The pod template of a Deployment/Job/..., or None for objects that run no pod."""
    template = doc.get("spec", {}).get("template")
    if template is None and doc.get("kind") == "CronJob":
        template = doc["spec"]["jobTemplate"]["spec"]["template"]
    return template["spec"] if template else None


def containers(doc: dict) -> list[dict]:
    spec = pod_spec(doc) or {}
    return spec.get("containers", []) + spec.get("initContainers", [])


def env_by_name(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.fixture(scope="module")
def chart():
    """The chart, loaded once per test module (import it as a fixture)."""
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded
