"""Observation normalisation, frozen into distilled files (MuJoCo, as PPO usually does).

The formula and constants are stable-baselines3 ``VecNormalize``'s, so a frozen ``VecNormalize``
holding a file's statistics feeds an SB3 policy exactly what the file's learners were taught on.
"""

from __future__ import annotations

import torch
from torch import nn

EPSILON = 1e-8  # VecNormalize(epsilon=1e-8)
CLIP = 10.0  # VecNormalize(clip_obs=10.0)
INITIAL_COUNT = 1e-4  # SB3 RunningMeanStd(epsilon=1e-4)


def normalize(obs: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """``clip((obs - mean) / sqrt(var + 1e-8), -10, 10)``, as SB3's ``VecNormalize``."""
    out = (obs - mean.to(obs.dtype)) / torch.sqrt(var.to(obs.dtype) + EPSILON)
    return out.clamp(-CLIP, CLIP)


@torch.no_grad()
def merge_moments(
    mean: torch.Tensor,
    var: torch.Tensor,
    count: torch.Tensor,
    b_mean: torch.Tensor,
    b_var: torch.Tensor,
    b_count,
) -> None:
    """Fold a batch's (mean, biased variance, count) into running ones in place: the parallel merge,
    which also combines statistics gathered on several processes."""
    m, v, n = mean.to(torch.float64), var.to(torch.float64), count.to(torch.float64)
    delta, total = b_mean - m, n + b_count
    new_mean = m + delta * b_count / total
    new_var = (v * n + b_var * b_count + delta.square() * n * b_count / total) / total
    mean.copy_(new_mean)
    var.copy_(new_var)
    count.copy_(total)


class NormalizedInput(nn.Module):
    """``net(dataset.normalize(obs))``: a network that sees observations as the file's learners do.
    The dataset is referenced, not registered, so its tensors never join this module's."""

    def __init__(self, net: nn.Module, dataset):
        super().__init__()
        self.net = net
        self.__dict__["dataset"] = dataset

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(self.dataset.normalize(obs))
