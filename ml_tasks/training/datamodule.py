"""Feeding feature partitions to a network: streamed from Parquet, never copied whole into pandas.

`ParquetBatches` reads record batches file by file, encodes key columns against a fixed
vocabulary (0 = unknown) and yields ready tensors; `FeatureDataModule` wires train and
validation files into loaders for Lightning. Vocabulary and scaling statistics come from a
first pass over the training files that reads only the columns it needs. A target transform
(per-series scaling) is applied to every chunk as it is read, before the statistics and batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ml_tasks.core.lake import Lake
from ml_tasks.training.model_code import target_transform as tt


@dataclass(frozen=True)
class TabularSchema:
    """Which columns feed the network, and how key values map to embedding rows."""

    categorical: list[str]
    numeric: list[str]
    target: str
    vocab: dict[str, list[str]]

    @property
    def cardinalities(self) -> list[int]:
        return [len(self.vocab[c]) for c in self.categorical]

    def encode(self, frame: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """(categorical codes, numeric values) for a pandas frame; unknown keys map to 0."""
        cats = (
            np.stack(
                [
                    pd.Categorical(frame[c].astype("string"), categories=self.vocab[c]).codes.astype(np.int64) + 1
                    for c in self.categorical
                ],
                axis=1,
            )
            if self.categorical
            else np.zeros((len(frame), 0), dtype=np.int64)
        )
        nums = frame[self.numeric].to_numpy(dtype=np.float32, na_value=np.nan)
        return torch.from_numpy(cats), torch.from_numpy(nums)


def _columns(categorical: list[str], numeric: list[str], target: str | None, transform: dict) -> list[str]:
    """What to read: the inputs, the target, and the columns the transform's base or level come from."""
    anchors = [transform["base"], *transform.get("fallback", [])] if transform.get("kind", "none") != "none" else []
    return list(dict.fromkeys([*categorical, *numeric, *([target] if target else []), *anchors]))


def _read(lake: Lake, f: str, columns: list[str]) -> pd.DataFrame:
    with lake.fs.open(f, "rb") as fh:
        parquet = pq.ParquetFile(fh)
        return parquet.read(columns=[c for c in columns if c in parquet.schema_arrow.names]).to_pandas()


def training_target(lake: Lake, files: list[str], target: str) -> pd.Series:
    """The training target of ``files`` (a target transform learns its fill and offset from it)."""
    return pd.concat([_read(lake, f, [target])[target] for f in files], ignore_index=True).astype(float)


def scan_schema(
    lake: Lake, files: list[str], categorical: list[str], numeric: list[str], target: str, transform: dict | None = None
) -> tuple[TabularSchema, torch.Tensor, torch.Tensor]:
    """Vocabulary of the key columns and mean/std of the numeric ones (as transformed), over ``files``."""
    transform = transform or tt.NONE
    values: dict[str, set] = {c: set() for c in categorical}
    n = np.zeros(len(numeric))
    s = np.zeros(len(numeric))
    q = np.zeros(len(numeric))
    for f in files:
        frame = tt.transform_frame(_read(lake, f, _columns(categorical, numeric, None, transform)), transform)
        for c in categorical:
            values[c].update(frame[c].astype("string").dropna().unique().tolist())
        # Missing values (null or NaN) are the model's to handle (it sees a missing flag); they only
        # stay out of the scaling statistics. A column can be entirely null in a file.
        matrix = frame[numeric].to_numpy(dtype=float, na_value=np.nan) if numeric else np.zeros((len(frame), 0))
        present = ~np.isnan(matrix)
        clean = np.where(present, matrix, 0.0)
        n += present.sum(axis=0)
        s += clean.sum(axis=0)
        q += (clean * clean).sum(axis=0)
    mean = np.divide(s, n, out=np.zeros_like(s), where=n > 0)
    var = np.divide(q, n, out=np.zeros_like(q), where=n > 0) - mean**2
    schema = TabularSchema(
        categorical=categorical,
        numeric=numeric,
        target=target,
        vocab={c: sorted(v for v in values[c] if v is not None) for c in categorical},
    )
    return (
        schema,
        torch.tensor(mean, dtype=torch.float32),
        torch.tensor(np.sqrt(np.maximum(var, 0)), dtype=torch.float32),
    )


