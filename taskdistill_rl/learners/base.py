"""What a learner distribution Λ is, for everything that trains, fits or evaluates learners.

A distribution samples freshly initialised policy networks for one observation shape. The
networks are ``nn.Sequential`` stacks, so the encoder rollback split of paper §5 (Algorithm 2) is
a slice: layers ``[0, l)`` are the encoder the outer loop learns, layers ``[l, L)`` the head that
every fresh learner re-samples and that the inner step trains.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

from taskdistill_rl.errors import InvalidInputError

Params = dict[str, torch.Tensor]


@runtime_checkable
class LearnerDistribution(Protocol):
    """The learner protocol. ``MLPLearners`` and ``RandomMLPLearners`` implement it.

    Attributes:
        name: the registered name (what a ``.pt`` file records, with :meth:`spec`).
        obs_shape: the shape of one observation the learners take.
        out_features: logits (discrete) or action dimensions (continuous).
    """

    name: str
    obs_shape: tuple[int, ...]
    out_features: int

    def spec(self) -> dict:
        """``{"name", "kwargs"}``: rebuilds this distribution through ``make_learners``."""

    def build(self) -> nn.Sequential:
        """The architecture, uninitialised (a skeleton for ``functional_call``)."""

    def sample(self, generator: torch.Generator | None = None) -> nn.Sequential:
        """A fresh learner θ⁰, drawn from ``generator`` alone."""

    def sample_stacked(self, n: int, generator: torch.Generator | None = None) -> Params:
        """``n`` fresh learners' parameters stacked on a leading dimension (one architecture)."""


def layer_starts(module: nn.Sequential) -> list[int]:
    """Child index where each parametric layer begins. Parameter-free children (activations,
    ``Flatten``) belong to the layer before them; leading ones belong to the first layer."""
    starts = [i for i, child in enumerate(module) if any(True for _ in child.parameters(recurse=True))]
    if starts:
        starts[0] = 0
    return starts


def split_learner(module: nn.Sequential, encoder_layers: int) -> tuple[nn.Sequential, nn.Sequential]:
    """``(encoder, head)``: layers ``[0, encoder_layers)`` and the rest, as slices of ``module``
    (parameter names keep the full module's, e.g. ``"2.weight"``). ``encoder_layers=0`` gives an
    empty encoder (the identity): full distillation; all layers give an empty head: direct RL
    (the outer loop trains the whole network, the inner step has nothing to fit)."""
    if not isinstance(module, nn.Sequential):
        raise InvalidInputError(
            f"encoder rollback needs an nn.Sequential learner, got {type(module).__name__}"
        )
    starts = layer_starts(module)
    if not 0 <= encoder_layers <= len(starts):
        raise InvalidInputError(
            f"encoder_layers must be in [0, {len(starts)}] for a learner of {len(starts)} layers, "
            f"got {encoder_layers}"
        )
    if encoder_layers == len(starts):
        return module, module[len(module) :]
    cut = starts[encoder_layers] if encoder_layers else 0
    return module[:cut], module[cut:]
