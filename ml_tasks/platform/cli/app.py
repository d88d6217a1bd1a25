"""`conveyor`: the command line of the platform (start/stop the stack, demo, data, features)."""

from __future__ import annotations

import json
import logging
import sys

import typer

from ml_tasks.core.settings import load_settings
from ml_tasks.platform.cli.data_commands import DATA_COMMANDS, fail, parse_date
from ml_tasks.platform.cli.registry_commands import REGISTRY_COMMANDS
from ml_tasks.platform.cli.spec_commands import SPEC_COMMANDS

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


@app.command()
def up(seed: bool = typer.Option(True, help="land demo data and backfill features on first start")) -> None:
    """Start the embedded platform: MLflow, Airflow (api-server, scheduler, dag-processor, triggerer)."""
    from ml_tasks.core.lake import Lake
    from ml_tasks.demo.seed import seed_churn, seed_demo
    from ml_tasks.platform.airflow_api.client import AirflowClient
    from ml_tasks.platform.stack import environment, lifecycle

    settings = load_settings()
    lake = Lake.from_settings(settings)
    if seed and not lake.partitions("features", "demand"):
        seed_demo(settings)
    if seed and not lake.partitions("features", "churn"):
        seed_churn(settings)
    try:
        lifecycle.up(settings)
    except environment.StackError as exc:
        fail(str(exc))
    client = AirflowClient(settings.airflow_url, settings.airflow_user, environment.airflow_password(settings))
    dag_ids = [
        f"{p}_{kind}"
        for p in ("demand", "churn")
        for kind in ("features", "train", "score", "drift", "rollback", "relanded")
    ]
    typer.echo("waiting for the dag-processor to list the demand and churn DAGs")
    client.wait_for_dags(dag_ids)
    for dag_id in dag_ids:
        client.set_paused(dag_id, False)
    typer.echo(
        "unpaused the demand and churn DAGs: the scheduler now runs the latest features interval and nightly training"
    )
    typer.secho("\nConveyor is up.", fg="green", bold=True)
    typer.echo(
        f"  Airflow UI : {settings.airflow_url}   login: {settings.airflow_user} / "
        f"{environment.airflow_password(settings)}"
    )
    typer.echo(f"  MLflow UI  : {settings.mlflow_url}")
    typer.echo(f"  lake       : {settings.lake_uri}")
    typer.echo(f"  logs       : {settings.home / 'logs'}")
    typer.echo("  stop with  : make down")


@app.command()
def down() -> None:
    """Stop everything `conveyor up` started (by PID)."""
    from ml_tasks.platform.stack import lifecycle

    lifecycle.down(load_settings())


@app.command()
def status() -> None:
    """Say which services of the embedded stack run, and where, and what the supervisor restarted."""
    from ml_tasks.platform.stack import environment, lifecycle
    from ml_tasks.platform.stack.supervisor import restarts

    settings = load_settings()
    state = lifecycle.running(settings)
    for name, pid in state.items():
        typer.echo(f"  {name:<14} {'running, pid ' + str(pid) if pid else 'stopped'}")
    restarted = restarts(settings)
    if restarted:
        typer.echo(
            f"  the supervisor restarted {len(restarted)} service(s); the last: {restarted[-1].line()} "
            f"(all in {settings.home / 'logs' / 'supervisor.log'})"
        )
    if any(state.values()):
        typer.echo(
            f"  Airflow UI : {settings.airflow_url}   login: {settings.airflow_user} / "
            f"{environment.airflow_password(settings)}"
        )
        typer.echo(f"  MLflow UI  : {settings.mlflow_url}")


