"""Shared fixtures: small real data in temporary lakes, settings pointing at them."""

from __future__ import annotations

import os
from datetime import date

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from ml_tasks.core.lake import Lake  # noqa: E402
from ml_tasks.core.settings import load_settings  # noqa: E402
from ml_tasks.core.spec import load_spec  # noqa: E402


@pytest.fixture
def settings(tmp_path):
    return load_settings(home=tmp_path / "home", mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")


@pytest.fixture
def lake(settings):
    return Lake.from_settings(settings)


@pytest.fixture(scope="session")
def demand_spec():
    return load_spec("demand", load_settings().specs_dir)


@pytest.fixture(scope="session")
def spark():
    from spark_jobs.session import spark_session

    session = spark_session(load_settings(), "conveyor-tests")
    yield session
    session.stop()


DAY0 = date(2026, 3, 2)  # a Monday


def pytest_configure(config):
    import logging

    # py4j logs from __del__ at interpreter exit, after pytest closed its log streams.
    logging.getLogger("py4j").setLevel(logging.WARNING)
