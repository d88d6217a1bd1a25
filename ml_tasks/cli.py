"""`conveyor`: the command line of the platform (start/stop the stack, demo, data, features)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import date
from pathlib import Path
from typing import Optional

import typer

from ml_tasks.settings import load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code=1)


def _date(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"{option} {value!r} is not a date; expected YYYY-MM-DD")


@app.command()
def up(seed: bool = typer.Option(True, help="land demo data and backfill features on first start")) -> None:
    """Start the embedded platform: MLflow, Airflow (api-server, scheduler, dag-processor, triggerer)."""
    from ml_tasks import stack
    from ml_tasks.airflow_client import AirflowClient
    from ml_tasks.demo import seed_churn, seed_demo
    from ml_tasks.lake import Lake

    settings = load_settings()
    lake = Lake.from_settings(settings)
    if seed and not lake.partitions("features", "demand"):
        seed_demo(settings)
    if seed and not lake.partitions("features", "churn"):
        seed_churn(settings)
    try:
        stack.up(settings)
    except stack.StackError as exc:
        _fail(str(exc))
    client = AirflowClient(settings.airflow_url, settings.airflow_user, stack.airflow_password(settings))
    dag_ids = [f"{p}_{kind}" for p in ("demand", "churn") for kind in ("features", "train", "score", "drift", "rollback")]
    typer.echo("waiting for the dag-processor to list the demand and churn DAGs")
    client.wait_for_dags(dag_ids)
    for dag_id in dag_ids:
        client.set_paused(dag_id, False)
    typer.echo("unpaused the demand and churn DAGs: the scheduler now runs the latest features interval and "
               "nightly training")
    typer.secho("\nConveyor is up.", fg="green", bold=True)
    typer.echo(f"  Airflow UI : {settings.airflow_url}   login: {settings.airflow_user} / {stack.airflow_password(settings)}")
    typer.echo(f"  MLflow UI  : {settings.mlflow_url}")
    typer.echo(f"  lake       : {settings.lake_uri}")
    typer.echo(f"  logs       : {settings.home / 'logs'}")
    typer.echo("  stop with  : make down")


@app.command()
def down() -> None:
    """Stop everything `conveyor up` started (by PID)."""
    from ml_tasks import stack

    stack.down(load_settings())


@app.command()
def status() -> None:
    """Say which services of the embedded stack run, and where."""
    from ml_tasks import stack

    settings = load_settings()
    state = stack.running(settings)
    for name, pid in state.items():
        typer.echo(f"  {name:<14} {'running, pid ' + str(pid) if pid else 'stopped'}")
    if any(state.values()):
        typer.echo(f"  Airflow UI : {settings.airflow_url}   login: {settings.airflow_user} / {stack.airflow_password(settings)}")
        typer.echo(f"  MLflow UI  : {settings.mlflow_url}")


@app.command()
def demo(stores: int = 5, items: int = 20, days: int = 63,
         messy: bool = typer.Option(False, help="data like a real export: missing hours and days, null bursts in "
                                                "an unused column, unsorted and repeated rows")) -> None:
    """Run the full loop headless on small data; exit non-zero on any failure."""
    from ml_tasks.demo import DemoFailed, DemoSize, run_demo

    base = load_settings()
    home = base.home / "demo"
    settings = load_settings(home=home, mlflow_tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    try:
        summary = run_demo(settings, DemoSize(stores=stores, items=items, days=days, messy=messy))
    except DemoFailed as exc:
        _fail(str(exc))
    typer.secho("\nDemo loop finished.", fg="green", bold=True)
    for key, value in summary.items():
        typer.echo(f"  {key:<22} {json.dumps(value) if isinstance(value, dict) else value}")


@app.command()
def generate(days: int = 56, stores: int = 5, items: int = 20, seed: int = 7,
             start: Optional[str] = typer.Option(None, help="first day, YYYY-MM-DD (default: days before yesterday)"),
             drift_from: Optional[str] = typer.Option(None, help="inject drift from this day"),
             drift_kind: str = typer.Option("price", help="price | demand | concept"),
             bad_day: list[str] = typer.Option([], help="day(s) to corrupt with bad records"),
             bad_records: int = typer.Option(0, help="corrupted rows per kind on each bad day"),
             messy: bool = typer.Option(False, help="like a real export: missing hours and days, a sensor column "
                                                    "with null bursts, unsorted and repeated rows"),
             pipeline: str = "demand") -> None:
    """Land generated raw demand data as one Parquet partition per day."""
    from datetime import timedelta

    from ml_tasks.demand_data import DemandDataConfig, land_demand_data
    from ml_tasks.demo import yesterday
    from ml_tasks.lake import Lake

    try:
        first = _date("--start", start) if start else yesterday() - timedelta(days=days - 1)
        if drift_kind not in ("price", "demand", "concept"):
            _fail(f"--drift-kind {drift_kind!r} is unknown; expected price, demand or concept")
        cfg = DemandDataConfig(stores=stores, items=items, days=days, seed=seed, start=first,
                               drift_from=_date("--drift-from", drift_from) if drift_from else None,
                               drift_kind=drift_kind, bad_days=tuple(_date("--bad-day", d) for d in bad_day),
                               bad_records=bad_records, messy=messy)
    except ValueError as exc:
        _fail(str(exc))
    settings = load_settings()
    landed = land_demand_data(cfg, Lake.from_settings(settings), pipeline,
                              progress=lambda i, n, d: typer.echo(f"  {i}/{n} {d}") if i % 7 == 0 or i == n else None)
    typer.echo(f"landed {len(landed)} day(s) under {Lake.from_settings(settings).zone('raw', pipeline)}"
               + (f"; {cfg.days - len(landed)} day(s) never arrived (messy)" if len(landed) < cfg.days else ""))


@app.command()
def land(pipeline: str, files: list[Path] = typer.Argument(..., help="Parquet or CSV files of raw rows")) -> None:
    """Split raw files by UTC day into raw/PIPELINE/dt=.../ partitions (a day is replaced whole)."""
    from ml_tasks.lake import Lake
    from ml_tasks.landing import LandingError, land_files
    from ml_tasks.spec import SpecError, load_spec

    settings = load_settings()
    try:
        spec = load_spec(pipeline, settings.specs_dir)
        days = land_files(Lake.from_settings(settings), spec, list(files), say=typer.echo)
    except (SpecError, LandingError) as exc:
        _fail(str(exc))
    if days:
        typer.echo(f"landed {len(days)} day(s), {days[0]} .. {days[-1]}; next: "
                   f"conveyor validate {pipeline}, then conveyor backfill-features {pipeline}")


@app.command("backfill-features")
def backfill_features_cmd(
    pipeline: str, start: Optional[str] = typer.Argument(None), end: Optional[str] = typer.Argument(None),
    max_quarantine_share: float = typer.Option(
        0.05, help="stop without quarantining anything when more than this share of the days would fail "
                   "(that is a suite problem); 1 quarantines every failing day"),
    gate_each_day: bool = typer.Option(False, help="validate every day on its own, as the daily DAG does, "
                                                   "instead of one pass over all days (slower; for comparison)"),
) -> None:
    """Gate, build and publish features for every landed day from START to END (one Spark job).

    Without START and END: every landed raw day that has its full look-back before it. Days in
    the range with no raw data are skipped (their neighbours' lags are simply missing).
    """
    from datetime import timedelta

    from ml_tasks.backfill import SuiteProblem, backfill_features
    from ml_tasks.lake import Lake
    from ml_tasks.spec import SpecError, load_spec
    from spark_jobs.features_job import lookback_days

    settings = load_settings()
    try:
        spec = load_spec(pipeline, settings.specs_dir)
    except SpecError as exc:
        _fail(str(exc))
    if start is None or end is None:
        raw = Lake.from_settings(settings).partitions("raw", pipeline)
        if len(raw) <= lookback_days(spec):
            _fail(f"{len(raw)} raw day(s) landed for {pipeline!r}; features need {lookback_days(spec)} days of "
                  "look-back before the first one: land more days (conveyor land)")
        start, end = (start or raw[lookback_days(spec)].isoformat()), (end or raw[-1].isoformat())
        typer.echo(f"building features for {start} .. {end} (after {lookback_days(spec)} days of look-back)")
    first, last = _date("START", start), _date("END", end)
    if last < first:
        _fail(f"end {last} is before start {first}")
    landed = set(Lake.from_settings(settings).partitions("raw", pipeline))
    wanted = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    days = [d for d in wanted if d in landed]
    if len(days) < len(wanted):
        typer.echo(f"{len(wanted) - len(days)} day(s) in {first} .. {last} have no raw data; skipping them")
    if not days:
        _fail(f"no raw data landed for {pipeline!r} between {first} and {last} (conveyor land)")
    try:
        report = backfill_features(settings, spec, days, max_quarantine_share=max_quarantine_share,
                                   one_pass=not gate_each_day)
    except SuiteProblem as exc:
        _fail(str(exc))
    typer.echo(f"published {len(report.published)} day(s); quarantined {len(report.quarantined)}")
    for d, why in report.quarantined.items():
        typer.echo(f"  {d}: {why.splitlines()[0]}")
    if report.quarantined:
        raise typer.Exit(code=1)


@app.command()
def quarantine(pipeline: str) -> None:
    """List quarantined partitions of a pipeline with their reasons."""
    from ml_tasks.lake import Lake
    from ml_tasks.quarantine import list_quarantine

    entries = list_quarantine(Lake.from_settings(load_settings()), pipeline)
    if not entries:
        typer.echo(f"no quarantined partitions for {pipeline}")
    for e in entries:
        typer.echo(f"{e['dt']}  {e['stage']:<8} {', '.join(e['reasons'])}\n    quarantined {e['quarantined_at']}; report: {e['report']}")


@app.command()
def history(pipeline: str, all_aliases: bool = typer.Option(False, "--all", help="also @challenger moves")) -> None:
    """Every move of @champion (and with --all, of @challenger): when, from, to, why, by which run."""
    from ml_tasks.audit import history as read_history

    rows = read_history(load_settings(), pipeline, alias=None if all_aliases else "champion")
    if not rows:
        typer.echo(f"no alias moves recorded for {pipeline}")
    for r in rows:
        typer.echo(f"{r.get('time', '?')[:19]}  @{r.get('alias')}  v{r.get('from_version', '-')} -> v{r.get('to_version')}  "
                   f"[{r.get('airflow.dag_id', r.get('trigger', 'cli'))} {r.get('airflow.run_id', '')}]"
                   f"{'  FORCED' if r.get('forced') == 'True' else ''}\n    {r.get('reason', '')}")


@app.command()
def rollback(pipeline: str, to: Optional[str] = typer.Option(None, "--to", help="version (default: @previous_champion)"),
             reason: str = typer.Option("", help="why, for the audit trail")) -> None:
    """Point @champion back at an earlier version in one step (recorded in the audit trail)."""
    import getpass

    from ml_tasks.audit import RollbackError
    from ml_tasks.audit import rollback as do_rollback

    try:
        record = do_rollback(load_settings(), pipeline, to, reason, {"user": getpass.getuser(), "trigger": "cli"})
    except RollbackError as exc:
        _fail(str(exc))
    typer.echo(f"@champion of {pipeline}: v{record['from_version']} -> v{record['to_version']} ({record['reason']})")


@app.command()
def lineage(ref: str = typer.Argument(..., help="PIPELINE@ALIAS or PIPELINE/VERSION, e.g. demand@champion")) -> None:
    """The chain from raw partitions to the serving alias, for one model version."""
    from ml_tasks.lineage import LineageError
    from ml_tasks.lineage import lineage as read_lineage

    try:
        chain = read_lineage(load_settings(), ref)
    except LineageError as exc:
        _fail(str(exc))
    raw, feats = chain["raw_partitions"], chain["feature_partitions"]
    typer.echo(f"raw/{ref.split('@')[0].split('/')[0]}  {raw['from']} .. {raw['to']}  ({raw['note']})")
    checks = chain["validation"]
    typer.echo(f"  -> gates {checks['raw_suite']}, {checks['features_suite']}: {checks['passed_both_gates']} of "
               f"{checks['partitions']} partitions passed both (recorded in each partition's _validation.json)"
               + (f"; no record for {checks['unrecorded']}" if checks["unrecorded"] else "")
               + (f"; warnings on {sorted(checks['warnings'])}" if checks["warnings"] else ""))
    if checks.get("coverage"):
        c = checks["coverage"]
        typer.echo(f"     raw coverage: mean {c['mean']:.1%}, lowest {c['min']:.1%}, {c['days_below_full']} day(s) "
                   "with rows missing (gaps the models take)")
    typer.echo(f"  -> {feats['zone']}  {feats['first']} .. {feats['last']}  ({feats['days']} days, sha256 {str(feats['sha256'])[:16]}...)")
    typer.echo(f"  -> training run {chain['training_run']} ({chain['model_family']}), parent {chain['parent_run']}; "
               f"train {chain['training_window']}, holdout {chain['holdout_window']}")
    typer.echo(f"     Airflow {chain['airflow']['dag_id']} {chain['airflow']['run_id']}; code {chain['code_version']}")
    typer.echo(f"  -> {chain['model']} v{chain['version']}  aliases: {', '.join('@' + a for a in chain['aliases']) or 'none'}")
    typer.echo(f"     promotion: {chain['promotion']}")


@app.command("new-pipeline")
def new_pipeline(
    name: str,
    task: str = typer.Option("regression", help="regression | classification"),
    keys: str = typer.Option("", help="series key columns, comma-separated, e.g. region,meter_id; none for a "
                                      "single series"),
    timestamp: str = typer.Option(..., help="the event-time column (hourly or daily)"),
    target: str = typer.Option(..., help="the column to predict"),
    from_sample: Optional[Path] = typer.Option(None, help="Parquet or CSV file of the raw data to profile (read in "
                                                          "full; uniformly sampled when very large)"),
    known_ahead: str = typer.Option("", help="raw columns known before the time they describe (planned prices, "
                                             "holidays, forecasts), comma-separated; text ones become categories"),
    frequency: Optional[str] = typer.Option(None, help="hourly | daily (default: detected from the sample)"),
    force: bool = typer.Option(False, help="overwrite existing files of this pipeline"),
) -> None:
    """Write a new pipeline's spec, DAG file, suites and test."""
    from ml_tasks.scaffold import NewPipeline, ScaffoldError, read_sample
    from ml_tasks.settings import REPO_ROOT

    def names(text: str) -> list[str]:
        return [k.strip() for k in text.split(",") if k.strip()]

    # The project the specs folder belongs to (this checkout unless CONVEYOR_SPECS_DIR says otherwise).
    root = load_settings().specs_dir.parent.parent
    try:
        sample = read_sample(from_sample) if from_sample else None
        new = NewPipeline(name, task, names(keys), timestamp, target, sample, root=root,
                          known_ahead=names(known_ahead), frequency=frequency)
        written = new.write(force=force)
    except ScaffoldError as exc:
        _fail(str(exc))
    for path in written:
        typer.echo(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    typer.echo(f"next: review those files, `conveyor land {name} FILE...` (or write raw/{name}/dt=YYYY-MM-DD/ "
               f"partitions), `conveyor validate {name}`, `conveyor backfill-features {name}`; the DAGs "
               f"{name}_features/_train/_score/_drift/_rollback appear in Airflow at the next parse")


@app.command()
def profile(pipeline: str, rows: int = typer.Option(500_000, help="rows sampled uniformly across the landed days"),
            dry_run: bool = typer.Option(False, help="print the changes without writing the suite")) -> None:
    """Re-profile the raw suite's null shares from the landed raw days (the suite file is rewritten)."""
    import pandas as pd

    from ml_tasks.lake import Lake
    from ml_tasks.spec import SpecError, load_spec
    from ml_tasks.suite_profile import reprofile_null_shares

    settings = load_settings()
    try:
        spec = load_spec(pipeline, settings.specs_dir)
    except SpecError as exc:
        _fail(str(exc))
    lake = Lake.from_settings(settings)
    days = lake.partitions("raw", pipeline)
    if not days:
        _fail(f"no raw days landed for {pipeline!r}: `conveyor land {pipeline} FILE...` first")
    frames = [lake.read_partition("raw", pipeline, d) for d in days]
    total = sum(len(f) for f in frames)
    share = min(1.0, rows / max(total, 1))
    history = pd.concat([f.sample(frac=share, random_state=i) if share < 1 else f for i, f in enumerate(frames)],
                        ignore_index=True)
    path = settings.expectations_dir / f"{spec.data.raw_suite}.json"
    data = json.loads(path.read_text())
    updated, changes = reprofile_null_shares(data, history)
    typer.echo(f"{spec.data.raw_suite}: {len(changes)} change(s) from {len(days)} landed day(s)")
    for line in changes:
        typer.echo(f"  {line}")
    if changes and not dry_run:
        path.write_text(json.dumps(updated, indent=1) + "\n")
        typer.echo(f"wrote {path}")


@app.command()
def validate(pipelines: Optional[list[str]] = typer.Argument(None, help="pipeline names; default: every spec")) -> None:
    """Check every pipeline spec (or the named ones): keys, schedules, files, raw schema, columns."""
    from ml_tasks.spec_check import check_all

    settings = load_settings()
    results = check_all(settings, pipelines or None)
    if not results:
        _fail(f"no pipeline specs (*.yaml) in {settings.specs_dir}")
    for name, problems in results.items():
        typer.echo(f"{name}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
        for problem in problems:
            typer.echo(f"  {problem}")
    if any(results.values()):
        raise typer.Exit(1)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             add_help_option=False)
def airflow(ctx: typer.Context) -> None:
    """Run an `airflow` command against the embedded stack, e.g. `conveyor airflow backfill create ...`."""
    import subprocess

    from ml_tasks.stack import stack_env, venv_executable

    result = subprocess.run([venv_executable("airflow"), *ctx.args], env=stack_env(load_settings()))
    raise typer.Exit(result.returncode)


@app.command()
def serve(pipeline: str, host: str = "127.0.0.1", port: int = 8000,
          token_env: str = typer.Option("CONVEYOR_SERVING_TOKEN", help="environment variable holding the bearer token"),
          refresh_seconds: float = 5.0) -> None:
    """Serve models:/PIPELINE@champion over REST (/predict, /health, /metrics)."""
    import os

    import uvicorn

    from ml_tasks.serving import create_app

    token = os.environ.get(token_env) or None
    uvicorn.run(create_app(load_settings(), pipeline, token=token, refresh_seconds=refresh_seconds),
                host=host, port=port, log_level="warning")


@app.callback()
def _setup(verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("great_expectations", "py4j", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
