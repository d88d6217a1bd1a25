"""The Conveyor view inside Airflow's api-server: Airflow's login guards it; its pages show the pipeline.

Airflow's own FastAPI app is built in a child process (Airflow reads its configuration at import)
with the embedded stack's environment, so the plugin is mounted exactly as `conveyor up` mounts it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ml_tasks.core.settings import REPO_ROOT
from ml_tasks.platform.stack.environment import airflow_password, stack_env
from ml_tasks.platform.stack.lifecycle import migrate_airflow_db

PROBE = r"""
import json, sys
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import create_app

client = TestClient(create_app(), base_url="http://127.0.0.1")
out = {"anonymous": client.get("/conveyor/").status_code,
       "forged": client.get("/conveyor/", headers={"Authorization": "Bearer not-a-token"}).status_code}
login = client.post("/auth/token", json={"username": sys.argv[1], "password": sys.argv[2]})
token = login.json()["access_token"]
auth = {"Authorization": f"Bearer {token}"}
for path in sys.argv[3:]:
    r = client.get(path, headers=auth, follow_redirects=False)
    out[path] = {"status": r.status_code, "text": r.text[:20000], "location": r.headers.get("location")}
cookie = client.get("/conveyor/", cookies={"_token": token})
out["cookie"] = cookie.status_code
print("RESULT " + json.dumps(out))
"""


def _view(settings, *paths: str) -> dict:
    env = {
        **stack_env(settings),
        "PYTHONPATH": str(REPO_ROOT),
        "CONVEYOR_HOME": str(settings.home),
        "CONVEYOR_MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, settings.airflow_user, airflow_password(settings), *paths],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    line = next((s for s in out.stdout.splitlines() if s.startswith("RESULT ")), None)
    assert line, out.stderr[-4000:]
    return json.loads(line.removeprefix("RESULT "))


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    from ml_tasks.core.settings import load_settings

    home = tmp_path_factory.mktemp("view")
    settings = load_settings(home=home / "home", mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    migrate_airflow_db(settings)  # Airflow checks a token against its revoked-token table
    return settings, _view(
        settings,
        "/conveyor/",
        "/conveyor/pipelines/demand",
        "/conveyor/dags/demand_train",
        "/conveyor/pipelines/nope",
        "/conveyor/pipelines/demand/days/2026-03-02",
        "/conveyor/pipelines/demand/predictions/2026-03-02",
    )


def test_the_view_refuses_requests_without_an_airflow_login(view):
    _, out = view
    assert out["anonymous"] == 401
    assert out["forged"] in (401, 403)


def test_a_logged_in_user_sees_every_pipeline_and_its_page(view):
    _, out = view
    assert out["cookie"] == 200  # the UI's session cookie is enough
    index = out["/conveyor/"]
    assert index["status"] == 200 and "demand" in index["text"] and "churn" in index["text"]
    assert "no champion yet" in index["text"]  # an empty registry is a state, not an error
    page = out["/conveyor/pipelines/demand"]
    assert page["status"] == 200 and "Champion history" in page["text"] and "No champion yet" in page["text"]
    assert "No version with holdout metrics yet" in page["text"] and '<ol class="chain">' not in page["text"]
    assert out["/conveyor/dags/demand_train"]["location"] == "/conveyor/pipelines/demand"
    assert out["/conveyor/pipelines/nope"]["status"] == 404
    missing = out["/conveyor/pipelines/demand/days/2026-03-02"]
    assert missing["status"] == 404 and "has not been validated" in missing["text"]
    unscored = out["/conveyor/pipelines/demand/predictions/2026-03-02"]
    assert unscored["status"] == 404 and "not scored yet" in unscored["text"]


RELEASE_PROBE = r"""
import json, sys
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import create_app, get_auth_manager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

client = TestClient(create_app(), base_url="http://127.0.0.1")
admin = client.post("/auth/token", json={"username": sys.argv[1], "password": sys.argv[2]}).json()["access_token"]
reader = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="reader", role="viewer"))
day = "/conveyor/pipelines/demand/days/" + sys.argv[3]
bearer = lambda token: {"Authorization": f"Bearer {token}"}
form = {"Content-Type": "application/x-www-form-urlencoded"}
out = {
    "admin_page": client.get(day, headers=bearer(admin)).text,
    "reader_page": client.get(day, headers=bearer(reader)).text,
    "reader_post": client.post(day + "/release", content="reason=storm",
                               headers={**bearer(reader), **form}).status_code,
    "foreign_post": client.post(day + "/release", content="reason=storm", cookies={"_token": admin},
                                headers={**form, "Origin": "http://127.0.0.1:5000"}).status_code,
    "no_reason": client.post(day + "/release", content="reason=", headers={**bearer(admin), **form}).status_code,
}
done = client.post(day + "/release", content="reason=storm+%3Cscript%3E", headers={**bearer(admin), **form},
                   follow_redirects=False)
