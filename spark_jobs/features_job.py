"""Entry point of every pipeline's Spark feature job: read raw, transform, stage the output.

The transform itself lives in the pipeline's feature module (``spec.features.module``), which
exposes ``build_features(raw_df, spec)`` and ``feature_columns(spec)``. This job reads the raw
partitions the requested days need (including the look-back for lags and windows), aggregates
them to slots first when the spec's raw data is events (``spark_jobs.event_slots``), runs the
transform, and writes the requested days into a hidden staging folder, one ``dt=`` subfolder per
day. Publishing (an atomic rename per day) happens after the features gate has passed.

Run by hand: ``python -m spark_jobs.features_job demand 2026-03-01 [2026-03-02 ...]``.
"""

from __future__ import annotations

import argparse
import logging
import uuid
from datetime import date, timedelta

from ml_tasks.core.lake import Lake, LakeError
from ml_tasks.core.settings import ConveyorSettings, load_settings
from ml_tasks.core.spec import PipelineSpec, load_spec
from ml_tasks.features.columns import feature_module, lookback_days

log = logging.getLogger(__name__)


def staging_root(lake: Lake, spec: PipelineSpec, owner: str | None = None) -> str:
    """The hidden folder a feature job stages into: named after its ``owner`` (an Airflow run, so
    that a retry or the run's teardown finds what an earlier attempt left), else unique."""
    import hashlib

    token = hashlib.sha1(owner.encode()).hexdigest()[:12] if owner else uuid.uuid4().hex[:12]
    return f"{lake.zone('features', spec.name)}/_staging-{token}"


def discard_staging(lake: Lake, root: str) -> bool:
    """Remove a staging folder and everything in it, if it exists; whether there was one."""
    if not lake.fs.exists(root):
        return False
    lake.fs.rm(root, recursive=True)
    return True


def stage_features(
    settings: ConveyorSettings, spec: PipelineSpec, days: list[date], spark=None, owner: str | None = None
) -> dict[date, str]:
    """Build the features of ``days`` and write them to staging; returns day -> staged folder.

    With an ``owner`` the staging folder is the owner's own (see :func:`staging_root`) and what an
    earlier attempt of the same owner left there is replaced. If the job fails (an error, a full
    disk), its staging folder is removed before the error is raised; a killed job's folder is
    removed by the next attempt of its owner or by the owner's teardown.
    """
    from pyspark.sql import functions as F

    from spark_jobs.session import spark_session

    if not days:
        raise ValueError("stage_features needs at least one day")
    lake = Lake.from_settings(settings)
    days = sorted(set(days))
    missing = [d for d in days if not lake.exists("raw", spec.name, d)]
    if missing:
        raise LakeError(
            f"pipeline {spec.name!r}: raw partitions missing for {[d.isoformat() for d in missing]} "
            f"under {lake.zone('raw', spec.name)}"
        )
    available = set(lake.partitions("raw", spec.name))
    first = days[0] - timedelta(days=lookback_days(spec))
    needed = [d for d in sorted(available) if first <= d <= days[-1]]
    raw_folders = [lake.partition("raw", spec.name, d) for d in needed]

    spark = spark or spark_session(settings, f"{spec.name}_features")
    module = feature_module(spec)
    root = staging_root(lake, spec, owner)
    if discard_staging(lake, root):
        log.info("removed what an earlier attempt left in %s", root)
    log.info(
        "building %s features for %d day(s) from %d raw partitions into %s",
        spec.name,
        len(days),
        len(raw_folders),
        root,
    )
    flat = f"{root}/_all-days"
    by_spark = written_by_spark(lake, spec, days)
    try:
        with lake.spark_inputs(raw_folders) as paths, lake.spark_output(flat) as out:
            raw = spark.read.parquet(*paths)
            if spec.data.events:  # one row per event: the feature module sees one row per key and slot
                from spark_jobs.event_slots import aggregate_events

                raw = aggregate_events(raw, spec)
            features = module.build_features(raw, spec).where(F.col("dt").isin([d.isoformat() for d in days]))
            writer = (features.write.partitionBy("dt") if by_spark else features.write).options(
                **parquet_options(features.schema)
            )
            # `out` is new (the staging folder was emptied above): a static overwrite, not the
            # session's dynamic one, which stages every day folder and renames it (1-1.5 s at 10M rows)
            writer.mode("overwrite").option("partitionOverwriteMode", "static").parquet(out)
        (lift_day_folders if by_spark else split_by_day)(lake, flat, root)
        empty = [d for d in days if not lake.fs.exists(f"{root}/dt={d.isoformat()}")]
        if empty:
            raise LakeError(
                f"pipeline {spec.name!r}: the feature job produced no rows for "
                f"{[d.isoformat() for d in empty]} (raw: {[d.isoformat() for d in needed]})"
            )
    except BaseException:
        discard_staging(lake, root)  # a half-written folder helps nobody; the error says what went wrong
        raise
    return {d: f"{root}/dt={d.isoformat()}" for d in days}


