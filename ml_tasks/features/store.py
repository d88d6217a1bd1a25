"""Reading published feature partitions: the rows of some days, and a fingerprint of their files."""

from __future__ import annotations

import hashlib
from datetime import date

import pandas as pd

from ml_tasks.core.lake import Lake, LakeError
from ml_tasks.core.spec import PipelineSpec


def load_features(lake: Lake, spec: PipelineSpec, dates: list[date]) -> pd.DataFrame:
    """The feature rows of ``dates`` with a ``dt`` column (the row's UTC day)."""
    df = lake.read_range("features", spec.name, dates)
    df["dt"] = pd.to_datetime(df[spec.data.timestamp], utc=True).dt.date
    return df


def partitions_fingerprint(lake: Lake, spec: PipelineSpec, dates: list[date]) -> str:
    """SHA-256 over the bytes of every feature file used, in a fixed order; each file is checked against
    its day's manifest on the way (a file changed after publishing is refused with its name)."""
    digest = hashlib.sha256()
    fs = lake.fs
    for d in dates:
        for f, facts in lake.data_files(lake.partition("features", spec.name, d)).items():
            digest.update(f.rsplit("/", 1)[-1].encode())
            own = hashlib.sha256()
            with fs.open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
                    own.update(chunk)
            if facts is not None and own.hexdigest() != facts["sha256"]:
                raise LakeError(
                    f"{f}: its sha256 is not the one in the day's manifest: the file was changed after "
                    "the day was published (corrupt); publish the day again (`conveyor backfill-features` "
                    "or a features run for that dt)"
                )
    return digest.hexdigest()