out["admin_post"] = {"status": done.status_code, "location": done.headers.get("location")}
out["after"] = client.get(day, headers=bearer(admin)).text
print("RESULT " + json.dumps(out))
"""


def test_a_quarantined_day_is_released_from_its_page_by_users_who_may_run_the_pipeline(tmp_path):
    from datetime import date

    from ml_tasks.core.lake import Lake
    from ml_tasks.core.settings import load_settings
    from ml_tasks.core.spec import load_spec
    from ml_tasks.data.gates import GateFailed, gate_raw_partition
    from ml_tasks.data.release import release_record
    from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data

    settings = load_settings(home=tmp_path / "home", mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    migrate_airflow_db(settings)
    lake, spec, day = Lake.from_settings(settings), load_spec("demand", settings.specs_dir), date(2026, 3, 2)
    land_demand_data(DemandDataConfig(stores=2, items=2, days=1, start=day, bad_days=(day,), bad_records=3), lake)
    with pytest.raises(GateFailed):
        gate_raw_partition(lake, settings.expectations_dir, spec, day)
    env = {
        **stack_env(settings),
        "PYTHONPATH": str(REPO_ROOT),
        "CONVEYOR_HOME": str(settings.home),
        "CONVEYOR_MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
    }
    run = subprocess.run(
        [sys.executable, "-c", RELEASE_PROBE, settings.airflow_user, airflow_password(settings), day.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    line = next((s for s in run.stdout.splitlines() if s.startswith("RESULT ")), None)
    assert line, run.stderr[-4000:]
    out = json.loads(line.removeprefix("RESULT "))
    assert "Release this day as it is" in out["admin_page"] and "Release this day" not in out["reader_page"]
    assert (out["reader_post"], out["foreign_post"], out["no_reason"]) == (403, 403, 409)
    assert out["admin_post"]["status"] == 303 and "features=" in out["admin_post"]["location"]
    record = release_record(lake, spec, day)
    assert record["by"] == settings.airflow_user and record["reason"] == "storm <script>"
    assert "released, features not built yet" in out["after"] and "<script>" not in out["after"]


# The pipeline page drawn from an overview as `conveyor_plugin.overview.pipeline_overview` returns it: three
# versions, the second the champion, whose tags (written by tasks) carry HTML that must stay text.
HOSTILE_CARD = (
    "# demand v2: lightgbm\n\n<script>alert('card')</script>\n\n<img src=x onerror=alert(2)>\n\n"
    "| model | mae |\n|---|---|\n| **lightgbm** (registered) | 0.41 |\n\n[evil](javascript:alert(3))\n"
)
MLFLOW, AIRFLOW = "http://mlflow.test:5000", "http://airflow.test:8080"
AIRFLOW_RUN = "manual__2026-03-09T02:00:00+00:00"


def _overview() -> dict:
    lineage = {
        "model": "demand",
        "version": "2",
        "aliases": ["champion"],
        "model_family": "<b>lightgbm</b>",
        "training_run": "a" * 32,
        "parent_run": "b" * 32,
        "airflow": {"dag_id": "demand_train", "run_id": AIRFLOW_RUN},
        "code_version": "0123456789abcdef",
        "training_window": "2026-03-02..2026-03-08",
        "holdout_window": "2026-03-09..2026-03-09",
        "feature_partitions": {
            "zone": "features/demand",
            "days": 8,
            "first": "2026-03-02",
            "last": "2026-03-09",
            "sha256": "f" * 64,
        },
        "raw_partitions": {"zone": "raw/demand", "from": "2026-02-23", "to": "2026-03-09", "note": "7 days back"},
        "validation": {
            "raw_suite": "demand_raw",
            "features_suite": "demand_features",
            "partitions": 8,
            "passed_both_gates": 7,
            "unrecorded": [],
            "warnings": {"2026-03-04": ["few rows"]},
            "released": {"2026-03-05": "storm", "../../../evil": "not a day"},
            "coverage": None,
        },
        "promotion": "challenger beats the champion",
        "links": {
            "version": f"{MLFLOW}/#/models/demand/versions/2",
            "model": f"{MLFLOW}/#/models/demand",
            "training_run": f"{MLFLOW}/#/experiments/1/runs/{'a' * 32}",
            "parent_run": f"{MLFLOW}/#/experiments/1/runs/{'b' * 32}",
            "airflow_run": f"{AIRFLOW}/dags/demand_train/runs/manual__2026-03-09T02%3A00%3A00%2B00%3A00",
        },
    }
    versions = [
        {
            "version": str(n),
            "family": family,
            "created": created,
            "metrics": metrics,
            "aliases": aliases,
            "url": f"{MLFLOW}/#/models/demand/versions/{n}",
        }
        for n, family, created, metrics, aliases in [
            (1, "naive", "2026-03-08 02:10:00", {"mae": 0.52, "rmse": 0.8}, ["previous_champion"]),
            (2, "lightgbm", "2026-03-09 02:10:00", {"mae": 0.41, "rmse": 0.7}, ["champion"]),
            (3, "lightning", "2026-03-09 02:11:00", {"mae": 0.47}, ["challenger"]),
        ]
    ]
    return {
        "pipeline": "demand",
        "task": "regression",
        "metric": "mae",
        "champion": {
            "version": "2",
            "family": "lightgbm",
            "metrics": {"mae": 0.41},
            "model_card": HOSTILE_CARD,
            "url": versions[1]["url"],
            "aliases": ["champion"],
        },
        "history": [
            {
                "time": "2026-03-09 02:20:00",
                "from": "1",
                "to": "2",
                "reason": "better",
                "forced": False,
                "approved_by": None,
                "trigger": "scheduled",
                "run": "scheduled__2026-03-09",
            }
        ],
        "versions": versions,
        "days": [],
        "monitoring": {"series": {}, "thresholds": {}},
        "lineage": lineage,
    }


def _steps(page: str) -> list[dict]:
    """The lineage chain's boxes in page order: their step, text and links (href, target)."""
    from html.parser import HTMLParser

    steps: list[dict] = []

    class Chain(HTMLParser):
        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "li" and attrs.get("class") == "step":
                steps.append({"step": attrs["data-step"], "text": "", "links": []})
            elif tag == "a" and steps:
                steps[-1]["links"].append((attrs["href"], attrs.get("target")))

        def handle_data(self, data):
            if steps:
                steps[-1]["text"] += data

    Chain().feed(page.split('<ol class="chain">', 1)[1].split("</ol>", 1)[0])
    return steps


