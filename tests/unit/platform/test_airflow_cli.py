"""`conveyor airflow ...` repeats a command the embedded SQLite database refused with a lock, and nothing else."""

from __future__ import annotations

import sys

from ml_tasks.core.settings import load_settings
from ml_tasks.platform.cli import airflow_command

LOCKED = "sqlite3.OperationalError: database is locked\n[SQL: INSERT INTO backfill ...]"


def answers(*outcomes: tuple[int, str]):
    calls: list[list[str]] = []
    queue = list(outcomes)

    def run(command, env):
        calls.append(command)
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]  # run against this stack's database
        return queue.pop(0)

    return run, calls


def test_a_command_that_met_the_sqlite_lock_is_repeated_until_it_goes_through(tmp_path):
    settings = load_settings(home=tmp_path)
    run, calls = answers((1, LOCKED), (1, LOCKED), (0, "created backfill 1"))
    said: list[str] = []
    code = airflow_command.airflow_cli(
        settings, ["backfill", "create", "--dag-id", "d"], wait=0, run=run, say=said.append
    )
    assert code == 0 and len(calls) == 3 and calls[0][-4:] == ["backfill", "create", "--dag-id", "d"]
    assert said[0].startswith("airflow backfill create: the SQLite database was locked") and "(2/9)" in said[1]


def test_other_failures_and_servers_databases_are_not_repeated(tmp_path):
    run, calls = answers((2, "DAG 'd' not found"))
    assert (
        airflow_command.airflow_cli(load_settings(home=tmp_path), ["backfill", "create"], wait=0, run=run, say=print)
        == 2
    )
    assert len(calls) == 1
    postgres = load_settings(home=tmp_path, airflow_db_uri="postgresql+psycopg2://a@localhost/airflow")
    run, calls = answers((1, LOCKED))
    assert (
        airflow_command.airflow_cli(postgres, ["backfill", "create"], wait=0, run=run, say=print) == 1
        and len(calls) == 1
    )
    run, calls = answers(*[(1, LOCKED)] * 3)  # it gives up after its tries, with the command's own exit code
    assert airflow_command.airflow_cli(load_settings(home=tmp_path), ["x"], tries=3, wait=0, run=run, say=print) == 1
    assert len(calls) == 3


def test_the_output_is_shown_as_it_comes_and_kept_for_the_lock_check(capsys):
    code, tail = airflow_command._run_teed(
        [sys.executable, "-c", "import sys; print('one', flush=True); print('two', file=sys.stderr); sys.exit(3)"],
        env={},
    )
    assert code == 3 and tail.split() == ["one", "two"]
    assert capsys.readouterr().out.split() == ["one", "two"]