@app.command()
def demo(
    stores: int = 5,
    items: int = 20,
    days: int = 63,
    messy: bool = typer.Option(
        False,
        help="data like a real export: missing hours and days, null bursts in "
        "an unused column, unsorted and repeated rows",
    ),
) -> None:
    """Run the full loop headless on small data; exit non-zero on any failure."""
    from ml_tasks.demo.seed import DemoFailed, DemoSize
    from ml_tasks.platform.cli.demo_loop import run_demo

    base = load_settings()
    home = base.home / "demo"
    settings = load_settings(home=home, mlflow_tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    try:
        summary = run_demo(settings, DemoSize(stores=stores, items=items, days=days, messy=messy))
    except DemoFailed as exc:
        fail(str(exc))
    typer.secho("\nDemo loop finished.", fg="green", bold=True)
    for key, value in summary.items():
        typer.echo(f"  {key:<22} {json.dumps(value) if isinstance(value, dict) else value}")


@app.command()
def generate(
    days: int = 56,
    stores: int = 5,
    items: int = 20,
    seed: int = 7,
    start: str | None = typer.Option(None, help="first day, YYYY-MM-DD (default: days before yesterday)"),
    drift_from: str | None = typer.Option(None, help="inject drift from this day"),
    drift_kind: str = typer.Option("price", help="price | demand | concept | growth"),
    bad_day: list[str] = typer.Option([], help="day(s) to corrupt with bad records"),
    bad_records: int = typer.Option(0, help="corrupted rows per kind on each bad day"),
    messy: bool = typer.Option(
        False,
        help="like a real export: missing hours and days, a sensor column with null bursts, unsorted and repeated rows",
    ),
    pipeline: str = "demand",
) -> None:
    """Land generated raw demand data as one Parquet partition per day."""
    from datetime import timedelta

    from ml_tasks.core.lake import Lake
    from ml_tasks.core.names import checked_pipeline_name
    from ml_tasks.demo.demand_data import DRIFT_KINDS, DemandDataConfig, land_demand_data
    from ml_tasks.demo.seed import yesterday

    try:
        checked_pipeline_name(pipeline)
        first = parse_date("--start", start) if start else yesterday() - timedelta(days=days - 1)
        if drift_kind not in DRIFT_KINDS:
            fail(f"--drift-kind {drift_kind!r} is unknown; expected one of {', '.join(DRIFT_KINDS)}")
        cfg = DemandDataConfig(
            stores=stores,
            items=items,
            days=days,
            seed=seed,
            start=first,
            drift_from=parse_date("--drift-from", drift_from) if drift_from else None,
            drift_kind=drift_kind,
            bad_days=tuple(parse_date("--bad-day", d) for d in bad_day),
            bad_records=bad_records,
            messy=messy,
        )
    except ValueError as exc:
        fail(str(exc))
    settings = load_settings()
    landed = land_demand_data(
        cfg,
        Lake.from_settings(settings),
        pipeline,
        progress=lambda i, n, d: typer.echo(f"  {i}/{n} {d}") if i % 7 == 0 or i == n else None,
    )
    typer.echo(
        f"landed {len(landed)} day(s) under {Lake.from_settings(settings).zone('raw', pipeline)}"
        + (f"; {cfg.days - len(landed)} day(s) never arrived (messy)" if len(landed) < cfg.days else "")
    )


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def airflow(ctx: typer.Context) -> None:
    """Run an `airflow` command against the embedded stack, e.g. `conveyor airflow backfill create ...`."""
    from ml_tasks.platform.cli.airflow_command import airflow_cli

    raise typer.Exit(airflow_cli(load_settings(), ctx.args, say=lambda m: typer.echo(m, err=True)))


@app.command()
def serve(
    pipeline: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    token_env: str = typer.Option("CONVEYOR_SERVING_TOKEN", help="environment variable holding the bearer token"),
    refresh_seconds: float = 5.0,
    insecure: bool = typer.Option(
        False, help="serve beyond loopback without a token (anyone who reaches the port may predict)"
    ),
) -> None:
    """Serve models:/PIPELINE@champion over REST (/predict, /health, /metrics)."""
    import ipaddress
    import os

    import uvicorn

    from ml_tasks.serving.online import create_app

    token = os.environ.get(token_env) or None
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not token and not loopback and not insecure:
        fail(
            f"--host {host} serves beyond this machine, and ${token_env} holds no token: anyone who reaches the "
            f"port could predict. Set {token_env}, or pass --insecure if that is what you want"
        )
    uvicorn.run(
        create_app(load_settings(), pipeline, token=token, refresh_seconds=refresh_seconds),
        host=host,
        port=port,
        log_level="warning",
    )


for _name, _command in {**DATA_COMMANDS, **SPEC_COMMANDS, **REGISTRY_COMMANDS}.items():
    app.command(_name)(_command)


@app.callback()
def _setup(verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("great_expectations", "py4j", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
