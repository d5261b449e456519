"""Learners whose architecture is drawn too: Table 1's "Random h" and "Random L" columns."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.learners.mlp import MLPLearners


@dataclass
class RandomMLPLearners:
    """MLPs with a random hidden width and depth per sample, Λ's initialisation otherwise.

    Args:
        in_features: as :class:`MLPLearners` (or give ``obs_shape``).
        out_features: as :class:`MLPLearners`.
        widths: inclusive range of the hidden width (one width shared by all hidden layers).
        depths: inclusive range of the number of hidden layers.
        hidden_gain: as :class:`MLPLearners`.
        output_gain: as :class:`MLPLearners`.
        init: as :class:`MLPLearners`.
        name: the registered name.
        obs_shape: as :class:`MLPLearners`.
    """

    in_features: int | None = None
    out_features: int = 0
    widths: tuple[int, int] = (64, 64)
    depths: tuple[int, int] = (2, 2)
    hidden_gain: float = math.sqrt(2)
    output_gain: float = 0.01
    init: str = "orthogonal"
    name: str = "random-h"
    obs_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        # the sizes are validated (and obs_shape / in_features completed) the MLPLearners way
        probe = MLPLearners(self.in_features, self.out_features, obs_shape=self.obs_shape, hidden=())
        self.in_features, self.obs_shape = probe.in_features, probe.obs_shape
        self.widths, self.depths = tuple(self.widths), tuple(self.depths)
        for label, (lo, hi), least in (("widths", self.widths, 1), ("depths", self.depths, 0)):
            if not least <= lo <= hi:
                raise InvalidInputError(
                    f"{label} must be an inclusive range [lo, hi] with {least} <= lo <= hi"
                )

    def spec(self) -> dict:
        kwargs = asdict(self)
        kwargs["widths"], kwargs["depths"] = list(self.widths), list(self.depths)
        kwargs["obs_shape"] = list(self.obs_shape)
        del kwargs["in_features"]
        return {"name": kwargs.pop("name"), "kwargs": kwargs}

    def architecture(self, generator: torch.Generator | None = None) -> MLPLearners:
        """Draw a width and a depth (uniform integers): the fixed-architecture distribution."""
        width = int(torch.randint(self.widths[0], self.widths[1] + 1, (), generator=generator))
        depth = int(torch.randint(self.depths[0], self.depths[1] + 1, (), generator=generator))
        return MLPLearners(
            out_features=self.out_features,
            obs_shape=self.obs_shape,
            hidden=(width,) * depth,
            hidden_gain=self.hidden_gain,
            output_gain=self.output_gain,
            init=self.init,
            name=self.name,
        )

    def build(self) -> nn.Sequential:
        raise InvalidInputError(
            f"{self.name!r} has no single architecture; distil for a fixed-architecture Λ"
        )

    def sample(self, generator: torch.Generator | None = None) -> nn.Sequential:
        """A fresh learner: an architecture and an initialisation, both from ``generator``."""
        return self.architecture(generator).sample(generator)

    def sample_stacked(self, n: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        raise InvalidInputError(
            f"{self.name!r} draws a different architecture per learner: sample them one by one"
        )
