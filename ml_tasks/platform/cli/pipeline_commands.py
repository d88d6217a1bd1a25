"""The `conveyor` commands that work on one pipeline's data and models.

Landing, backfilling and re-profiling data, the quarantine, scaffolding a new pipeline and checking
specs (the registry's commands are `ml_tasks.platform.cli.registry_commands`). `ml_tasks.platform.cli.app` registers them
(``COMMANDS``) beside the commands that run the stack.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer

from ml_tasks.core.files import write_atomic
from ml_tasks.core.settings import load_settings


def fail(message: str) -> None:
    """Print the error in red and exit with status 1."""
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code=1)


def parse_date(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not a date; expected YYYY-MM-DD")


def land(
    pipeline: str,
    files: list[Path] = typer.Argument(..., help="Parquet or CSV files of raw rows"),
    delimiter: str | None = typer.Option(None, help="CSV field separator (default: sniffed: , ; tab |)"),
    decimal: str | None = typer.Option(None, help="CSV decimal mark (default: sniffed: . or ,)"),
    allow_distant: bool = typer.Option(False, help="land days more than 10 years from the pipeline's others"),
    rerun: bool = typer.Option(True, help="tell Airflow about days landed again, so their features re-run"),
) -> None:
    """Split raw files by UTC day into raw/PIPELINE/dt=.../ partitions (a day is replaced whole).

    Every file is read and checked first; an empty, unreadable or wrongly shaped one lands nothing.
    Days landed again (quarantined, published or waiting before) are announced to Airflow (Asset
    raw:PIPELINE), whose PIPELINE_relanded DAG re-runs their features.
    """
    from ml_tasks.core.lake import Lake
    from ml_tasks.core.spec import SpecError, load_spec
    from ml_tasks.data.landing import LandingError, land_files
    from ml_tasks.platform.airflow_api.relanding import announce_relanded

    settings = load_settings()
    try:
        spec = load_spec(pipeline, settings.specs_dir)
        landed = land_files(
            Lake.from_settings(settings),
            spec,
            list(files),
            say=typer.echo,
            delimiter=delimiter,
            decimal=decimal,
            allow_distant=allow_distant,
        )
    except (SpecError, LandingError) as exc:
        fail(str(exc))
    days = landed.days
    typer.echo(
        f"landed {len(days)} day(s), {days[0]} .. {days[-1]}"
        + (f", {len(landed.again)} of them again" if landed.again else "")
    )
    if landed.again and rerun:
        typer.echo(announce_relanded(settings, pipeline, landed.again))
    if len(landed.again) < len(days):
        typer.echo(f"next: conveyor validate {pipeline}, then conveyor backfill-features {pipeline}")


def backfill_features_cmd(
    pipeline: str,
    start: str | None = typer.Argument(None),
    end: str | None = typer.Argument(None),
    max_quarantine_share: float = typer.Option(
        0.05,
        help="stop without quarantining anything when more than this share of the days would fail "
        "(that is a suite problem); 1 quarantines every failing day",
    ),
    gate_each_day: bool = typer.Option(
        False,
        help="validate every day on its own, as the daily DAG does, "
        "instead of one pass over all days (slower; for comparison)",
    ),
) -> None:
    """Gate, build and publish features for every landed day from START to END (one Spark job).

    Without START and END: every landed raw day that has its full look-back before it. Days in
    the range with no raw data are skipped (their neighbours' lags are simply missing).
    """
    from datetime import timedelta

    from ml_tasks.core.lake import Lake
    from ml_tasks.core.spec import SpecError, load_spec
    from ml_tasks.data.backfill import SuiteProblem, backfill_features
    from ml_tasks.features.columns import lookback_days

    settings = load_settings()
    try:
        spec = load_spec(pipeline, settings.specs_dir)
    except SpecError as exc:
        fail(str(exc))
    if start is None or end is None:
        raw = Lake.from_settings(settings).partitions("raw", pipeline)
        if len(raw) <= lookback_days(spec):
            fail(
                f"{len(raw)} raw day(s) landed for {pipeline!r}; features need {lookback_days(spec)} days of "
                "look-back before the first one: land more days (conveyor land)"
            )
        start, end = (start or raw[lookback_days(spec)].isoformat()), (end or raw[-1].isoformat())
        typer.echo(f"building features for {start} .. {end} (after {lookback_days(spec)} days of look-back)")
    first, last = parse_date("START", start), parse_date("END", end)
    if last < first:
        fail(f"end {last} is before start {first}")
    landed = set(Lake.from_settings(settings).partitions("raw", pipeline))
    wanted = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    days = [d for d in wanted if d in landed]
    if len(days) < len(wanted):
        typer.echo(f"{len(wanted) - len(days)} day(s) in {first} .. {last} have no raw data; skipping them")
    if not days:
        fail(f"no raw data landed for {pipeline!r} between {first} and {last} (conveyor land)")
    try:
        report = backfill_features(
            settings, spec, days, max_quarantine_share=max_quarantine_share, one_pass=not gate_each_day
        )
    except SuiteProblem as exc:
        fail(str(exc))
    _report_backfill(report)


def _report_backfill(report) -> None:
    typer.echo(
        f"published {len(report.published)} day(s); quarantined {len(report.quarantined)}"
        + (f"; pending {len(report.pending)}" if report.pending else "")
        + (f"; {len(report.released)} released as they are" if report.released else "")
    )
    for d, why in report.quarantined.items():
        typer.echo(f"  {d}: {why.splitlines()[0]}")
    for d, why in report.pending.items():
        typer.echo(f"  {d}: pending, still arriving? {why}")
    if report.quarantined:
        raise typer.Exit(code=1)


def quarantine(
    pipeline: str = typer.Argument(
        ..., metavar="[release] PIPELINE", help="the pipeline; `release PIPELINE DAY` releases a quarantined raw day"
    ),
    arguments: list[str] = typer.Argument(None, metavar="[PIPELINE DAY]", show_default=False),
    reason: str = typer.Option("", help="release: why the day is right as it is (recorded with it)"),
) -> None:
    """List a pipeline's quarantined partitions with their reasons, or release one raw day as it is.

    `conveyor quarantine release PIPELINE DAY --reason "..."` moves the day back to the raw zone with
    the reason, who and when, and publishes its features (the features gate still runs).
    """
    from ml_tasks.core.lake import Lake
    from ml_tasks.data.quarantine import list_quarantine

    if pipeline == "release":
        if len(arguments or []) != 2:
            fail('usage: conveyor quarantine release PIPELINE DAY --reason "..."')
        return release_day(arguments[0], parse_date("DAY", arguments[1]), reason)
    if arguments:
        fail(
            f"unexpected {arguments}: `conveyor quarantine PIPELINE` lists, `conveyor quarantine release PIPELINE "
            f"DAY --reason ...` releases"
        )
    entries = list_quarantine(Lake.from_settings(load_settings()), pipeline)
    if not entries:
        typer.echo(f"no quarantined partitions for {pipeline}")
    for e in entries:
        typer.echo(
            f"{e['dt']}  {e['stage']:<8} {', '.join(e['reasons'])}\n    quarantined {e['quarantined_at']}; report: {e['report']}"
        )


def release_day(pipeline: str, day: date, reason: str) -> None:
    """Release a quarantined raw day as it is and publish its features (see ml_tasks.data.release)."""
    import getpass

    from ml_tasks.core.lake import Lake
    from ml_tasks.core.spec import SpecError, load_spec
    from ml_tasks.data.backfill import SuiteProblem, backfill_features
    from ml_tasks.data.release import ReleaseError, release_raw

    settings = load_settings()
    try:
        spec = load_spec(pipeline, settings.specs_dir)
        record = release_raw(Lake.from_settings(settings), spec, day, reason, by=getpass.getuser())
    except (SpecError, ReleaseError) as exc:
        fail(str(exc))
    typer.echo(
        f"released raw/{pipeline}/dt={day} as it is (it failed {', '.join(record['failed'])}); building its features"
    )
    try:
        report = backfill_features(settings, spec, [day])
    except SuiteProblem as exc:
        fail(str(exc))
    _report_backfill(report)


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


def seal(pipeline: str) -> None:
    """Adopt day folders written before manifests existed (or by hand): write each one's manifest.

    Only for folders you know are whole: a lake upgraded from an earlier Conveyor, where every day
    was published by a rename. A publish cut short on an object store is never sealed by Conveyor.
    """
    from ml_tasks.core import manifest
    from ml_tasks.core.lake import PUBLISHED_ZONES, Lake

    lake = Lake.from_settings(load_settings())
    folders = [f for zone in PUBLISHED_ZONES for f in lake.unsealed(zone, pipeline)]
    for folder in folders:
        sealed = manifest.seal(lake.fs, folder)
        typer.echo(f"sealed {folder} ({len(sealed['files'])} file(s))")
    typer.echo(f"{len(folders)} day folder(s) of {pipeline} sealed")


# command name -> function, in the order `conveyor --help` lists them
COMMANDS = {
    "land": land,
    "backfill-features": backfill_features_cmd,
    "quarantine": quarantine,
    "seal": seal,
    "new-pipeline": new_pipeline,
    "profile": profile,
    "validate": validate,
}
