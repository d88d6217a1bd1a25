"""Event logs aggregated to a cadence per key: counts and sums of 0 in empty slots, states last."""

import pandas as pd
import pytest

from ml_tasks.core import events


def test_the_spec_grammar_names_a_bad_entry():
    parsed = events.parse({"trips": "count", "fare": {"sum": "fare_usd"}, "state": {"last": "status"}})
    assert parsed == {"trips": ("count", None), "fare": ("sum", "fare_usd"), "state": ("last", "status")}
    assert events.sources(parsed) == ["fare_usd", "status"]
    with pytest.raises(ValueError, match=r"data.events.fare: \{'median': 'x'\} is not an aggregation"):
        events.parse({"fare": {"median": "x"}})


def test_events_become_one_row_per_key_and_slot_with_zeros_where_nothing_happened():
    log = pd.DataFrame(
        {
            "at": pd.to_datetime(
                ["2013-01-01 05:10", "2013-01-01 05:50", "2013-01-01 05:20", "2013-01-01 07:00", "2013-01-01 23:59:59"],
                utc=True,
                format="ISO8601",
            ),
            "origin": ["JFK", "JFK", "LGA", "JFK", "LGA"],
            "delay": [5.0, None, -2.0, 30.0, 1.0],
            "status": ["ok", "late", "ok", "ok", "ok"],
        }
    )
    aggs = events.parse(
        {
            "departures": "count",
            "delay_total": {"sum": "delay"},
            "worst": {"max": "delay"},
            "last_status": {"last": "status"},
        }
    )
    out = events.aggregate(log.sample(frac=1.0, random_state=0), aggs, "at", ["origin"], 3600)
    assert len(out) == 2 * 24 and list(out.columns) == [
        "origin",
        "at",
        "departures",
        "delay_total",
        "worst",
        "last_status",
    ]
    jfk = out[out["origin"] == "JFK"].set_index(out[out["origin"] == "JFK"]["at"].dt.hour)
    assert jfk.loc[5, "departures"] == 2 and jfk.loc[5, "delay_total"] == 5.0 and jfk.loc[5, "last_status"] == "late"
    assert jfk.loc[6, "departures"] == 0 and jfk.loc[6, "delay_total"] == 0 and pd.isna(jfk.loc[6, "worst"])
    assert out["departures"].sum() == 5 and out["departures"].dtype == "int64"
    half_hourly = events.aggregate(log, aggs, "at", [], 1800)
    assert len(half_hourly) == 48 and half_hourly["departures"].tolist()[10:12] == [2, 1]  # 05:10 and 05:20; 05:50


def test_a_spec_with_events_names_its_target_among_the_outputs(tmp_path):
    from ml_tasks.core.spec import SpecError, load_spec

    def spec(events_yaml: str, known: str = "{}"):
        (tmp_path / "sales.yaml").write_text(f"""name: sales
task: regression
data: {{timestamp: sold_at, keys: [shop], target: units, raw_suite: s_raw, features_suite: s_features,
        events: {events_yaml}}}
features: {{horizon: 24, lags: [24], windows: [24], known_ahead: {known}, start_date: "2024-01-01"}}
training: {{window_days: 10, holdout_days: 2}}
drift: {{columns: [lag_24h]}}
""")
        return load_spec(tmp_path / "sales.yaml")

    assert spec("{units: count, price: {mean: unit_price}}", "{price: double}").data.aggregations["units"] == (
        "count",
        None,
    )
    with pytest.raises(SpecError, match=r"data.target 'units' must be one of data.events' outputs \['sales'\]"):
        spec("{sales: count}")
    with pytest.raises(SpecError, match=r"\['promo'\] are not among \['units'\]: add an aggregation"):
        spec("{units: count}", "{promo: int}")
    with pytest.raises(SpecError, match=r"data.events.units: 'tally' is not an aggregation"):
        spec("{units: tally}")


def test_the_command_line_spelling_of_events():
    assert events.from_text("departures=count, delay=mean:dep_delay") == {
        "departures": "count",
        "delay": {"mean": "dep_delay"},
    }
    with pytest.raises(ValueError, match="write OUTPUT=count"):
        events.from_text("departures")
