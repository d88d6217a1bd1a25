"""`conveyor new-pipeline` for classification, and the mistakes it refuses."""

from __future__ import annotations

import pytest
import yaml

from ml_tasks.core.settings import load_settings
from ml_tasks.demo.churn_data import ChurnDataConfig, simulate
from ml_tasks.platform.cli.spec_check import check_all
from ml_tasks.platform.scaffold.pipeline import NewPipeline
from ml_tasks.platform.scaffold.sample import ScaffoldError

SAMPLE = simulate(ChurnDataConfig(customers=200, days=2))


def test_a_classification_scaffold_is_valid_and_never_lags_the_label(tmp_path):
    NewPipeline(
        "attrition",
        "classification",
        ["customer_id"],
        "ts",
        "churned",
        SAMPLE,
        root=tmp_path,
        known_ahead=["plan", "region"],
    ).write()
    settings = load_settings(
        specs_dir=tmp_path / "dags" / "specs",
        expectations_dir=tmp_path / "expectations",
        lake_uri=str(tmp_path / "lake"),
    )
    assert check_all(settings) == {"attrition": []}
    spec = yaml.safe_load((tmp_path / "dags" / "specs" / "attrition.yaml").read_text())
    assert spec["task"] == "classification" and spec["promotion"]["metric"] == "log_loss"
    assert "usage_minutes" in spec["features"]["history_of"] and "churned" not in spec["features"]["history_of"]
    assert spec["features"]["known_ahead"] == {"plan": "string", "region": "string"}
    assert spec["features"]["keys_as_inputs"] is False  # one category per customer would only memorise
    assert not (tmp_path / "spark_jobs").exists()  # features come from the spec: no code to write
    assert spec["training"]["models"] == ["lightgbm", "lightning"]  # no statistical family: it forecasts numbers


def test_a_single_daily_series_needs_no_keys_and_gets_lags_in_days(tmp_path):
    import pandas as pd

    days = pd.date_range("2013-01-01", periods=120, freq="D")
    sample = pd.DataFrame({"date": days.strftime("%Y/%m/%d"), "temp_max": range(120), "weather": "sun", "wind": 3.0})
    NewPipeline("weather", "regression", [], "date", "temp_max", sample, root=tmp_path, known_ahead=["weather"]).write()
    spec = yaml.safe_load((tmp_path / "dags" / "specs" / "weather.yaml").read_text())
    f = spec["features"]
    assert spec["data"]["keys"] == [] and f["frequency"] == "daily"
    assert (f["horizon"], f["lags"], f["windows"]) == (1, [1, 7, 14], [7, 28])
    assert f["known_ahead"] == {"weather": "string"}
    assert spec["training"]["window_days"] == 730 and spec["training"]["holdout_days"] == 20  # a sixth of 120 days
    assert spec["training"]["models"] == ["lightgbm", "lightning", "statsforecast"]


def test_a_large_sample_is_read_in_full_as_a_uniform_sample(tmp_path):
    import pandas as pd

    from ml_tasks.platform.scaffold.sample import read_sample

    frame = pd.DataFrame({"i": range(50_000)})
    frame.to_csv(tmp_path / "big.csv", index=False)
    frame.to_parquet(tmp_path / "big.parquet")
    for name in ("big.csv", "big.parquet"):
        sample = read_sample(tmp_path / name, max_rows=5_000)
        assert len(sample) == 5_000 and sample["i"].is_unique
        assert 20_000 < sample["i"].mean() < 30_000 and sample["i"].max() > 45_000  # from the whole file
    assert len(read_sample(tmp_path / "big.csv", max_rows=100_000)) == 50_000


@pytest.mark.parametrize(
    "kwargs,says",
    [
        ({"name": "Bad-Name"}, "a lowercase letter, then up to 62 lowercase letters"),
        ({"target": "usage_minutes", "task": "classification"}, "must hold 0/1"),
        ({"target": "plan"}, "must be numeric"),
        ({"keys": ["customer_id", "account"]}, "not in the sample"),
        ({"task": "ranking"}, "expected regression or classification"),
        ({"known_ahead": ["logins"]}, "--known-ahead 'logins' is the target; remove it"),
        ({"known_ahead": ["customer_id"]}, "is a key"),
        ({"known_ahead": ["nope"]}, "not in the sample"),
    ],
)
def test_requests_that_cannot_become_a_pipeline_say_why(tmp_path, kwargs, says):
    args = {
        "name": "x",
        "task": "regression",
        "keys": ["customer_id"],
        "timestamp": "ts",
        "target": "logins",
        "sample": SAMPLE,
        "root": tmp_path,
        **kwargs,
    }
    with pytest.raises(ScaffoldError, match=says):
        NewPipeline(**args).write()


def test_known_ahead_columns_that_add_up_to_the_target_are_refused(tmp_path):
    sample = SAMPLE.assign(total=SAMPLE["logins"] + SAMPLE["support_tickets"])
    with pytest.raises(ScaffoldError, match=r"would leak the target: logins, support_tickets: the target equals"):
        NewPipeline(
            "x",
            "regression",
            ["customer_id"],
            "ts",
            "total",
            sample,
            root=tmp_path,
            known_ahead=["logins", "support_tickets", "plan"],
        ).write()


def test_a_half_hourly_sample_in_epoch_seconds_gets_its_cadence_and_durations(tmp_path):
    import pandas as pd

    times = pd.date_range("2000-06-05", periods=48 * 30, freq="30min").delete([7, 8, 500])  # a few readings lost
    sample = pd.DataFrame({"t": times.astype("int64") // 10**9, "mw": range(len(times))})
    NewPipeline("grid", "regression", [], "t", "mw", sample, root=tmp_path).write()
    spec = yaml.safe_load((tmp_path / "dags" / "specs" / "grid.yaml").read_text())
    f = spec["features"]
    assert (f["frequency"], f["horizon"], f["lags"], f["windows"]) == (
        "30min",
        "24h",
        ["24h", "48h", "168h"],
        ["24h", "168h"],
    )
    assert f["start_date"] == "2000-06-05"  # epoch seconds read as seconds, not as 1970's nanoseconds
    assert spec["training"]["models"] == ["lightgbm", "lightning"]  # ETS takes no season of 48 steps
    settings = load_settings(
        specs_dir=tmp_path / "dags" / "specs",
        expectations_dir=tmp_path / "expectations",
        lake_uri=str(tmp_path / "lake"),
    )
    assert check_all(settings) == {"grid": []}


def test_a_weekly_sample_gets_weeks_and_irregular_readings_are_refused(tmp_path):
    import numpy as np
    import pandas as pd

    weeks = pd.DataFrame(
        {"week": pd.date_range("1990-01-06", periods=300, freq="7D"), "ppm": np.linspace(350, 360, 300)}
    )
    NewPipeline("co2", "regression", [], "week", "ppm", weeks, root=tmp_path).write()
    f = yaml.safe_load((tmp_path / "dags" / "specs" / "co2.yaml").read_text())["features"]
    assert (f["frequency"], f["lags"], f["windows"]) == ("weekly", [1, 4, 52], [4, 13])
    rng = np.random.default_rng(1)
    readings = pd.DataFrame(
        {"at": pd.Timestamp("2015-02-04") + pd.to_timedelta(np.cumsum(rng.integers(55, 65, 500)), unit="s"), "co2": 1.0}
    )
    with pytest.raises(ScaffoldError, match=r"column 'at': the timestamps are irregular: the spacings seen most are"):
        NewPipeline("room", "regression", [], "at", "co2", readings, root=tmp_path).write()
