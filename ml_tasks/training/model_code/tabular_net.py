"""The neural forecaster's network: embeddings for the key columns, an MLP over the rest.

Pure PyTorch with no Lightning or Conveyor imports, so that MLflow can store this file with a
model and rebuild the network anywhere torch is installed. Numeric inputs are standardised
inside the network (the statistics are buffers), so a saved state dict carries them along.
The output is a log-rate; predictions are ``exp(output)``, which keeps forecasts positive and
suits count data (trained with a Poisson loss).
"""

from __future__ import annotations

import torch
from torch import nn


class TabularNet(nn.Module):
    mean: torch.Tensor  # buffers (registered in __init__): the numeric inputs' scaling statistics
    std: torch.Tensor

    def __init__(
        self,
        cardinalities: list[int],
        n_numeric: int,
        embedding_dim: int = 8,
        hidden: tuple[int, ...] = (128, 64),
        dropout: float = 0.1,
    ):
        super().__init__()
        # index 0 of every vocabulary is "unknown": keys never seen in training
        self.embeddings = nn.ModuleList(nn.Embedding(c + 1, embedding_dim) for c in cardinalities)
        self.register_buffer("mean", torch.zeros(n_numeric))
        self.register_buffer("std", torch.ones(n_numeric))
        layers: list[nn.Module] = []
        width = embedding_dim * len(cardinalities) + 2 * n_numeric  # values + missing flags
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def set_scaling(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean)
        self.std.copy_(torch.where(std > 0, std, torch.ones_like(std)))

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        missing = torch.isnan(numeric)
        scaled = torch.where(missing, torch.zeros_like(numeric), (numeric - self.mean) / self.std)
        parts = [emb(categorical[:, i]) for i, emb in enumerate(self.embeddings)]
        parts += [scaled, missing.to(scaled.dtype)]
        return self.mlp(torch.cat(parts, dim=1)).squeeze(-1)
