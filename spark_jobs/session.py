"""Spark session for Conveyor jobs, configured from the settings object.

Local mode is tuned for small machines: a handful of shuffle partitions, adaptive query
execution, no UI, loopback only. Timestamps are UTC everywhere.
"""

from __future__ import annotations

import os

from pyspark.sql import SparkSession

from ml_tasks.settings import ConveyorSettings


def spark_session(settings: ConveyorSettings, app_name: str) -> SparkSession:
    """Get or create the Spark session for ``app_name`` on the configured master."""
    if settings.spark_master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.appName(app_name)
        .master(settings.spark_master)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        # pandas writes nanosecond timestamps, which Spark cannot read as timestamps: read them
        # as long (nanoseconds since the epoch); spark_jobs.series_features converts them.
        .config("spark.sql.legacy.parquet.nanosAsLong", "true")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
    )
    return builder.getOrCreate()
