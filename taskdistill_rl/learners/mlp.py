"""The paper's α_c learners: MLP obs -> 64 -> 64 -> outputs, tanh, PPO-standard orthogonal init."""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn


@dataclass
class MLPLearners:
    """Distribution Λ over MLPs with one architecture and a fresh random initialisation per sample.

    Orthogonal weights with gain √2 on hidden layers and 0.01 on the output layer, zero biases
    (Huang et al.'s PPO defaults; paper §4 and Table 1's Λ).

    Args:
        in_features: flattened observation size.
        out_features: number of logits (discrete) or action dimensions (continuous).
        hidden: widths of the hidden layers.
        hidden_gain / output_gain: orthogonal-init gains.
    """

    in_features: int
    out_features: int
    hidden: tuple[int, ...] = field(default=(64, 64))
    hidden_gain: float = math.sqrt(2)
    output_gain: float = 0.01

    name = "lambda"

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.in_features < 1 or self.out_features < 1:
            raise ValueError(
                f"in_features and out_features must be >= 1, got {self.in_features}, {self.out_features}"
            )

    def spec(self) -> dict:
        """Registered name + kwargs (what the ``.pt`` file records; never code)."""
        kwargs = asdict(self)
        kwargs["hidden"] = list(self.hidden)
        return {"name": self.name, "kwargs": kwargs}

    def build(self) -> nn.Sequential:
        """The architecture, uninitialised (use :meth:`sample` for a learner)."""
        sizes = [self.in_features, *self.hidden]
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(sizes):
            layers += [nn.Linear(a, b), nn.Tanh()]
        layers.append(nn.Linear(sizes[-1], self.out_features))
        return nn.Sequential(*layers)

    @torch.no_grad()
    def sample(self, generator: torch.Generator | None = None) -> nn.Sequential:
        """A fresh learner, initialised from ``generator`` alone (reproducible when seeded).

        Built on the meta device first: ``nn.Linear``'s own default init would draw from torch's
        global RNG, and sampling a learner must not shift anyone else's random stream.
        """
        with torch.device("meta"):
            net = self.build()
        net = net.to_empty(device="cpu")
        linears = [m for m in net if isinstance(m, nn.Linear)]
        for i, layer in enumerate(linears):
            gain = self.output_gain if i == len(linears) - 1 else self.hidden_gain
            nn.init.orthogonal_(layer.weight, gain=gain, generator=generator)
            nn.init.zeros_(layer.bias)
        return net
