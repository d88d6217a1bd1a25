"""What the Conveyor view shows, read from the shared loop's real registry and lake."""

from __future__ import annotations

from datetime import date

from conveyor_plugin.overview import day_report, lineage_links, pipeline_overview, predictions_summary
from ml_tasks.data.expectations import read_error_result
from ml_tasks.data.quarantine import quarantine

FAR_DAY = date(2025, 1, 15)  # before the loop's data: a quarantined day no other test reads


def test_the_overview_names_the_champion_its_history_days_and_lineage(loop, demand_spec):
    from conveyor_plugin.pages import overview_page

    settings, champion = loop["settings"], loop["decision"]["champion"]
    quarantine(loop["lake"], "demand", FAR_DAY, "raw", None, read_error_result("demand_raw", "not Parquet"))
    o = pipeline_overview(settings, demand_spec)
    assert o["champion"]["version"] == champion and o["champion"]["family"] in ("naive", "lightgbm", "lightning")
    assert o["champion"]["metrics"]["mae"] > 0
    assert "## Candidates: backtest and holdout metrics" in o["champion"]["model_card"]
    assert o["history"] and o["history"][0]["to"] == champion
    days = {d["dt"]: d for d in o["days"]}
    assert days[FAR_DAY.isoformat()]["status"] == "quarantined"
    assert "readable_parquet_partition" in days[FAR_DAY.isoformat()]["reason"]
    published = [d for d in o["days"] if d["status"] in ("published", "warned")]
    assert len(published) >= 24
    assert o["lineage"]["version"] == champion
    html = overview_page(o)
    assert f"v{champion}" in html and FAR_DAY.isoformat() in html and "Champion history" in html


def test_the_overview_links_the_champion_s_lineage_and_charts_every_version_s_holdout_metrics(loop, demand_spec):
    import re

    from conveyor_plugin.pages import overview_page
    from ml_tasks.core import tracking

    settings, champion, trained = loop["settings"], loop["decision"]["champion"], loop["trained"]
    o = pipeline_overview(settings, demand_spec)
    links = o["lineage"]["links"]
    assert links["training_run"] == tracking.run_url(settings, trained["run_id"])  # the run's own experiment
    assert links["version"].endswith(f"/#/models/demand/versions/{champion}")
    assert "airflow_run" not in links  # the loop's version names a DAG but no run
    scheduled = {
        **o["lineage"],
        "airflow": {"dag_id": "demand_train", "run_id": "scheduled__2026-03-09T02:00:00+00:00"},
    }
    assert lineage_links(settings, "demand", scheduled)["airflow_run"] == (
        f"{settings.airflow_public_url}/dags/demand_train/runs/scheduled__2026-03-09T02%3A00%3A00%2B00%3A00"
    )

    versions = o["versions"]
    assert [int(v["version"]) for v in versions] == sorted(int(v["version"]) for v in versions)
    mine = next(v for v in versions if v["version"] == champion)
    assert mine["metrics"] == o["champion"]["metrics"] and "champion" in mine["aliases"]
    assert all(v["metrics"].get("mae", 0) > 0 for v in versions)

    html = overview_page(o)
    assert f'href="{links["training_run"]}"' in html and f'href="{links["version"]}"' in html
    mae = re.search(r"<div>mae \(the promotion metric\)<br>(<svg.*?</svg>)", html).group(1)
    assert mae.count('<circle class="point"') == len(versions)


def test_a_day_report_shows_both_gates_for_a_published_day_and_the_report_for_a_quarantined_one(loop):
    settings = loop["settings"]
    published = loop["lake"].partitions("features", "demand")[-1]
    report = day_report(settings, "demand", published)
    assert report["status"] == "published"
    assert report["record"]["raw"]["passed"] and report["record"]["features"]["passed"]
    if not loop["lake"].exists("quarantine", "demand", FAR_DAY):  # when run on its own
        quarantine(loop["lake"], "demand", FAR_DAY, "raw", None, read_error_result("demand_raw", "not Parquet"))
    bad = day_report(settings, "demand", FAR_DAY)
    assert bad["status"] == "quarantined" and "not Parquet" in bad["html"]
    assert day_report(settings, "demand", date(2020, 1, 1)) is None


def test_a_scored_day_says_how_many_rows_and_which_version(loop, demand_spec):
    from conveyor_plugin.pages import predictions_page
    from ml_tasks.serving.batch import score_partition

    settings = loop["settings"]
    day = loop["lake"].partitions("features", "demand")[-1]
    scored = score_partition(settings, demand_spec, day)
    summary = predictions_summary(settings, "demand", day)
    assert summary["rows"] == scored["rows"] and summary["versions"] == [scored["model_version"]]
    assert summary["prediction"]["50%"] >= 0 and "<table" in summary["head"]
    page = predictions_page("demand", day, summary)
    assert f"{scored['rows']} rows scored by version {scored['model_version']}" in page
    assert predictions_summary(settings, "demand", FAR_DAY) is None


def test_a_day_checked_twice_keeps_its_fired_retrain_mark(loop, demand_spec, tmp_path):
    """The scheduled check and a manual one of the same day: the chart shows the day's highest value, and the
    retrain one of them fired stays marked."""
    from conveyor_plugin.overview import monitoring_series
    from conveyor_plugin.pages import overview_page
    from ml_tasks.core import tracking
    from ml_tasks.monitoring.checks import log_series, monitor_run

    settings = loop["settings"].model_copy(
        update={"mlflow_tracking_uri": f"sqlite:///{tmp_path / 'm.db'}", "mlflow_artifacts_dir": str(tmp_path / "a")}
    )
    client = tracking.connect(settings)
    run_id, _ = monitor_run(settings, client, demand_spec, "1")
    day = date(2026, 3, 9)
    log_series(client, run_id, day, {"drift_share": 0.8, "retrain_requested": 1.0})  # fired
    log_series(client, run_id, day, {"drift_share": 0.7, "retrain_requested": 0.0})  # checked again: cooldown
    found = monitoring_series(settings, demand_spec)["series"]
    assert found["data drift share"] == [(day.isoformat(), 0.8)]
    assert found["retrain requested"] == [(day.isoformat(), 1.0)]
    html = overview_page(
        {
            "pipeline": "demand",
            "task": demand_spec.task,
            "metric": "mae",
            "champion": None,
            "history": [],
            "versions": [],
            "days": [],
            "monitoring": monitoring_series(settings, demand_spec),
            "lineage": None,
        }
    )
    assert f"<title>retrain requested {day.isoformat()}</title>" in html
