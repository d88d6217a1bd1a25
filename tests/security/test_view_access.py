"""The Conveyor view in Airflow's api-server, for a shared deployment: a user sees only the pipelines
Airflow's auth manager lets them read, nothing answers without a login (the OpenAPI document
included), and what a task wrote to the lake (a gate report, column names, gate messages) never
runs as script in the Airflow UI's origin.

Airflow's own app is built in a child process with the embedded stack's environment and an auth
manager that limits ``churn_only`` to the churn pipeline's DAGs (tests/security/pipeline_auth_manager.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date

from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import REPO_ROOT, load_settings
from ml_tasks.data.expectations import GateResult
from ml_tasks.data.quarantine import quarantine
from ml_tasks.platform.stack.environment import airflow_password, stack_env
from ml_tasks.platform.stack.lifecycle import migrate_airflow_db

PROBE = r"""
import json, sys
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import create_app, get_auth_manager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

client = TestClient(create_app(), base_url="http://127.0.0.1")
admin = client.post("/auth/token", json={"username": sys.argv[1], "password": sys.argv[2]}).json()["access_token"]
churn_only = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="churn_only", role="viewer"))
as_ = lambda token: {"Authorization": f"Bearer {token}"}
day = "/conveyor/pipelines/demand/days/" + sys.argv[3]
def get(path, token=None):
    r = client.get(path, headers=as_(token) if token else {}, follow_redirects=False)
    return {"status": r.status_code, "text": r.text[:50000], "csp": r.headers.get("content-security-policy")}
out = {"openapi": get("/conveyor/openapi.json"), "openapi_admin": get("/conveyor/openapi.json", admin),
       "docs": get("/conveyor/docs", admin),
       "index_churn_only": get("/conveyor/", churn_only),
       "demand_churn_only": get("/conveyor/pipelines/demand", churn_only),
       "churn_churn_only": get("/conveyor/pipelines/churn", churn_only), "day_churn_only": get(day, churn_only),
       "predictions_churn_only": get("/conveyor/pipelines/demand/predictions/" + sys.argv[3], churn_only),
       "release_churn_only": client.post(day + "/release", content="reason=x", headers={
           **as_(churn_only), "Content-Type": "application/x-www-form-urlencoded"}).status_code,
       "day_admin": get(day, admin), "index_admin": get("/conveyor/", admin),
       "unknown_churn_only": get("/conveyor/pipelines/nosuch", churn_only),
       "unknown_admin": get("/conveyor/pipelines/nosuch", admin)}
print("RESULT " + json.dumps(out))
"""
SCRIPT = "<script>document.title='pwned'</script>"
DAY = date(2026, 3, 2)


def _probe(tmp_path) -> dict:
    settings = load_settings(home=tmp_path / "home", mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    migrate_airflow_db(settings)
    lake = Lake.from_settings(settings)
    # What a task pod holding the lake's keys could write: a gate result naming a column `<script>`, and a report
    # that is pure script.
    failure = {
        "expectation": "expect_column_values_to_not_be_null",
        "target": SCRIPT,
        "observed": SCRIPT,
        "expected": "0",
        "examples": [SCRIPT],
        "notes": "",
    }
    where = quarantine(
        lake, "demand", DAY, "raw", None, GateResult(suite="demand_raw", success=False, failures=[failure])
    )
    lake.fs.pipe(f"{where}/report.html", f"<html><body>{SCRIPT}<img src=x onerror=alert(1)></body></html>".encode())
    env = {
        **stack_env(settings),
        "PYTHONPATH": str(REPO_ROOT),
        "CONVEYOR_HOME": str(settings.home),
        "CONVEYOR_MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        "AIRFLOW__CORE__AUTH_MANAGER": "tests.security.pipeline_auth_manager.PipelineAuthManager",
    }
    run = subprocess.run(
        [sys.executable, "-c", PROBE, settings.airflow_user, airflow_password(settings), DAY.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    line = next((s for s in run.stdout.splitlines() if s.startswith("RESULT ")), None)
    assert line, run.stderr[-4000:]
    return json.loads(line.removeprefix("RESULT "))


def test_view_authorises_per_pipeline_hides_its_api_and_never_runs_lake_html(tmp_path):
    out = _probe(tmp_path)
    # no API description, with or without a login (it was served to anyone)
    assert out["openapi"]["status"] == 404 and out["openapi_admin"]["status"] == 404, out["openapi"]
    assert "paths" not in out["openapi"]["text"]
    assert out["docs"]["status"] == 404
    # a user limited to churn: sees churn only; demand's pages, data and actions are 403
    assert (
        "churn" in out["index_churn_only"]["text"] and 'href="pipelines/demand"' not in out["index_churn_only"]["text"]
    )
    assert out["churn_churn_only"]["status"] == 200
    for key in ("demand_churn_only", "day_churn_only", "predictions_churn_only"):
        assert out[key]["status"] == 403 and "may not read the demand pipeline" in out[key]["text"], (key, out[key])
    assert out["release_churn_only"] == 403
    assert 'href="pipelines/demand"' in out["index_admin"]["text"]
    # a pipeline nobody may read, or that does not exist, names no other pipeline and no server path
    assert out["unknown_churn_only"]["status"] == 403, out["unknown_churn_only"]
    assert out["unknown_admin"]["status"] == 404 and "no pipeline named 'nosuch'" in out["unknown_admin"]["text"]
    for key in ("unknown_churn_only", "unknown_admin"):
        assert "demand" not in out[key]["text"] and "churn" not in out[key]["text"].replace("churn_only", "")
        assert str(REPO_ROOT) not in out[key]["text"], out[key]
    # the lake's HTML: shown only inside a sandboxed iframe, escaped; the page itself may run no script
    page = out["day_admin"]
    assert page["status"] == 200 and "<script" not in page["text"].lower() and "<img" not in page["text"]
    assert re.search(r"<iframe sandbox srcdoc=\"[^\"]*&lt;script&gt;", page["text"]), page["text"][:3000]
    assert "&lt;script&gt;document.title" in page["text"]  # the column name and message, shown as text
    for answer in (page, out["demand_churn_only"], out["openapi"]):
        assert answer["csp"] and "default-src 'none'" in answer["csp"] and "script-src" not in answer["csp"]