class ParquetBatches(IterableDataset):
    """Batches of (categorical, numeric, target) tensors streamed from Parquet files.

    Rows from consecutive files are pooled until a buffer of ``buffer_rows`` is full, so batches
    have ``batch_size`` rows whatever the size of the files (only the last one is smaller). With
    ``shuffle``, the file order and the rows within each buffer are permuted with a seed that
    changes every epoch, so runs are reproducible. Several loader workers split the files.
    """

    def __init__(
        self,
        lake: Lake,
        files: list[str],
        schema: TabularSchema,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        chunk_rows: int = 65_536,
        buffer_rows: int | None = None,
        transform: dict | None = None,
    ):
        self.lake, self.files, self.schema = lake, list(files), schema
        self.transform = transform or tt.NONE
        self.batch_size, self.shuffle, self.seed, self.chunk_rows = batch_size, shuffle, seed, chunk_rows
        self.buffer_rows = buffer_rows or max(16 * batch_size, chunk_rows)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        files = [self.files[i] for i in rng.permutation(len(self.files))] if self.shuffle else self.files
        info = get_worker_info()
        if info is not None:
            files = files[info.id :: info.num_workers]
        pool: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        pooled = 0
        for chunk in self._chunks(files):
            pool.append(chunk)
            pooled += len(chunk[2])
            if pooled >= self.buffer_rows:
                yield from self._drain(pool, rng, keep_remainder=True)
                pooled = sum(len(p[2]) for p in pool)
        yield from self._drain(pool, rng, keep_remainder=False)

    def _chunks(self, files):
        columns = _columns(self.schema.categorical, self.schema.numeric, self.schema.target, self.transform)
        transformed = self.transform.get("kind", "none") != "none"
        for f in files:
            with self.lake.fs.open(f, "rb") as fh:
                for record_batch in pq.ParquetFile(fh).iter_batches(batch_size=self.chunk_rows, columns=columns):
                    frame = record_batch.to_pandas()
                    if transformed:
                        target = tt.transform_target(frame, frame[self.schema.target].to_numpy(), self.transform)
                        frame = tt.transform_frame(frame, self.transform)[~np.isnan(target)]
                        target = target[~np.isnan(target)]
                    else:
                        target = frame[self.schema.target].to_numpy()
                    cats, nums = self.schema.encode(frame)
                    yield cats, nums, torch.from_numpy(np.asarray(target, dtype=np.float32))

    def _drain(self, pool, rng, keep_remainder: bool):
        """Emit full batches from the pooled rows; leave the remainder in ``pool`` if asked."""
        if not pool:
            return
        cats, nums, target = (torch.cat([p[i] for p in pool]) for i in range(3))
        pool.clear()
        n = len(target)
        order = torch.from_numpy(rng.permutation(n)) if self.shuffle else torch.arange(n)
        full = n - n % self.batch_size if keep_remainder else n
        for start in range(0, full, self.batch_size):
            idx = order[start : start + self.batch_size]
            yield cats[idx], nums[idx], target[idx]
        if keep_remainder and full < n:
            rest = order[full:]
            pool.append((cats[rest], nums[rest], target[rest]))


class FeatureDataModule(pl.LightningDataModule):
    """Train and validation loaders over feature files, with the schema the network needs."""

    def __init__(
        self,
        lake: Lake,
        train_files: list[str],
        val_files: list[str],
        categorical: list[str],
        numeric: list[str],
        target: str,
        batch_size: int = 1024,
        num_workers: int = 0,
        seed: int = 42,
        transform: dict | None = None,
    ):
        super().__init__()
        self.transform = transform or tt.NONE
        self.lake, self.train_files, self.val_files = lake, train_files, val_files
        self.columns = (categorical, numeric, target)
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.schema: TabularSchema | None = None
        self.mean: torch.Tensor | None = None
        self.std: torch.Tensor | None = None
        self._train: ParquetBatches | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.schema is None:
            if self.transform.get("kind", "none") != "none":
                self.transform = tt.fitted(
                    self.transform, training_target(self.lake, self.train_files, self.columns[2]).to_numpy()
                )
            self.schema, self.mean, self.std = scan_schema(self.lake, self.train_files, *self.columns, self.transform)

    def fitted(self) -> tuple[TabularSchema, torch.Tensor, torch.Tensor]:
        """The schema and numeric scaling (mean, std) that :meth:`setup` scanned; an error before it ran."""
        if self.schema is None or self.mean is None or self.std is None:
            raise RuntimeError("FeatureDataModule.setup() has not run: the schema and scaling are not known yet")
        return self.schema, self.mean, self.std

    def _loader(self, dataset: ParquetBatches) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=None,
            num_workers=self.num_workers,
            persistent_workers=False,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        self._train = ParquetBatches(
            self.lake,
            self.train_files,
            self.fitted()[0],
            self.batch_size,
            shuffle=True,
            seed=self.seed,
            transform=self.transform,
        )
        self._train.set_epoch(self.trainer.current_epoch if self.trainer else 0)
        return self._loader(self._train)

    def val_dataloader(self) -> DataLoader:
        return self._loader(
            ParquetBatches(self.lake, self.val_files, self.fitted()[0], self.batch_size * 4, transform=self.transform)
        )
