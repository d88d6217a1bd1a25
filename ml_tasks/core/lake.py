"""The data lake: one storage layer for raw, features, predictions and quarantine partitions (and each
day's history, :mod:`ml_tasks.data.day_history`).

Layout: ``<lake>/<zone>/<pipeline>/dt=YYYY-MM-DD/``. Locations are fsspec URIs (a local path
or ``s3://...``). Writers never write where readers look: they write into a hidden staging
folder beside the partition and publish it, and re-running an interval replaces the partition
whole. A day of the raw, features and predictions zones is published when its manifest is there
(:mod:`ml_tasks.core.manifest`: its files, sizes and sha256, copied last and deleted first), so
on an object store, where a publish is a copy, no reader sees a day half copied, and a file
changed after publishing is refused by name.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import fsspec
import pandas as pd

from ml_tasks.core import failpoints, manifest
from ml_tasks.core.names import checked_pipeline_name

RETIRED = "_retired-dt="  # an earlier version of a partition, moved aside while the new one goes in

ZONES = ("raw", "features", "predictions", "quarantine", "history")
PUBLISHED_ZONES = ("raw", "features", "predictions")  # a day there exists when its manifest does


class LakeError(RuntimeError):
    """A partition is missing or unreadable."""


@dataclass(frozen=True)
class Lake:
    """Paths and atomic partition I/O under one lake root URI."""

    root: str
    storage_options: dict = field(default_factory=dict)
    spark_s3a: bool = False

    @classmethod
    def from_settings(cls, settings) -> Lake:
        """The lake the settings name: root URI, S3 endpoint, whether Spark speaks S3 itself."""
        return cls(settings.lake_uri, settings.storage_options, settings.spark_s3a)

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        fs, _ = fsspec.core.url_to_fs(self.root, **self.storage_options)
        return fs

    @property
    def is_remote(self) -> bool:
        return "://" in self.root and not self.root.startswith("file://")

    def zone(self, zone: str, pipeline: str) -> str:
        """A pipeline's folder of a zone; the name is checked first, so no path leaves the zone."""
        if zone not in ZONES:
            raise ValueError(f"unknown lake zone {zone!r}; expected one of {ZONES}")
        return f"{self.root.rstrip('/')}/{zone}/{checked_pipeline_name(pipeline)}"

    def partition(self, zone: str, pipeline: str, dt: date) -> str:
        return f"{self.zone(zone, pipeline)}/dt={dt.isoformat()}"

    def staging(self, zone: str, pipeline: str, dt: date) -> str:
        """A fresh hidden folder next to the partition; readers skip names starting with '_'."""
        return f"{self.zone(zone, pipeline)}/_staging-dt={dt.isoformat()}-{uuid.uuid4().hex[:8]}"

    def exists(self, zone: str, pipeline: str, dt: date) -> bool:
        """Whether the day is there: published (with its manifest) in the raw, features and predictions zones."""
        path = self.partition(zone, pipeline, dt)
        return self.fs.exists(f"{path}/{manifest.MANIFEST}" if zone in PUBLISHED_ZONES else path)

    def partitions(self, zone: str, pipeline: str) -> list[date]:
        """Dates of the published partitions of a zone, oldest first."""
        base = self.zone(zone, pipeline)
        if not self.fs.exists(base):
            return []
        found = []
        if zone in PUBLISHED_ZONES:  # one listing for the manifests of every day
            entries = [m.rstrip("/").rsplit("/", 1)[0] for m in self.fs.glob(f"{base}/dt=*/{manifest.MANIFEST}")]
        else:
            entries = self.fs.ls(base, detail=False)
        for entry in entries:
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            if name.startswith("dt="):
                try:
                    found.append(date.fromisoformat(name[3:]))
                except ValueError:
                    continue
        return sorted(found)

    def unsealed(self, zone: str, pipeline: str) -> list[str]:
        """Day folders of a zone without a manifest: cut short, or written before manifests existed."""
        base = self.zone(zone, pipeline)
        if zone not in PUBLISHED_ZONES or not self.fs.exists(base):
            return []
        return sorted(
            e.rstrip("/")
            for e in self.fs.ls(base, detail=False)
            if e.rstrip("/").rsplit("/", 1)[-1].startswith("dt=") and manifest.read(self.fs, e) is None
        )

    def publish(self, staged: str, zone: str, pipeline: str, dt: date) -> str:
        """Move a staged folder into place as the partition, replacing any earlier version.

        The earlier version is first moved aside as ``_retired-dt=...``; a publish killed between
        the two moves leaves it there, which the next publish of the day removes once the new
        version is in, and :meth:`restore_interrupted` puts back if no new version comes.
        """
        target = self.partition(zone, pipeline, dt)
        fs = self.fs
        manifest.seal(fs, staged)  # before any move: what the day is, fixed while only this writer sees it
        retired = None
        if fs.exists(target) and manifest.read(fs, target) is None:
            fs.rm(target, recursive=True)  # part of a copy a killed publish left: not a day, never read
        elif fs.exists(target):
            retired = f"{self.zone(zone, pipeline)}/{RETIRED}{dt.isoformat()}-{uuid.uuid4().hex[:8]}"
            self.move(target, retired)
        self.move(staged, target)
        if retired:
            fs.rm(retired, recursive=True)
        for old in self._retired(zone, pipeline, dt):  # left by an interrupted publish of this day
            fs.rm(old, recursive=True)
        self._drop_empty_staging_root(staged)
        return target

    def _retired(self, zone: str, pipeline: str, dt: date | None = None) -> list[str]:
        base = self.zone(zone, pipeline)
        if not self.fs.exists(base):
            return []
        prefix = RETIRED + (dt.isoformat() if dt else "")
        return sorted(
            e.rstrip("/") for e in self.fs.ls(base, detail=False) if e.rstrip("/").rsplit("/", 1)[-1].startswith(prefix)
        )

    def restore_interrupted(self, zone: str, pipeline: str) -> list[date]:
        """Put back the versions a publish killed between its two moves left aside; returns the days.

        A day with a published version keeps it (the aside copy is older and is removed); a day
        without one gets its aside copy back when that copy is whole (has its manifest), replacing
        any part of a copy under the day's name, so a killed publish never loses the day and never
        deletes its only complete copy.
        """
        restored, fs = [], self.fs
        for old in self._retired(zone, pipeline):
            day = date.fromisoformat(old.rsplit("/", 1)[-1][len(RETIRED) : len(RETIRED) + 10])
            target = self.partition(zone, pipeline, day)
            if self.exists(zone, pipeline, day) or manifest.read(fs, old) is None:
                fs.rm(old, recursive=True)  # older than the published day, or itself cut short
                continue
            if fs.exists(target):
                fs.rm(target, recursive=True)  # part of a copy, no manifest: not the day
            self.move(old, target)
            restored.append(day)
        return restored

    def move(self, src: str, dst: str) -> None:
        """A rename on a file system; on an object store, a copy of every object and a delete."""
        fs = self.fs
        if not self.is_remote:
            fs.mv(src, dst, recursive=True)
            return
        base = fs._strip_protocol(src).rstrip("/")
        marker = f"{base}/{manifest.MANIFEST}"
        for obj in sorted(fs.find(src), key=lambda o: o == marker):  # the manifest last: the copy is whole
            failpoints.reached("lake.object_copy")
            fs.copy(obj, f"{dst.rstrip('/')}/{obj[len(base) + 1 :]}")
        if fs.exists(marker):
            fs.rm(marker)  # first: the source stops being a day before any of its files go
        fs.rm(src, recursive=True)
        fs.invalidate_cache()

    def _drop_empty_staging_root(self, staged: str) -> None:
        """Remove a multi-day staging root once its last day has been published."""
        parent = staged.rstrip("/").rsplit("/", 1)[0]
        if not parent.rsplit("/", 1)[-1].startswith("_staging-"):
            return
        fs = self.fs
        if not fs.exists(parent):  # an object store has no empty folders
            return
        left = [p for p in fs.ls(parent, detail=False) if p.rstrip("/").rsplit("/", 1)[-1].startswith("dt=")]
        if not left:
            fs.rm(parent, recursive=True)

    def write_partition(self, df: pd.DataFrame, zone: str, pipeline: str, dt: date) -> str:
        """Atomically write one pandas partition as a single Parquet file."""
        staged = self.staging(zone, pipeline, dt)
        fs = self.fs
        fs.makedirs(staged, exist_ok=True)
        with fs.open(f"{staged}/part-00000.parquet", "wb") as fh:
            df.to_parquet(fh, index=False)
        return self.publish(staged, zone, pipeline, dt)

    def write_json(self, folder: str, name: str, obj) -> str:
        """Write a small JSON side file into a (staged) folder; names starting with '_' are not data."""
        import json

        path = f"{folder.rstrip('/')}/{name}"
        with self.fs.open(path, "w") as fh:
            json.dump(obj, fh, indent=1, default=str)
        return path

    def read_json(self, path: str):
        """A JSON side file, or None when there is none."""
        import json

        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "r") as fh:
            return json.load(fh)

    def _published_day(self, path: str) -> bool:
        """Whether ``path`` is a day's folder in a zone whose days need a manifest."""
        head, _, name = path.rstrip("/").rpartition("/")
        zone = head.rsplit("/", 2)[-2] if head.count("/") >= 2 else ""
        return name.startswith("dt=") and zone in PUBLISHED_ZONES and head.startswith(self.root.rstrip("/"))

    def parquet_files(self, path: str) -> list[str]:
        """The data files of a partition folder: a published day's from its manifest (each checked to be
        there with its size), any other folder's found by listing (hidden and marker files skipped)."""
        return list(self.data_files(path))

    def data_files(self, path: str) -> dict[str, dict | None]:
        """:meth:`parquet_files` with each file's manifest entry (None for a folder without a manifest)."""
        fs = self.fs
        if not fs.exists(path):
            raise LakeError(f"partition not found: {path}")
        listed = manifest.read(fs, path)
        if listed is not None:
            try:
                files = manifest.listed_files(fs, path, listed)
            except manifest.ManifestError as exc:
                raise LakeError(str(exc)) from None
            return dict(zip(files, (listed["files"][n] for n in sorted(listed["files"])), strict=True))
        if self._published_day(path):
            raise LakeError(
                f"partition not found: {path} has no {manifest.MANIFEST} (a publish cut short, or "
                "files put there by hand; `conveyor seal` adopts a folder that is whole)"
            )
        files = sorted(f for f in fs.find(path) if not f.rsplit("/", 1)[-1].startswith(("_", ".")))
        if not files:
            raise LakeError(f"partition has no data files: {path}")
        return dict.fromkeys(files)

    def row_count(self, path: str) -> int:
        """Rows in a Parquet folder (a partition, a staged day), from the file footers alone."""
        import pyarrow.parquet as pq

        total = 0
        for f in self.parquet_files(path):
            with self.fs.open(f, "rb") as fh:
                total += pq.ParquetFile(fh).metadata.num_rows
        return total

    def read_partition(self, zone: str, pipeline: str, dt: date, columns: list[str] | None = None) -> pd.DataFrame:
        """Read one partition into pandas (small partitions only: raw days, predictions)."""
        return self.read_folder(self.partition(zone, pipeline, dt), columns)

    def read_folder(self, path: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Read the Parquet files of one folder (a partition, a staged day) into pandas."""
        import io

        frames = []
        fs = self.fs
        for f, facts in self.data_files(path).items():
            with fs.open(f, "rb") as fh:
                data = fh.read()
            if facts is not None:
                try:
                    manifest.check_bytes(f, data, facts)
                except manifest.ManifestError as exc:
                    raise LakeError(str(exc)) from None
            frames.append(pd.read_parquet(io.BytesIO(data), columns=columns))
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def read_range(self, zone: str, pipeline: str, dates: list[date], columns: list[str] | None = None) -> pd.DataFrame:
        """Read several partitions into one pandas frame, adding no columns."""
        return pd.concat((self.read_partition(zone, pipeline, d, columns) for d in dates), ignore_index=True)

    def local_path(self, uri: str) -> str:
        """The path Spark uses for a lake URI (s3:// becomes s3a:// for Hadoop's S3A connector)."""
        if uri.startswith("s3://"):
            return "s3a://" + uri[len("s3://") :]
        return uri

    @property
    def spark_reads_directly(self) -> bool:
        return not self.is_remote or (self.root.startswith("s3://") and self.spark_s3a)

    @contextmanager
    def spark_inputs(self, uris: list[str]) -> Iterator[list[str]]:
        """Paths Spark can read for these lake folders, valid inside the ``with`` block.

        Local lakes and S3 with the S3A connector are read in place. Without the connector the
        folders are copied to a local scratch folder first (one job's partitions, not the lake).
        A published day must have its manifest and every listed file at its size, or nothing is read.
        """
        for uri in uris:
            if self._published_day(uri):
                self.parquet_files(uri)
        if self.spark_reads_directly:
            yield [self.local_path(u) for u in uris]
            return
        scratch = tempfile.mkdtemp(prefix="conveyor-spark-in-")
        try:
            local = []
            for i, uri in enumerate(uris):
                target = f"{scratch}/{i:05d}-{uri.rstrip('/').rsplit('/', 1)[-1]}"
                self.fs.get(uri.rstrip("/") + "/", target + "/", recursive=True)
                local.append(target)
            yield local
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    @contextmanager
    def spark_output(self, uri: str) -> Iterator[str]:
        """A path Spark writes to that ends up at ``uri`` when the block finishes without error."""
        if self.spark_reads_directly:
            yield self.local_path(uri)
            return
        scratch = tempfile.mkdtemp(prefix="conveyor-spark-out-")
        try:
            out = f"{scratch}/out"
            yield out
            for path in sorted(Path(out).rglob("*")):
                if path.is_file() and not path.name.startswith((".", "_")):
                    dest = f"{uri.rstrip('/')}/{path.relative_to(out).as_posix()}"
                    self.fs.put_file(str(path), dest)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
