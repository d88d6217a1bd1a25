from pathlib import Path

import pytest

from ml_tasks.settings import load_settings
from ml_tasks.spec import PipelineSpec, SpecError, load_spec

SPECS = load_settings().specs_dir


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_spec_loads(path: Path):
    spec = load_spec(path)
    assert isinstance(spec, PipelineSpec) and spec.name == path.stem


def _write(tmp_path, text, name="demand"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def _demand_text():
    return (SPECS / "demand.yaml").read_text()


def test_unknown_key_is_an_error_naming_the_file_and_key(tmp_path):
    path = _write(tmp_path, _demand_text().replace("holdout_days: 7", "holdout_days: 7\n  holdout_dayz: 3"))
    with pytest.raises(SpecError, match=r"(?s)demand\.yaml.*training\.holdout_dayz"):
        load_spec(path)


def test_lag_shorter_than_horizon_is_rejected_as_leakage(tmp_path):
    path = _write(tmp_path, _demand_text().replace("lags_hours: [24, 48, 168]", "lags_hours: [1, 24]"))
    with pytest.raises(SpecError, match="would leak"):
        load_spec(path)


def test_holdout_must_fit_inside_the_window(tmp_path):
    path = _write(tmp_path, _demand_text().replace("holdout_days: 7", "holdout_days: 50"))
    with pytest.raises(SpecError, match="holdout_days=50 must be smaller than window_days=42"):
        load_spec(path)


def test_name_must_match_file_name(tmp_path):
    path = _write(tmp_path, _demand_text(), name="other")
    with pytest.raises(SpecError, match="must match the file name"):
        load_spec(path)


def test_missing_spec_lists_available_pipelines():
    with pytest.raises(SpecError, match=r"not found \(available pipelines: \[.*'demand'"):
        load_spec("nope", SPECS)


def test_broken_yaml_is_reported_with_its_path(tmp_path):
    path = _write(tmp_path, "name: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(path)


def test_classification_specs_default_to_log_loss_and_reject_regression_metrics(tmp_path):
    text = (SPECS / "churn.yaml").read_text()
    minimal = text.replace("  metric: log_loss\n", "").replace("  decay_metric: log_loss\n", "")
    spec = load_spec(_write(tmp_path, minimal, name="churn"))
    assert spec.promotion.metric == "log_loss" and spec.drift.decay_metric == "log_loss"
    wrong = text.replace("metric: log_loss", "metric: mae", 1)
    with pytest.raises(SpecError, match=r"promotion\.metric='mae'.*do not fit task 'classification'"):
        load_spec(_write(tmp_path, wrong, name="churn"))