def parquet_options(schema) -> dict[str, str]:
    """Parquet writer options for a feature table: dictionary encoding only for text columns.

    Numbers are written plain (then compressed): rolling means, deviations and ratios are nearly
    unique per row, so their dictionaries were built only to be dropped, and the dictionary
    lookups were about an eighth of the whole job at 10M rows (profiled with Java Flight
    Recorder). With every number plain the job took 20.5-22.5 s against 23.4-23.8 s with only
    the continuous ones plain (27.5-28.7 s with none), for day files about a fifth bigger.
    """
    from pyspark.sql.types import StringType

    return {
        f"parquet.enable.dictionary#{field.name}": "false"
        for field in schema.fields
        if not isinstance(field.dataType, StringType)
    }


# Spark's partitioned writer commits a file per day and write task (about 9 ms each on 2 cores);
# one Arrow pass over the output costs about 1.2 us a row. Above this many rows a day, the
# partitioned write is cheaper (10M rows over 42 days: 30 s against 40 s for the whole job).
SPARK_WRITE_MIN_ROWS_PER_DAY = 30_000


def written_by_spark(lake: Lake, spec: PipelineSpec, days: list[date]) -> bool:
    """Whether Spark writes the day folders itself (big days) or one flat folder that
    :func:`split_by_day` splits (many small days); decided from the raw days' Parquet footers."""
    rows = sum(lake.row_count(lake.partition("raw", spec.name, d)) for d in days)
    return rows >= SPARK_WRITE_MIN_ROWS_PER_DAY * len(days)


def lift_day_folders(lake: Lake, written: str, root: str) -> None:
    """Move the ``dt=`` folders of Spark's partitioned write up into ``root``, their data files
    renamed ``part-<i>.parquet`` in the order Spark numbered them (the same names for the same
    input); Spark's markers and checksums stay behind and are removed with ``written``."""
    fs = lake.fs
    for folder in sorted(p for p in fs.ls(written, detail=False) if p.rstrip("/").rsplit("/", 1)[-1].startswith("dt=")):
        day = folder.rstrip("/").rsplit("/", 1)[-1]
        fs.makedirs(f"{root}/{day}", exist_ok=True)
        for i, f in enumerate(lake.parquet_files(folder)):
            fs.mv(f, f"{root}/{day}/part-{i}.parquet")
    fs.rm(written, recursive=True)


def split_by_day(lake: Lake, flat: str, root: str) -> None:
    """Write the rows of the Parquet folder ``flat`` as one ``dt=YYYY-MM-DD/part-0.parquet`` per
    day under ``root``, then remove ``flat``.

    Arrow's dataset writer streams the rows and opens one file per day; Spark's partitioned
    writer costs a task commit per day folder (about 13 s for a year of days on 2 cores, against
    half a second here). Rows keep their order, so the same input gives the same bytes.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds
    from pyarrow.fs import FSSpecHandler, LocalFileSystem, PyFileSystem

    fs = lake.fs
    # A local lake through Arrow's own file system: through fsspec's Python wrapper the same split
    # took 2.7x as long (43 s against 16 s for 10M rows).
    arrow_fs = PyFileSystem(FSSpecHandler(fs)) if lake.is_remote else LocalFileSystem()
    files = sorted(fs._strip_protocol(f) for f in lake.parquet_files(flat))
    ds.write_dataset(
        ds.dataset(files, filesystem=arrow_fs, format="parquet"),
        fs._strip_protocol(root),
        filesystem=arrow_fs,
        format="parquet",
        basename_template="part-{i}.parquet",
        partitioning=ds.partitioning(pa.schema([("dt", pa.date32())]), flavor="hive"),
        existing_data_behavior="overwrite_or_ignore",
        max_partitions=1_000_000,
        use_threads=False,
    )
    fs.rm(flat, recursive=True)


def main(argv: list[str] | None = None) -> None:
    import json
    import time

    import psutil

    started = psutil.Process().create_time()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline")
    parser.add_argument("days", nargs="+", type=date.fromisoformat)
    parser.add_argument("--timing", action="store_true", help="print start-up and job times as JSON")
    parser.add_argument(
        "--owner", help="whose staging folder this is (a retry with the same owner replaces what a killed attempt left)"
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    spec = load_spec(args.pipeline, settings.specs_dir)
    from spark_jobs.session import spark_session

    t0 = time.time()
    spark = spark_session(settings, f"{spec.name}_features")
    t1 = time.time()
    staged = stage_features(settings, spec, args.days, spark=spark, owner=args.owner)
    lake = Lake.from_settings(settings)
    for d, path in staged.items():
        print(lake.publish(path, "features", spec.name, d))
    t2 = time.time()
    spark.stop()
    if args.timing:
        print(
            json.dumps(
                {"import_s": round(t0 - started, 2), "session_start_s": round(t1 - t0, 2), "job_s": round(t2 - t1, 2)}
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
