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
from ml_tasks.platform.stack import airflow_password, migrate_airflow_db, stack_env

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
    env = {**stack_env(settings), "PYTHONPATH": str(REPO_ROOT), "CONVEYOR_HOME": str(settings.home),
           "CONVEYOR_MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri}
    out = subprocess.run([sys.executable, "-c", PROBE, settings.airflow_user, airflow_password(settings), *paths],
                         env=env, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
    assert line, out.stderr[-4000:]
    return json.loads(line.removeprefix("RESULT "))


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    from ml_tasks.core.settings import load_settings

    home = tmp_path_factory.mktemp("view")
    settings = load_settings(home=home / "home", mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    migrate_airflow_db(settings)  # Airflow checks a token against its revoked-token table
    return settings, _view(settings, "/conveyor/", "/conveyor/pipelines/demand", "/conveyor/dags/demand_train",
                           "/conveyor/pipelines/nope", "/conveyor/pipelines/demand/days/2026-03-02",
                           "/conveyor/pipelines/demand/predictions/2026-03-02")


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
    "reader_post": client.post(day + "/release", content="reason=storm", headers={**bearer(reader), **form}).status_code,
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
    env = {**stack_env(settings), "PYTHONPATH": str(REPO_ROOT), "CONVEYOR_HOME": str(settings.home),
           "CONVEYOR_MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri}
    run = subprocess.run([sys.executable, "-c", RELEASE_PROBE, settings.airflow_user, airflow_password(settings),
                          day.isoformat()], env=env, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    line = next((l for l in run.stdout.splitlines() if l.startswith("RESULT ")), None)
    assert line, run.stderr[-4000:]
    out = json.loads(line.removeprefix("RESULT "))
    assert "Release this day as it is" in out["admin_page"] and "Release this day" not in out["reader_page"]
    assert (out["reader_post"], out["foreign_post"], out["no_reason"]) == (403, 403, 409)
    assert out["admin_post"]["status"] == 303 and "features=" in out["admin_post"]["location"]
    record = release_record(lake, spec, day)
    assert record["by"] == settings.airflow_user and record["reason"] == "storm <script>"
    assert "released, features not built yet" in out["after"] and "<script>" not in out["after"]
