"""The `conveyor` commands that write or check a pipeline's spec and suites: `new-pipeline`, `profile`,
`validate`. `ml_tasks.platform.cli.app` registers them (``SPEC_COMMANDS``)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ml_tasks.core.files import write_atomic
from ml_tasks.core.settings import load_settings
from ml_tasks.platform.cli.data_commands import fail


def new_pipeline(
    name: str,
    task: str = typer.Option("regression", help="regression | classification"),
    keys: str = typer.Option(
        "", help="series key columns, comma-separated, e.g. region,meter_id; none for a single series"
    ),
    timestamp: str = typer.Option(..., help="the event-time column (times, dates or epoch numbers)"),
    target: str = typer.Option(..., help="the column to predict"),
    from_sample: Path | None = typer.Option(
        None, help="Parquet or CSV file of the raw data to profile (read in full; uniformly sampled when very large)"
    ),
    known_ahead: str = typer.Option(
        "",
        help="raw columns known before the time they describe (planned prices, "
        "holidays, forecasts), comma-separated; text ones become categories",
    ),
    frequency: str | None = typer.Option(
        None, help="hourly, daily, weekly or an alias like 30min or 15min (default: detected from the sample)"
    ),
    timezone: str | None = typer.Option(
        None, help="IANA zone of naive timestamps, e.g. Europe/London (default: they are UTC)"
    ),
    events: str = typer.Option(
        "",
        help="the rows are events (a sale, a trip, a flight), aggregated per key and "
        "slot: OUTPUT=count or OUTPUT=sum|mean|max|min|last:COLUMN, comma-separated; "
        "--target names an output",
    ),
    delimiter: str | None = typer.Option(None, help="CSV field separator of --from-sample (default: sniffed)"),
    decimal: str | None = typer.Option(None, help="CSV decimal mark of --from-sample (default: sniffed)"),
    force: bool = typer.Option(False, help="overwrite existing files of this pipeline"),
) -> None:
    """Write a new pipeline's spec, DAG file, suites and test."""
    from ml_tasks.core import events as event_spec
    from ml_tasks.core.settings import REPO_ROOT
    from ml_tasks.platform.scaffold.pipeline import NewPipeline
    from ml_tasks.platform.scaffold.sample import ScaffoldError, read_sample

    def names(text: str) -> list[str]:
        return [k.strip() for k in text.split(",") if k.strip()]

    # The project the specs folder belongs to (this checkout unless CONVEYOR_SPECS_DIR says otherwise).
    root = load_settings().specs_dir.parent.parent
    try:
        try:
            aggregations = event_spec.from_text(events) if events else None
        except ValueError as exc:
            raise ScaffoldError(str(exc)) from exc
        sample = read_sample(from_sample, delimiter=delimiter, decimal=decimal) if from_sample else None
        new = NewPipeline(
            name,
            task,
            names(keys),
            timestamp,
            target,
            sample,
            root=root,
            known_ahead=names(known_ahead),
            frequency=frequency,
            timezone=timezone,
            events=aggregations,
        )
        written = new.write(force=force)
    except ScaffoldError as exc:
        fail(str(exc))
    for path in written:
        typer.echo(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    typer.echo(
        f"next: review those files, `conveyor land {name} FILE...` (or write raw/{name}/dt=YYYY-MM-DD/ "
        f"partitions), `conveyor validate {name}`, `conveyor backfill-features {name}`; the DAGs "
        f"{name}_features/_train/_score/_drift/_rollback appear in Airflow at the next parse"
    )


def profile(
    pipeline: str,
    rows: int = typer.Option(500_000, help="rows sampled uniformly across the landed days"),
    dry_run: bool = typer.Option(False, help="print the changes without writing the suite"),
) -> None:
    """Re-profile the raw suite's null shares from the landed raw days (the suite file is rewritten)."""
    import pandas as pd

    from ml_tasks.core.lake import Lake
    from ml_tasks.core.spec import SpecError, load_spec
    from ml_tasks.data.suite_profile import reprofile_null_shares

    settings = load_settings()
    try:
        spec = load_spec(pipeline, settings.specs_dir)
    except SpecError as exc:
        fail(str(exc))
    lake = Lake.from_settings(settings)
    days = lake.partitions("raw", pipeline)
    if not days:
        fail(f"no raw days landed for {pipeline!r}: `conveyor land {pipeline} FILE...` first")
    frames = [lake.read_partition("raw", pipeline, d) for d in days]
    total = sum(len(f) for f in frames)
    share = min(1.0, rows / max(total, 1))
    history = pd.concat(
        [f.sample(frac=share, random_state=i) if share < 1 else f for i, f in enumerate(frames)], ignore_index=True
    )
    path = settings.expectations_dir / f"{spec.data.raw_suite}.json"
    data = json.loads(path.read_text())
    updated, changes = reprofile_null_shares(data, history)
    typer.echo(f"{spec.data.raw_suite}: {len(changes)} change(s) from {len(days)} landed day(s)")
    for line in changes:
        typer.echo(f"  {line}")
    if changes and not dry_run:
        write_atomic(path, json.dumps(updated, indent=1) + "\n")  # a cut suite would fail every gate
        typer.echo(f"wrote {path}")


def validate(pipelines: list[str] | None = typer.Argument(None, help="pipeline names; default: every spec")) -> None:
    """Check every pipeline spec (or the named ones): keys, schedules, files, raw schema, columns."""
    from ml_tasks.platform.cli.spec_check import check_all

    settings = load_settings()
    results = check_all(settings, pipelines or None)
    if not results:
        fail(f"no pipeline specs (*.yaml) in {settings.specs_dir}")
    for name, problems in results.items():
        typer.echo(f"{name}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
        for problem in problems:
            typer.echo(f"  {problem}")
    if any(results.values()):
        raise typer.Exit(1)


# command name -> function, in the order `conveyor --help` lists them
SPEC_COMMANDS = {"new-pipeline": new_pipeline, "profile": profile, "validate": validate}
