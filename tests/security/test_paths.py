"""Pipeline names never become paths outside their folder: every name from a CLI flag, a spec or a URL
is checked (`ml_tasks.core.names`) before it is joined into a lake, spec or suite path."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ml_tasks.core.lake import Lake
from ml_tasks.core.names import PipelineNameError
from ml_tasks.core.settings import load_settings
from ml_tasks.core.spec import SpecError, load_spec
from ml_tasks.platform.cli.app import app

TRAVERSALS = ["../../x", "..", "a/b", "/etc/passwd", "demand\n", "Demand", "x" * 64, "demand;rm", ""]


@pytest.mark.parametrize("name", TRAVERSALS)
def test_the_lake_refuses_a_pipeline_name_that_could_leave_its_zone(tmp_path, name):
    lake = Lake(str(tmp_path / "lake"))
    with pytest.raises(PipelineNameError, match="is not valid"):
        lake.zone("raw", name)


def test_generate_with_a_traversing_pipeline_writes_nothing_anywhere(tmp_path, monkeypatch):
    home = tmp_path / "deep" / "home"
    monkeypatch.setenv("CONVEYOR_HOME", str(home))
    result = CliRunner().invoke(
        app, ["generate", "--days", "1", "--stores", "1", "--items", "1", "--pipeline", "../../escaped"]
    )
    assert result.exit_code == 1 and "pipeline name '../../escaped' is not valid" in result.output, result.output
    assert "Traceback" not in result.output
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("name", ["../demand", "demand\n", "../../etc/passwd"])
def test_a_spec_looked_up_by_a_bad_name_is_refused_before_any_file_is_opened(tmp_path, name):
    specs = tmp_path / "specs" / "inner"
    specs.mkdir(parents=True)
    (tmp_path / "specs" / "demand.yaml").write_text((load_settings().specs_dir / "demand.yaml").read_text())
    with pytest.raises(SpecError, match="is not valid"):
        load_spec(name, specs)


def test_new_pipeline_refuses_a_name_with_a_trailing_newline(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVEYOR_SPECS_DIR", str(tmp_path / "specs"))
    result = CliRunner().invoke(app, ["new-pipeline", "energy\n", "--timestamp", "ts", "--target", "y"])
    assert result.exit_code != 0 and "is not valid" in result.output, result.output
    assert not (tmp_path / "specs").exists() or list((tmp_path / "specs").iterdir()) == []
