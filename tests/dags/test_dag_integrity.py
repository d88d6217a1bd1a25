"""Every DAG file imports cleanly, fast and light, and every DAG follows the house policies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml_tasks.core.settings import REPO_ROOT

DAG_FILES = sorted(p for p in (REPO_ROOT / "dags").glob("*.py"))
HEAVY = (
    "torch",
    "pyspark",
    "mlflow",
    "great_expectations",
    "evidently",
    "lightning",
    "pytorch_lightning",
    "lightgbm",
    "pandas",
    "sklearn",
)

PROBE = r"""
import json, sys, time
import airflow.sdk  # airflow itself is not the DAG file's cost
from airflow.sdk import Variable, Connection
def forbidden(*a, **k):
    raise RuntimeError("DAG files must not read Variables or Connections at parse time")
Variable.get = staticmethod(forbidden)
Connection.get = staticmethod(forbidden)
before = set(sys.modules)
t0 = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
seconds = time.perf_counter() - t0
heavy = sorted({m.split('.')[0] for m in set(sys.modules) - before} & set(json.loads(sys.argv[2])))
dags = {d: {"tags": sorted(dag.tags), "owner": dag.default_args.get("owner"),
            "retries": dag.default_args.get("retries"),
            "doc": bool(dag.doc_md), "tasks": sorted(dag.task_ids),
            "undocumented": sorted(t.task_id for t in dag.tasks if not t.doc_md)} for d, dag in bag.dags.items()}
errors = {k: str(v) for k, v in bag.import_errors.items()}
print(json.dumps({"errors": errors, "heavy": heavy, "seconds": seconds, "dags": dags}))
"""


def _parse(path: Path, tmp_path: Path, **extra_env: str) -> dict:
    env = dict(os.environ)
    env.update(extra_env)
    env.update(
        {
            "AIRFLOW_HOME": str(tmp_path),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            # a database that cannot exist: any metadata query at parse time fails loudly
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/missing/dir/airflow.db",
        }
    )
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), json.dumps(HEAVY)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    return {p.name: _parse(p, tmp_path_factory.mktemp(p.stem)) for p in DAG_FILES}


@pytest.mark.parametrize("name", [p.name for p in DAG_FILES])
def test_dag_file_imports_without_errors(parsed, name):
    assert parsed[name]["errors"] == {}
    assert parsed[name]["dags"], f"{name} defines no DAG"


@pytest.mark.parametrize("name", [p.name for p in DAG_FILES])
def test_dag_file_imports_no_heavy_library_at_parse_time(parsed, name):
    assert parsed[name]["heavy"] == []


@pytest.mark.parametrize("name", [p.name for p in DAG_FILES])
def test_dags_have_tags_owner_retries_and_docs(parsed, name):
    for dag_id, d in parsed[name]["dags"].items():
        assert "conveyor" in d["tags"], dag_id
        assert d["owner"] and d["owner"] != "airflow", dag_id
        assert d["retries"] >= 1 or dag_id.endswith("_rollback"), dag_id  # a rollback is run by a person, once
        assert d["doc"], dag_id


@pytest.mark.parametrize("name", [p.name for p in DAG_FILES])
def test_every_task_has_docs_in_the_ui(parsed, name):
    """A task's docstring is its "Task Instance Details" doc in the UI: every task says what it does."""
    for dag_id, d in parsed[name]["dags"].items():
        assert d["undocumented"] == [], dag_id


def test_tasks_take_their_context_as_keyword_arguments():
    """Airflow injects ``params``, ``ti``, ``outlet_events``... into the task's signature; no factory
    module reaches for the context any other way."""
    for path in (REPO_ROOT / "dags" / "conveyor_factory").glob("*.py"):
        assert "get_current_context" not in path.read_text(), path.name


def test_demand_pipeline_has_its_six_dags(parsed):
    dags = parsed["demand.py"]["dags"]
    assert sorted(dags) == [
        "demand_drift",
        "demand_features",
        "demand_relanded",
        "demand_rollback",
        "demand_score",
        "demand_train",
    ]
    assert dags["demand_features"]["tasks"] == [
        "build_features",
        "discard_staging",
        "gate_features",
        "gate_raw",
        "publish_features",
    ]
    assert "request_retrain" in dags["demand_drift"]["tasks"]
    assert "promote" in dags["demand_train"]["tasks"]


def test_dag_files_stay_thin():
    for path in DAG_FILES:
        code = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith(("#", '"""'))]
        assert len(code) < 40, f"{path.name} has {len(code)} lines: wiring belongs in the factory"


def test_task_logic_never_imports_airflow():
    for package in ("ml_tasks", "spark_jobs"):
        for path in (REPO_ROOT / package).rglob("*.py"):
            for line in path.read_text().splitlines():
                stripped = line.strip()
                assert not stripped.startswith(("import airflow", "from airflow")), f"{path}: {line}"


def test_a_broken_spec_is_one_clear_import_error_and_other_pipelines_still_load(tmp_path):
    dags, specs = tmp_path / "dags", tmp_path / "specs"
    dags.mkdir()
    specs.mkdir()
    demand = (REPO_ROOT / "dags" / "specs" / "demand.yaml").read_text()
    (specs / "demand.yaml").write_text(demand)
    (specs / "broken.yaml").write_text(
        demand.replace("name: demand", "name: broken").replace("window_days: 42", "window_dayz: 42")
    )
    (dags / "demand.py").write_text((REPO_ROOT / "dags" / "demand.py").read_text())
    (dags / "broken.py").write_text((REPO_ROOT / "dags" / "demand.py").read_text().replace('"demand"', '"broken"'))
    parsed = _parse(dags, tmp_path, CONVEYOR_SPECS_DIR=str(specs))
    assert list(parsed["errors"]) == [str(dags / "broken.py")]
    error = parsed["errors"][str(dags / "broken.py")]
    assert (
        "broken.yaml: invalid pipeline spec" in error
        and "training.window_dayz: unknown key; did you mean 'window_days'" in error
    )
    assert {"demand_features", "demand_train", "demand_score", "demand_drift"} <= set(parsed["dags"])
