"""The `conveyor` commands that work on one pipeline's data: landing, backfilling features, the
quarantine and sealing day folders. `ml_tasks.platform.cli.app` registers them (``DATA_COMMANDS``)
beside the spec commands (`spec_commands`), the registry's (`registry_commands`) and the commands
that run the stack; `fail` and `parse_date` are shared by all of them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

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
            f"{e['dt']}  {e['stage']:<8} {', '.join(e['reasons'])}\n"
            f"    quarantined {e['quarantined_at']}; report: {e['report']}"
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
DATA_COMMANDS = {
    "land": land,
    "backfill-features": backfill_features_cmd,
    "quarantine": quarantine,
    "seal": seal,
}
