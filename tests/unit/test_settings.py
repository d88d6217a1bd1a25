from ml_tasks.settings import ConveyorSettings


def test_settings_come_from_conveyor_prefixed_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVEYOR_HOME", str(tmp_path))
    monkeypatch.setenv("CONVEYOR_MLFLOW_PORT", "5123")
    s = ConveyorSettings()
    assert s.home == tmp_path.resolve()
    assert s.lake_uri == str(tmp_path.resolve() / "lake")
    assert s.mlflow_tracking_uri == "http://127.0.0.1:5123"
    assert s.mode == "embedded"


def test_explicit_lake_uri_wins(monkeypatch):
    monkeypatch.setenv("CONVEYOR_LAKE_URI", "s3://bucket/lake")
    assert ConveyorSettings().lake_uri == "s3://bucket/lake"
