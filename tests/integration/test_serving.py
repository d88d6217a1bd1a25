"""The online service over the real registry: predictions, signature checks, token, hot swap."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ml_tasks.core import tracking
from ml_tasks.registry import client as registry
from ml_tasks.serving.online import create_app

from .variants import variant

pytestmark = pytest.mark.spark


def _rows(loop, n=5):
    frame = loop["lake"].read_partition("features", "demand", loop["cfg"].dates[-1]).head(n)
    return json.loads(frame.drop(columns=["ts", "dt", "units"], errors="ignore").to_json(orient="records"))


@pytest.fixture
def client(loop):
    app = create_app(loop["settings"], "demand", refresh_seconds=3600)
    yield TestClient(app)
    app.state.stop.set()


def test_health_names_the_serving_champion(client, loop):
    champion = registry.version_by_alias(tracking.connect(loop["settings"]), "demand", registry.CHAMPION)
    assert client.get("/health").json() == {"status": "ok", "pipeline": "demand", "version": str(champion.version)}


def test_predict_matches_the_batch_model(client, loop):
    import mlflow

    rows = _rows(loop)
    response = client.post("/predict", json={"rows": rows})
    assert response.status_code == 200, response.text
    body = response.json()
    frame = loop["lake"].read_partition("features", "demand", loop["cfg"].dates[-1]).head(5)
    expected = mlflow.pyfunc.load_model(registry.model_uri("demand")).predict(frame)
    np.testing.assert_allclose(body["predictions"], np.asarray(expected, dtype=float), rtol=1e-5)
    metrics = client.get("/metrics").text
    assert 'conveyor_requests_total{pipeline="demand"} 1' in metrics and "conveyor_request_seconds_bucket" in metrics


def test_bad_requests_get_422_naming_the_field(client, loop):
    rows = _rows(loop, 2)
    del rows[0]["price"]
    rows[1]["lag_24h"] = "many"
    response = client.post("/predict", json={"rows": rows})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        "rows[0].price: field required (double)",
        "rows[1].lag_24h: expected a number (double), got 'many'",
    ]
    assert client.post("/predict", json={"rows": []}).status_code == 422
    assert client.post("/predict", content=b"not json", headers={"Content-Type": "application/json"}).status_code == 422
    assert client.post("/predict", content=b"not json").status_code == 415  # not even said to be JSON


def test_token_is_required_when_configured(loop):
    app = create_app(loop["settings"], "demand", token="s3cret", refresh_seconds=3600)
    with TestClient(app) as c:
        assert c.post("/predict", json={"rows": _rows(loop, 1)}).status_code == 401
        ok = c.post("/predict", json={"rows": _rows(loop, 1)}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert c.get("/health").status_code == 200  # probes need no token
    app.state.stop.set()


def test_a_new_champion_is_picked_up_without_a_restart(loop, demand_spec, tmp_path):
    from ml_tasks.registry.promotion import promote_if_better
    from ml_tasks.registry.registration import train_challenger

    settings = loop["settings"].model_copy(
        update={"mlflow_tracking_uri": f"sqlite:///{tmp_path / 's.db'}", "mlflow_artifacts_dir": str(tmp_path / "a")}
    )
    first = train_challenger(settings, variant(demand_spec))
    promote_if_better(settings, demand_spec, first)
    app = create_app(settings, "demand", refresh_seconds=3600)
    c = TestClient(app)
    assert c.get("/health").json()["version"] == first["version"]
    second = train_challenger(settings, variant(demand_spec, seed=5))
    promote_if_better(settings, demand_spec, second, force=True)
    app.state.refresh()
    assert c.get("/health").json()["version"] == second["version"]
    assert c.post("/predict", json={"rows": _rows(loop, 3)}).json()["model_version"] == second["version"]
    assert 'conveyor_model_swaps_total{pipeline="demand"} 1' in c.get("/metrics").text
    app.state.stop.set()


def test_key_only_rows_get_the_published_features_and_the_same_predictions(client, loop):
    """Only the series' keys and the hour: the service fills the features from the latest published
    partitions, and the predictions equal those for the full rows."""
    frame = loop["lake"].read_partition("features", "demand", loop["cfg"].dates[-1]).iloc[[0, 7, 30]]
    full = json.loads(frame.drop(columns=["ts", "dt", "units"], errors="ignore").to_json(orient="records"))
    keys = [{"store_id": r.store_id, "item_id": r.item_id, "ts": r.ts.isoformat()} for r in frame.itertuples()]
    hour = frame.iloc[1]["ts"]
    keys[1]["ts"] = (hour.tz_localize("UTC") if hour.tzinfo is None else hour).tz_convert("Europe/Berlin").isoformat()
    by_keys = client.post("/predict", json={"rows": keys})
    by_rows = client.post("/predict", json={"rows": full})
    assert by_keys.status_code == 200, by_keys.text
    assert by_keys.json() == by_rows.json()
    mixed = client.post("/predict", json={"rows": [keys[0], full[1]]}).json()["predictions"]
    assert mixed == by_rows.json()["predictions"][:2]


def test_a_key_or_hour_without_published_features_is_a_422_naming_it(client, loop):
    last = loop["cfg"].dates[-1]
    unknown = {"store_id": "s999", "item_id": "i1", "ts": f"{last}T05:00:00"}
    response = client.post("/predict", json={"rows": [unknown]})
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem.startswith("rows[0]: no history for store_id='s999', item_id='i1'"), problem
    known = loop["lake"].read_partition("features", "demand", last).iloc[0]
    later = {"store_id": known.store_id, "item_id": known.item_id, "ts": "2099-01-01T00:00:00Z"}
    response = client.post("/predict", json={"rows": [later]})
    assert response.status_code == 422 and "no published features for" in response.json()["detail"][0]
    assert "2099-01-01T00:00:00" in response.json()["detail"][0]


def test_online_features_reload_when_a_day_is_published(loop, demand_spec, tmp_path):
    from ml_tasks.core.lake import Lake
    from ml_tasks.serving.online_features import OnlineFeatures

    lake = Lake(str(tmp_path / "lake"))
    days = loop["cfg"].dates[-3:]
    for day in days[:2]:
        lake.write_partition(loop["lake"].read_partition("features", "demand", day), "features", "demand", day)
    features = OnlineFeatures(lake, demand_spec, days=2)
    assert features.refresh() and not features.refresh()  # nothing new: no reload
    row = loop["lake"].read_partition("features", "demand", days[2]).iloc[0]
    ask = {"store_id": row.store_id, "item_id": row.item_id, "ts": row.ts.isoformat()}
    assert features.fill([ask])[1], "the third day is not published yet"
    lake.write_partition(loop["lake"].read_partition("features", "demand", days[2]), "features", "demand", days[2])
    assert features.refresh()
    [filled], problems = features.fill([ask])
    assert not problems and filled["lag_24h"] == (None if pd.isna(row.lag_24h) else row.lag_24h)


def test_a_statistical_champion_is_served_online_from_feature_rows_as_in_batch(loop, demand_spec, tmp_path):
    """The statsforecast family needs each row's keys and time besides its features: the signature
    asks for them, a JSON request gives the time as text, and the answer is the batch model's."""
    import mlflow

    from ml_tasks.registry.promotion import promote_if_better
    from ml_tasks.registry.registration import train_challenger

    settings = loop["settings"].model_copy(
        update={"mlflow_tracking_uri": f"sqlite:///{tmp_path / 'sf.db'}", "mlflow_artifacts_dir": str(tmp_path / "a")}
    )
    training = demand_spec.training.model_copy(update={"models": ["statsforecast"], "baselines": False})
    spec = demand_spec.model_copy(update={"training": training})
    trained = train_challenger(settings, spec)
    assert trained["model"] == "statsforecast" and np.isfinite(trained["metrics"]["mae"]), trained
    promote_if_better(settings, spec, trained, force=True)
    frame = loop["lake"].read_partition("features", "demand", loop["cfg"].dates[-1])
    tracking.connect(settings)
    expected = np.asarray(mlflow.pyfunc.load_model(registry.model_uri("demand")).predict(frame), dtype=float)
    assert np.isfinite(expected).all()

    app = create_app(settings, "demand", refresh_seconds=3600)
    c = TestClient(app)
    rows = json.loads(frame.drop(columns=["dt", "units"], errors="ignore").to_json(orient="records", date_format="iso"))
    answer = c.post("/predict", json={"rows": rows})
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(answer.json()["predictions"], expected, rtol=1e-5, atol=1e-6)
    missing_time = [{k: v for k, v in rows[0].items() if k != "ts"}]
    refused = c.post("/predict", json={"rows": missing_time})
    assert refused.status_code == 422 and "rows[0].ts: field required" in refused.json()["detail"][0]
    app.state.stop.set()
