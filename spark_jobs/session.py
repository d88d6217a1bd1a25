"""Spark session for Conveyor jobs, configured from the settings object.

Local mode is tuned for small machines: a handful of shuffle partitions, adaptive query
execution, no UI, loopback only. Timestamps are UTC everywhere. The same job runs on a
standalone cluster (``spark://host:7077``) or on Kubernetes (``k8s://https://...``); only the
master URL in the settings changes. With ``spark_s3a`` the lake is read as ``s3a://`` through
Hadoop's S3A connector, pointed at the settings' S3 endpoint.
"""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlparse

from pyspark.sql import SparkSession

from ml_tasks.core.settings import ConveyorSettings


def spark_session(settings: ConveyorSettings, app_name: str) -> SparkSession:
    """Get or create the Spark session for ``app_name`` on the configured master."""
    master = settings.spark_master
    loopback = master.startswith("local") or urlparse(master).hostname in ("127.0.0.1", "localhost")
    if loopback:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers (UDFs, mapInArrow in a pipeline's feature module) run this interpreter, with
    # pyarrow and pandas: PySpark starts them from PYSPARK_PYTHON, else `python3` on the PATH,
    # whatever `spark.pyspark.python` says when the session is made from Python.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
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
        # A backfill reads hundreds of day folders and writes as many: list them on the driver
        # (a listing job per read costs seconds) and let tasks commit their files in place.
        .config("spark.sql.sources.parallelPartitionDiscovery.threshold", "4096")
        .config("spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version", "2")
        # executors run the same interpreter as the driver (a cluster on one machine, or our image)
        .config("spark.pyspark.python", sys.executable)
    )
    if loopback:
        builder = builder.config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
    else:  # executors call back to the driver at its own address (container or pod IP)
        address = socket.gethostbyname(socket.gethostname())
        builder = builder.config("spark.driver.host", address).config("spark.driver.bindAddress", address)
    if master.startswith("k8s://"):
        builder = (
            builder.config("spark.kubernetes.container.image", settings.spark_image)
            .config("spark.kubernetes.namespace", settings.spark_namespace)
            .config("spark.submit.deployMode", "client")
        )
    if settings.spark_s3a:
        builder = builder.config("spark.hadoop.fs.s3a.path.style.access", "true").config(
            "spark.hadoop.fs.s3a.aws.credentials.provider",
            "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider",
        )
        if settings.s3_endpoint_url:
            builder = builder.config("spark.hadoop.fs.s3a.endpoint", settings.s3_endpoint_url)
    return builder.getOrCreate()
