from pathlib import Path

import pytest

from ml_tasks.core.settings import load_settings
from ml_tasks.core.spec import PipelineSpec, SpecError, load_spec

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
    path = _write(tmp_path, _demand_text().replace("lags: [24, 48, 168]", "lags: [1, 24]"))
    with pytest.raises(SpecError, match="would leak"):
        load_spec(path)


def test_the_hours_spelling_of_older_specs_still_means_hourly(tmp_path):
    text = (
        _demand_text()
        .replace("horizon: 24", "horizon_hours: 24")
        .replace("lags: [", "lags_hours: [")
        .replace("windows: [", "rolling_hours: [")
    )
    spec = load_spec(_write(tmp_path, text))
    assert (spec.features.horizon, spec.features.lags, spec.features.windows) == (24, [24, 48, 168], [24, 168])
    assert spec.features.lag_seconds == [24 * 3600, 48 * 3600, 168 * 3600] and spec.features.span(24) == "24h"
    daily = text.replace("frequency: hourly", "frequency: daily")
    with pytest.raises(SpecError, match="count hours; with frequency 'daily' use horizon, lags and windows"):
        load_spec(_write(tmp_path, daily))


def test_daily_specs_count_lags_and_windows_in_days(tmp_path):
    from ml_tasks.features.columns import feature_columns, naive_columns

    text = (
        _demand_text()
        .replace("frequency: hourly", "frequency: daily")
        .replace("horizon: 24", "horizon: 1")
        .replace("lags: [24, 48, 168]", "lags: [1, 7]")
        .replace("windows: [24, 168]", "windows: [7, 28]")
    )
    spec = load_spec(_write(tmp_path, text))
    assert spec.features.lag_seconds == [86_400, 7 * 86_400] and spec.features.rows_per_day == 1
    columns = feature_columns(spec)
    assert {"lag_1d", "lag_7d", "rolling_mean_28d", "month"} <= set(columns) and "hour" not in columns
    assert naive_columns(spec) == ["lag_1d", "lag_7d"]  # a day and a week ago (no year lag built)


def test_keys_are_optional_for_a_single_series(tmp_path):
    spec = load_spec(_write(tmp_path, _demand_text().replace("keys: [store_id, item_id]", "keys: []")))
    assert spec.data.keys == []
    spec = load_spec(_write(tmp_path, _demand_text().replace("  keys: [store_id, item_id]\n", "")))
    assert spec.data.keys == []


@pytest.mark.parametrize(
    "column, fix",
    [
        ("units", "the model would be given the answer"),
        ("store_id", "keys are inputs already"),
        ("ts", "calendar features"),
    ],
)
def test_the_target_a_key_or_the_timestamp_as_a_known_ahead_input_is_refused(tmp_path, column, fix):
    text = _demand_text().replace(
        "known_ahead: {is_holiday: int,", f"known_ahead: {{{column}: double, is_holiday: int,"
    )
    with pytest.raises(SpecError, match=rf"features.known_ahead lists the \w+ '{column}'.*{fix}"):
        load_spec(_write(tmp_path, text))


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
