"""Publishing a day on S3 (moto's server on loopback), killed at every point of its copies: no reader
ever reads part of a day or a mix of two versions, and the complete copy is never deleted; the
retired version comes back whole, or the new one is there whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from datetime import date

import pandas as pd
import pytest

from ml_tasks.core.lake import Lake, LakeError
from ml_tasks.core.settings import REPO_ROOT

from .test_s3_storage import s3_endpoint  # noqa: F401  (the moto S3 server fixture)

D = date(2026, 3, 2)
FILES = 3
# Publishes version 2 of D (FILES files) over version 1, SIGKILLed before copy number KILL_AT + 1.
KILLED_PUBLISH = r"""
import os, signal, sys
from datetime import date
import pandas as pd
from ml_tasks.core.lake import Lake
root, endpoint, kill_at, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
lake = Lake(root, {"endpoint_url": endpoint})
day = date(2026, 3, 2)
staged = lake.staging("features", "p", day)
for i in range(files):
    with lake.fs.open(f"{staged}/part-{i:05d}.parquet", "wb") as fh:
        pd.DataFrame({"version": [2] * 10}).to_parquet(fh, index=False)
fs, copies = lake.fs, []  # fsspec hands out one cached instance, whose sync methods are its own
real_copy = fs.copy
def copy_or_die(*args, **kwargs):
    if len(copies) == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    copies.append(args)
    return real_copy(*args, **kwargs)
fs.copy = copy_or_die
assert lake.fs.copy is copy_or_die
lake.publish(staged, "features", "p", day)
"""


def _version(lake: Lake) -> int | None:
    """What a reader gets for the day: None (no day) or the one version all its rows come from."""
    if not lake.exists("features", "p", D) or D not in lake.partitions("features", "p"):
        return None
    rows = lake.read_partition("features", "p", D)
    assert len(rows) == FILES * 10 and rows["version"].nunique() == 1, rows["version"].value_counts()
    return int(rows["version"].iloc[0])


# one more file than data files per version: the manifest; two copies per publish (aside, then in)
@pytest.mark.parametrize("kill_at", [0, 1, FILES, FILES + 1, FILES + 2, 2 * FILES + 1, 2 * (FILES + 1)])
def test_a_publish_killed_at_any_copy_never_shows_part_of_a_day_and_loses_nothing(
    s3_endpoint,
    tmp_path,  # noqa: F811
    kill_at,
):
    lake = Lake(f"s3://conveyor-lake/publish-{uuid.uuid4().hex[:8]}", {"endpoint_url": s3_endpoint})
    staged = lake.staging("features", "p", D)
    for i in range(FILES):
        with lake.fs.open(f"{staged}/part-{i:05d}.parquet", "wb") as fh:
            pd.DataFrame({"version": [1] * 10}).to_parquet(fh, index=False)
    lake.publish(staged, "features", "p", D)
    assert _version(lake) == 1

    script = tmp_path / "killed_publish.py"  # a file, not `-c`: pyspark exits from a `-c` main module
    script.write_text(KILLED_PUBLISH)
    run = subprocess.run(
        [sys.executable, str(script), lake.root, s3_endpoint, str(kill_at), str(FILES)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    finished = kill_at >= 2 * (FILES + 1)
    assert run.returncode == (0 if finished else -signal.SIGKILL), run.stderr[-3000:]
    lake.fs.invalidate_cache()
    seen = _version(lake)  # right after the kill: the old day whole, the new day whole, or no day
    assert seen in ((1, None) if not finished else (2,)), seen
    if seen is None:
        with pytest.raises(LakeError):
            lake.read_partition("features", "p", D)
    lake.restore_interrupted("features", "p")  # what the features DAG runs first
    lake.fs.invalidate_cache()
    assert _version(lake) == (2 if finished else 1)  # the complete copy was never deleted