def test_the_champion_s_lineage_is_a_chain_from_raw_days_to_its_alias_with_a_link_at_each_step():
    from conveyor_plugin.pages import overview_page

    steps = {s["step"]: s for s in _steps(overview_page(_overview()))}
    assert list(steps) == ["raw days", "gates", "features", "run", "version", "alias"]
    assert "2026-02-23 .. 2026-03-09" in steps["raw days"]["text"]
    assert "7/8 days passed both gates" in steps["gates"]["text"]
    assert [href for href, _ in steps["gates"]["links"]] == ["demand/days/2026-03-05", "demand/days/2026-03-04"]
    assert [href for href, _ in steps["features"]["links"]] == ["demand/days/2026-03-02", "demand/days/2026-03-09"]
    assert "ffffffffffffffff" in steps["features"]["text"]
    assert steps["run"]["links"] == [
        (f"{MLFLOW}/#/experiments/1/runs/{'a' * 32}", "_blank"),
        (f"{MLFLOW}/#/experiments/1/runs/{'b' * 32}", "_blank"),
        (f"{AIRFLOW}/dags/demand_train/runs/manual__2026-03-09T02%3A00%3A00%2B00%3A00", "_blank"),
    ]
    assert "<b>lightgbm</b> training run" in steps["run"]["text"]  # the tag's HTML, shown as text
    assert steps["version"]["links"] == [(f"{MLFLOW}/#/models/demand/versions/2", "_blank")]
    assert "demand v2" in steps["version"]["text"] and "challenger beats the champion" in steps["version"]["text"]
    assert "@champion" in steps["alias"]["text"]
    assert steps["alias"]["links"] == [(f"{MLFLOW}/#/models/demand", "_blank")]


def test_a_version_without_an_airflow_run_or_a_loadable_lineage_says_so():
    from conveyor_plugin.pages import overview_page

    o = _overview()
    del o["lineage"]["links"]["airflow_run"]
    o["lineage"]["airflow"]["run_id"] = None
    run = {s["step"]: s for s in _steps(overview_page(o))}["run"]
    assert len(run["links"]) == 2 and "Airflow demand_train (no run recorded)" in run["text"]
    o["lineage"] = {"error": "demand/2: <no such version>"}
    page = overview_page(o)
    assert '<ol class="chain">' not in page and "The lineage does not load: demand/2: &lt;no such version&gt;" in page


def test_the_model_card_is_rendered_and_its_html_is_shown_as_text():
    from conveyor_plugin.pages import overview_page

    page = overview_page(_overview())
    card = page.split('<div class="card md">', 1)[1]
    assert "<h1>demand v2: lightgbm</h1>" in card and "<table>" in card and "<strong>lightgbm</strong>" in card
    assert "&lt;script&gt;alert('card')&lt;/script&gt;" in card
    assert "&lt;img src=x onerror=alert(2)&gt;" in card
    assert "<script" not in page and "<img" not in page and 'href="javascript:' not in page


def test_the_holdout_chart_has_one_point_per_version_and_marks_the_champion_moves():
    import re

    from conveyor_plugin.pages import overview_page

    page = overview_page(_overview())
    charts = dict(re.findall(r"<div>([^<]+)<br>(<svg.*?</svg>)</div>", page.split('<div class="metrics">', 1)[1]))
    assert list(charts) == ["mae (the promotion metric)", "rmse"]
    points = re.findall(r'<circle class="point"[^>]*><title>([^<]*)</title>', charts["mae (the promotion metric)"])
    assert [p.split(" ", 1)[0] for p in points] == ["v1", "v2", "v3"]
    assert "v2 (lightgbm, @champion): mae 0.41, registered 2026-03-09 02:10:00" in points
    assert charts["rmse"].count('<circle class="point"') == 2  # v3 has no rmse: no point, not a zero
    assert "<title>@champion -&gt; v2 at 2026-03-09 02:20:00</title>" in charts["mae (the promotion metric)"]
    assert "Holdout metrics of every version (3)" in page
