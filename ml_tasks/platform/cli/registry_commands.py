"""The `conveyor` commands that work on a pipeline's models in the registry: the history of its
aliases (and repairing a half-done move), rollback, lineage and checking a version's files.
`ml_tasks.platform.cli.app` registers them (``REGISTRY_COMMANDS``).
"""

from __future__ import annotations

import typer

from ml_tasks.core.settings import load_settings
from ml_tasks.platform.cli.data_commands import fail


def history(
    pipeline: str,
    all_aliases: bool = typer.Option(False, "--all", help="also @challenger moves"),
    repair: bool = typer.Option(
        False, help="first settle moves whose process died between the alias move and its record"
    ),
) -> None:
    """Every move of @champion (and with --all, of @challenger): when, from, to, why, by which run."""
    from ml_tasks.registry import audit
    from ml_tasks.registry.client import registry_lock

    settings = load_settings()
    if repair:
        with registry_lock(settings, pipeline):
            for r in audit.repair(settings, pipeline):
                typer.echo(
                    f"repaired @{r['alias']} v{r.get('from_version', '-')} -> v{r['to_version']}: {r['repaired']}"
                )
    rows = audit.history(settings, pipeline, alias=None if all_aliases else "champion")
    if not rows:
        typer.echo(f"no alias moves recorded for {pipeline}")
    for r in rows:
        typer.echo(
            f"{r.get('time', '?')[:19]}  @{r.get('alias')}  v{r.get('from_version', '-')} -> v{r.get('to_version')}  "
            f"[{r.get('airflow.dag_id', r.get('trigger', 'cli'))} {r.get('airflow.run_id', '')}]"
            f"{'  FORCED' if r.get('forced') == 'True' else ''}"
            f"{'' if r['state'] == 'done' else '  ' + r['state'].upper()}\n    {r.get('reason', '')}"
        )


def rollback(
    pipeline: str,
    to: str | None = typer.Option(None, "--to", help="version (default: @previous_champion)"),
    reason: str = typer.Option("", help="why, for the audit trail"),
) -> None:
    """Point @champion back at an earlier version in one step (recorded in the audit trail)."""
    import getpass

    from ml_tasks.registry.audit import RollbackError
    from ml_tasks.registry.audit import rollback as do_rollback

    settings = load_settings()
    if settings.mode != "embedded":  # the registry lock is a file: it serialises this machine only
        typer.secho(
            f"note: in {settings.mode} mode trigger {pipeline}_rollback instead, so Airflow's registry pool "
            "orders it with promotions on other machines",
            fg="yellow",
            err=True,
        )
    try:
        record = do_rollback(settings, pipeline, to, reason, {"user": getpass.getuser(), "trigger": "cli"})
    except RollbackError as exc:
        fail(str(exc))
    typer.echo(f"@champion of {pipeline}: v{record['from_version']} -> v{record['to_version']} ({record['reason']})")


def lineage(ref: str = typer.Argument(..., help="PIPELINE@ALIAS or PIPELINE/VERSION, e.g. demand@champion")) -> None:
    """The chain from raw partitions to the serving alias, for one model version."""
    from ml_tasks.registry.lineage import LineageError
    from ml_tasks.registry.lineage import lineage as read_lineage

    try:
        chain = read_lineage(load_settings(), ref)
    except LineageError as exc:
        fail(str(exc))
    raw, feats = chain["raw_partitions"], chain["feature_partitions"]
    typer.echo(f"raw/{ref.split('@')[0].split('/')[0]}  {raw['from']} .. {raw['to']}  ({raw['note']})")
    checks = chain["validation"]
    typer.echo(
        f"  -> gates {checks['raw_suite']}, {checks['features_suite']}: {checks['passed_both_gates']} of "
        f"{checks['partitions']} partitions passed both (recorded in each partition's _validation.json)"
        + (f"; no record for {checks['unrecorded']}" if checks["unrecorded"] else "")
        + (f"; warnings on {sorted(checks['warnings'])}" if checks["warnings"] else "")
    )
    if checks.get("coverage"):
        c = checks["coverage"]
        typer.echo(
            f"     raw coverage: mean {c['mean']:.1%}, lowest {c['min']:.1%}, {c['days_below_full']} day(s) "
            "with rows missing (gaps the models take)"
        )
    typer.echo(
        f"  -> {feats['zone']}  {feats['first']} .. {feats['last']}  "
        f"({feats['days']} days, sha256 {str(feats['sha256'])[:16]}...)"
    )
    typer.echo(
        f"  -> training run {chain['training_run']} ({chain['model_family']}), parent {chain['parent_run']}; "
        f"train {chain['training_window']}, holdout {chain['holdout_window']}"
    )
    typer.echo(f"     Airflow {chain['airflow']['dag_id']} {chain['airflow']['run_id']}; code {chain['code_version']}")
    typer.echo(
        f"  -> {chain['model']} v{chain['version']}  aliases: {', '.join('@' + a for a in chain['aliases']) or 'none'}"
    )
    typer.echo(f"     promotion: {chain['promotion']}")


def verify_model(
    pipeline: str,
    version: str,
    record: bool = typer.Option(
        False, help="record a digest for a version that has none (check its files first: from then on they are trusted)"
    ),
) -> None:
    """Check a model version's files against the sha256 recorded at registration (exit 1 on a mismatch)."""
    import tempfile
    from pathlib import Path

    from ml_tasks.core.names import checked_pipeline_name
    from ml_tasks.registry import artifacts

    settings, pipeline = load_settings(), checked_pipeline_name(pipeline)
    if record:
        typer.echo(f"{pipeline} v{version}: sha256 {artifacts.record_digest(settings, pipeline, version)}")
        return
    with tempfile.TemporaryDirectory(prefix="conveyor-verify-") as tmp:
        try:
            digest = artifacts.verify(
                settings, pipeline, version, artifacts.download_version(settings, pipeline, version, Path(tmp))
            )
        except artifacts.UnverifiedModelError as exc:
            fail(str(exc))
    typer.echo(f"{pipeline} v{version}: files match the recorded sha256 {digest}")


# command name -> function, in the order `conveyor --help` lists them
REGISTRY_COMMANDS = {
    "history": history,
    "rollback": rollback,
    "lineage": lineage,
    "verify-model": verify_model,
}
