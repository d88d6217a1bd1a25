"""The package structure holds: imports run one way, no cycles, Spark only where a job runs.

Every import between the project's modules counts, at module level or inside a function (a
function-level import is still a dependency). The layers, lowest first, are in ``LAYERS``; a
module may import its own package and the packages before it, never one after it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["core", "features", "data", "training", "registry", "serving", "monitoring", "demo", "platform"]
# ml_tasks modules that run a Spark job (and so may import spark_jobs).
RUNS_SPARK = {"ml_tasks.data.backfill"}
# What spark_jobs may import from ml_tasks: the core and the feature names.
SPARK_MAY_IMPORT = {"core", "features"}


def _modules() -> dict[str, Path]:
    out = {}
    for top in ("ml_tasks", "spark_jobs"):
        for path in (ROOT / top).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            out[name] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        for n in names:
            if n.split(".")[0] in ("ml_tasks", "spark_jobs"):
                target = _resolve(n)
                if target and target != module and not module.startswith(target + "."):
                    found.add(target)
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "ml_tasks" and len(parts) > 1 else None


def test_every_module_is_in_a_stage_package():
    loose = [m for m in MODULES if m.startswith("ml_tasks.") and _layer(m) not in LAYERS]
    assert not loose, f"modules outside the stage packages {LAYERS}: {loose}"


def test_imports_run_one_way():
    wrong = []
    for module, targets in GRAPH.items():
        if not module.startswith("ml_tasks."):
            continue
        rank = LAYERS.index(_layer(module))
        for t in targets:
            if t.startswith("ml_tasks.") and LAYERS.index(_layer(t)) > rank:
                wrong.append(f"{module} -> {t}")
            if t.startswith("spark_jobs") and module not in RUNS_SPARK:
                wrong.append(f"{module} -> {t} (only {sorted(RUNS_SPARK)} run Spark jobs)")
    assert not wrong, "imports against the layer order " + " <- ".join(LAYERS) + ":\n" + "\n".join(sorted(wrong))


def test_spark_jobs_import_only_core_and_feature_names():
    wrong = [
        f"{m} -> {t}"
        for m, targets in GRAPH.items()
        if m.startswith("spark_jobs")
        for t in targets
        if t.startswith("ml_tasks.") and _layer(t) not in SPARK_MAY_IMPORT
    ]
    assert not wrong, "\n".join(wrong)


def test_the_product_never_imports_the_soak_harness():
    """The soak harness (`soak/`: the distributed deployment's services and faults) drives the product
    from outside; nothing the product runs (ml_tasks, spark_jobs, the DAGs, the plugins) imports it."""
    wrong = []
    for top in ("ml_tasks", "spark_jobs", "dags", "plugins"):
        for path in (ROOT / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else ([node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
                )
                wrong += [f"{path.relative_to(ROOT)} imports {n}" for n in names if n.split(".")[0] == "soak"]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    import networkx as nx

    graph = nx.DiGraph([(m, t) for m, targets in GRAPH.items() for t in targets])
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_every_package_says_what_it_owns():
    for layer in LAYERS:
        doc = ast.get_docstring(ast.parse((ROOT / "ml_tasks" / layer / "__init__.py").read_text()))
        assert doc and "Owns" in doc, f"ml_tasks/{layer}/__init__.py needs a docstring naming what it owns"


# Every Python file of the project but the tests: past this many lines, a module is split by what it does.
MAX_LINES = 350
PROJECT_CODE = ("ml_tasks", "spark_jobs", "dags", "plugins", "soak", "bench")


@pytest.mark.parametrize(
    "path", sorted(str(p.relative_to(ROOT)) for top in PROJECT_CODE for p in (ROOT / top).rglob("*.py"))
)
def test_modules_stay_readable(path):
    lines = len((ROOT / path).read_text().splitlines())
    assert lines <= MAX_LINES, f"{path} has {lines} lines (at most {MAX_LINES}); split it by what it does"


def test_the_soak_harness_is_not_shipped_in_the_product():
    shipped = [
        str(p.relative_to(ROOT))
        for top in ("ml_tasks", "spark_jobs", "dags", "plugins")
        for p in (ROOT / top).rglob("*soak*")
    ]
    assert not shipped, f"soak harness modules inside the product (they belong in soak/): {shipped}"


def test_architecture_doc_names_the_stages_as_ls_shows_them_and_the_import_order_of_this_test():
    """`ls ml_tasks` and docs/architecture.md's stage table name the same stages in the same order, and the
    doc's import order is ``LAYERS``."""
    import re

    listed = sorted(p.name for p in (ROOT / "ml_tasks").iterdir() if (p / "__init__.py").exists())
    assert sorted(LAYERS) == listed, f"LAYERS {LAYERS} and the packages of ml_tasks/ {listed} differ"
    doc = (ROOT / "docs" / "architecture.md").read_text()
    table = re.findall(r"^\| `(\w+)/` \|", doc, flags=re.M)
    assert table == listed, f"docs/architecture.md's stage table {table} != `ls ml_tasks` {listed}"
    order = re.search(r"^Import order: (.+)$", doc, flags=re.M)
    assert order, "docs/architecture.md has no 'Import order: ...' line"
    assert re.findall(r"`(\w+)`", order.group(1)) == LAYERS, f"docs/architecture.md: {order.group(0)} != {LAYERS}"


def test_feature_names_and_training_need_no_pyspark():
    """A GPU training pod learns every shipped pipeline's feature names without pyspark installed."""
    script = """
import sys
sys.modules['pyspark'] = None  # any import of pyspark now fails
from ml_tasks.core.settings import load_settings
from ml_tasks.core.spec import load_spec
from ml_tasks.features.columns import categorical_features, feature_names
import ml_tasks.training.candidate, ml_tasks.training.trainers, ml_tasks.registry.registration, ml_tasks.serving.online
for name in ('demand', 'churn'):
    spec = load_spec(name, load_settings().specs_dir)
    names = feature_names(spec)
    assert names and categorical_features(spec, names) is not None
print('ok')
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
