"""`conveyor new-pipeline` for classification, and the mistakes it refuses."""

from __future__ import annotations

import pytest
import yaml

from ml_tasks.churn_data import ChurnDataConfig, simulate
from ml_tasks.scaffold import NewPipeline, ScaffoldError
from ml_tasks.settings import load_settings
from ml_tasks.spec_check import check_all

SAMPLE = simulate(ChurnDataConfig(customers=200, days=2))


def test_a_classification_scaffold_is_valid_and_never_lags_the_label(tmp_path, monkeypatch):
    import spark_jobs

    NewPipeline("attrition", "classification", ["customer_id"], "ts", "churned", SAMPLE, root=tmp_path).write()
    monkeypatch.setattr(spark_jobs, "__path__", [*spark_jobs.__path__, str(tmp_path / "spark_jobs")])
    settings = load_settings(specs_dir=tmp_path / "dags" / "specs", expectations_dir=tmp_path / "expectations",
                             lake_uri=str(tmp_path / "lake"))
    assert check_all(settings) == {"attrition": []}
    spec = yaml.safe_load((tmp_path / "dags" / "specs" / "attrition.yaml").read_text())
    assert spec["task"] == "classification" and spec["promotion"]["metric"] == "log_loss"
    module = (tmp_path / "spark_jobs" / "attrition_features.py").read_text()
    assert "'usage_minutes'" in module and "'churned'" not in module.split("HISTORY = ")[1].splitlines()[0]


@pytest.mark.parametrize("kwargs,says", [
    ({"name": "Bad-Name"}, "lower case"),
    ({"target": "usage_minutes", "task": "classification"}, "must hold 0/1"),
    ({"target": "plan"}, "must be numeric"),
    ({"keys": ["customer_id", "account"]}, "not in the sample"),
    ({"task": "ranking"}, "expected regression or classification"),
])
def test_requests_that_cannot_become_a_pipeline_say_why(tmp_path, kwargs, says):
    args = {"name": "x", "task": "regression", "keys": ["customer_id"], "timestamp": "ts", "target": "logins",
            "sample": SAMPLE, "root": tmp_path, **kwargs}
    with pytest.raises(ScaffoldError, match=says):
        NewPipeline(**args).write()
