"""Benchmark: the Lightning training loop against a plain PyTorch loop, data loading, LightGBM fit.

Run with ``make bench-training``. Both loops train the same `TabularNet` with the same loss,
optimiser, batches (materialised once from the data module, served by the same kind of
DataLoader, so only the loops differ) and epochs; the ratio of their samples/s is Lightning's
per-step overhead. Lightning's one-off set-up per `fit` (well under a second) is not in it. The data module's streaming
throughput from Parquet and LightGBM's fit time on the same rows are reported beside them.
Results go to ``bench/results-training.json``. Runs on a GPU when there is one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml_tasks.core.lake import Lake  # noqa: E402
from ml_tasks.training.datamodule import FeatureDataModule, ParquetBatches  # noqa: E402
from ml_tasks.training.neural_net import TabularForecaster  # noqa: E402

CATEGORICAL = ["store_id", "item_id"]
NUMERIC = [f"x{i}" for i in range(16)]


def say(msg: str) -> None:
    print(msg, flush=True)


def synthetic_features(directory: Path, rows: int, files: int, seed: int = 0) -> list[str]:
    """Feature-shaped Parquet files: two key columns, 16 numeric inputs, a Poisson count target."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 0.3, len(NUMERIC))
    paths = []
    for i in range(files):
        n = rows // files
        x = rng.normal(0, 1, (n, len(NUMERIC))).astype(np.float32)
        store = rng.integers(0, 50, n)
        item = rng.integers(0, 200, n)
        rate = np.exp(0.5 + x @ weights + 0.2 * np.sin(store) + 0.1 * np.cos(item))
        frame = pd.DataFrame(x, columns=NUMERIC)
        frame.insert(0, "item_id", [f"I{v:04d}" for v in item])
        frame.insert(0, "store_id", [f"S{v:03d}" for v in store])
        frame["units"] = rng.poisson(rate).astype(np.float64)
        path = directory / f"part-{i:03d}.parquet"
        frame.to_parquet(path, index=False)
        paths.append(str(path))
    return paths


class _Batches(torch.utils.data.IterableDataset):
    """The same materialised batches for both loops, through the same kind of DataLoader."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


def _loader(batches):
    from torch.utils.data import DataLoader

    return DataLoader(_Batches(batches), batch_size=None)


def plain_loop(model: TabularForecaster, batches, epochs: int, device: str) -> float:
    net = model.net.to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=model.hparams.lr, weight_decay=model.hparams.weight_decay)
    net.train()
    seen = 0
    start = time.perf_counter()
    for _ in range(epochs):
        for cats, nums, y in _loader(batches):
            cats, nums, y = (
                cats.to(device, non_blocking=True),
                nums.to(device, non_blocking=True),
                y.to(device, non_blocking=True),
            )
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
                out = net(cats, nums).float()
            loss = torch.nn.functional.poisson_nll_loss(out, y, log_input=True)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(y)
    if device == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


def lightning_loop(model: TabularForecaster, batches, epochs: int, device: str) -> float:
    import pytorch_lightning as pl

    class LoopClock(pl.Callback):
        """Times the training loop itself; Trainer set-up and tear-down happen once per fit."""

        def on_train_start(self, trainer, pl_module):
            self.start = time.perf_counter()

        def on_train_end(self, trainer, pl_module):
            if device == "cuda":
                torch.cuda.synchronize()
            self.seconds = time.perf_counter() - self.start

    clock = LoopClock()
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=1,
        precision="bf16-mixed" if device == "cuda" else "32-true",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        callbacks=[clock],
    )
    seen = epochs * sum(len(b[2]) for b in batches)
    trainer.fit(model, train_dataloaders=_loader(batches))
    return seen / clock.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results-training.json"))
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_num_threads(os.cpu_count() or 2)
    results: dict = {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else f"cpu ({os.cpu_count()} cores)",
        "date": date.today().isoformat(),
        "rows": args.rows,
        "batch_size": args.batch_size,
    }
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-train-") as tmp:
        files = synthetic_features(Path(tmp), args.rows, files=8)
        lake = Lake(tmp)
        dm = FeatureDataModule(lake, files, files[:1], CATEGORICAL, NUMERIC, "units", batch_size=args.batch_size)
        dm.setup("fit")

        start = time.perf_counter()
        batches = list(ParquetBatches(lake, files, dm.schema, args.batch_size, shuffle=True, seed=1))
        load_s = time.perf_counter() - start
        results["data_module_rows_per_s"] = round(args.rows / load_s)
        say(f"data module: {results['data_module_rows_per_s']:,} rows/s streamed from Parquet into tensors")

        plain, light = [], []
        for r in range(args.repeats):  # interleaved, so drifts in machine speed hit both alike
            for runs, loop in ((plain, plain_loop), (light, lightning_loop)):
                torch.manual_seed(r)
                model = TabularForecaster(dm.schema.cardinalities, len(NUMERIC))
                model.net.set_scaling(dm.mean, dm.std)
                runs.append(loop(model, batches, args.epochs, device))
        results["runs"] = {"plain": [round(x) for x in plain], "lightning": [round(x) for x in light]}
        results["plain_pytorch_samples_per_s"] = round(float(np.median(plain)))
        results["lightning_samples_per_s"] = round(float(np.median(light)))
        # Paired: each Lightning run against the plain run just before it, so that the machine's
        # speed drifting between runs (large on shared 2-core VMs) cancels out.
        ratios = [lt / pt for pt, lt in zip(plain, light, strict=True)]
        results["lightning_over_plain_paired_median"] = round(float(np.median(ratios)), 4)
        results["lightning_overhead"] = round(1 - results["lightning_over_plain_paired_median"], 4)
        say(
            f"plain PyTorch: {results['plain_pytorch_samples_per_s']:,} samples/s; Lightning: "
            f"{results['lightning_samples_per_s']:,} samples/s (medians); paired ratio "
            f"{results['lightning_over_plain_paired_median']:.3f}, overhead {results['lightning_overhead']:.1%} "
            f"({args.repeats} pairs, {args.epochs} epochs each, on {device})"
        )

        import lightgbm as lgb

        frame = pd.concat(pd.read_parquet(f) for f in files)
        for c in CATEGORICAL:
            frame[c] = frame[c].astype("category")
        start = time.perf_counter()
        lgb.LGBMRegressor(
            objective="tweedie",
            n_estimators=200,
            num_leaves=63,
            verbose=-1,
            n_jobs=os.cpu_count() or 2,
            deterministic=True,
            force_row_wise=True,
        ).fit(frame[CATEGORICAL + NUMERIC], frame["units"])
        results["lightgbm_fit_s"] = round(time.perf_counter() - start, 2)
        say(f"LightGBM fit (200 trees, {len(frame):,} rows): {results['lightgbm_fit_s']}s")
    Path(args.out).write_text(json.dumps(results, indent=2))
    say(
        f"\n| loop | samples/s | vs plain PyTorch |\n|---|---|---|\n"
        f"| plain PyTorch | {results['plain_pytorch_samples_per_s']:,} | 1.00 |\n"
        f"| Lightning | {results['lightning_samples_per_s']:,} | "
        f"{results['lightning_over_plain_paired_median']:.3f} (paired median) |"
    )
    say(f"results written to {args.out}")


if __name__ == "__main__":
    main()
