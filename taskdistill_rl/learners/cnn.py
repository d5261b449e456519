"""The image learners: the Atari learner α_a, the Nature-CNN of Huang et al.'s PPO (paper §5 and
appendix A), and MinAtar's.

Conv 32×8 stride 4, Conv 64×4 stride 2, Conv 64×3 stride 1, Linear 3136→512, Linear 512→c, ReLU
between them; orthogonal weights with gain √2 (0.01 on the output layer), zero biases. Five
parametric layers, so encoder rollback's ``l`` runs from 0 (full distillation) to 5 (direct RL:
the whole network is the encoder the outer loop trains).

As an ``nn.Sequential`` its children are ``0`` Conv, ``1`` ReLU, ``2`` Conv, ``3`` ReLU,
``4`` Conv, ``5`` ReLU, ``6`` Flatten, ``7`` Linear, ``8`` ReLU, ``9`` Linear: parameter names
(``"0.weight"``, ...) match the paper authors' published state dicts.

The MinAtar learner is the network of MinAtar's own examples (Young & Tian 2019): Conv 16×3
stride 1, no padding (10×10 → 8×8, 1,024 features), Linear 1024→128, Linear 128→c, ReLU. Its
initialisation is our choice: the Nature-CNN's orthogonal one (√2; 0.01 on the output layer),
where the examples keep PyTorch's default. Three parametric layers: rollback's ``l`` is 0 to 3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from taskdistill_rl.errors import InvalidInputError

CONVS = ((32, 8, 4), (64, 4, 2), (64, 3, 1))  # (out channels, kernel, stride)
HIDDEN = 512


def _conv_out(size: int, convs: tuple = CONVS) -> int:
    for _, kernel, stride in convs:
        size = (size - kernel) // stride + 1
    return size


@dataclass
class NatureCNNLearners:
    """Nature-CNNs for ``obs_shape = (channels, height, width)``, each sample a fresh init.

    Args:
        obs_shape: one observation, ``(4, 84, 84)`` for stacked Atari frames.
        out_features: logits (one per action), or 1 for a critic.
        hidden_gain: orthogonal gain of every layer but the last (√2).
        output_gain: orthogonal gain of the last layer (0.01 for a policy, 1 for a critic).
        name: the registered name this distribution goes by.
    """

    obs_shape: tuple[int, ...] = (4, 84, 84)
    out_features: int = 0
    hidden_gain: float = math.sqrt(2)
    output_gain: float = 0.01
    name: str = "nature-cnn"
    #: the convolutions (out channels, kernel, stride) and the hidden layer's width
    convs: ClassVar[tuple] = CONVS
    hidden: ClassVar[int] = HIDDEN
    title: ClassVar[str] = "a Nature-CNN"

    def __post_init__(self) -> None:
        self.obs_shape = tuple(int(d) for d in self.obs_shape)
        if len(self.obs_shape) != 3 or min(self.obs_shape) < 1:
            raise InvalidInputError(
                f"{self.title} takes (channels, height, width) images, got {self.obs_shape}"
            )
        if min(_conv_out(self.obs_shape[1], self.convs), _conv_out(self.obs_shape[2], self.convs)) < 1:
            smallest = _smallest_image(self.convs)
            raise InvalidInputError(
                f"images {self.obs_shape[1:]} are too small for {self.title} (at least {smallest}x{smallest})"
            )
        if self.out_features < 1:
            raise InvalidInputError(f"out_features must be >= 1, got {self.out_features}")

    def spec(self) -> dict:
        """Registered name + kwargs (what the ``.pt`` file records; never code)."""
        return {
            "name": self.name,
            "kwargs": {
                "obs_shape": list(self.obs_shape),
                "out_features": self.out_features,
                "hidden_gain": self.hidden_gain,
                "output_gain": self.output_gain,
            },
        }

    def build(self) -> nn.Sequential:
        """The architecture, uninitialised (use :meth:`sample` for a learner)."""
        layers: list[nn.Module] = []
        channels = self.obs_shape[0]
        for out, kernel, stride in self.convs:
            layers += [nn.Conv2d(channels, out, kernel, stride), nn.ReLU()]
            channels = out
        # 3136 features at 84x84 for the Nature-CNN, 1024 at 10x10 for MinAtar's
        flat = channels * _conv_out(self.obs_shape[1], self.convs) * _conv_out(self.obs_shape[2], self.convs)
        layers += [
            nn.Flatten(-3),
            nn.Linear(flat, self.hidden),
            nn.ReLU(),
            nn.Linear(self.hidden, self.out_features),
        ]
        return nn.Sequential(*layers)

    @torch.no_grad()
    def sample(self, generator: torch.Generator | None = None) -> nn.Sequential:
        """A fresh learner drawn from ``generator`` alone (built on the meta device, so torch's
        global RNG is not touched when a generator is given)."""
        with torch.device("meta"):
            net = self.build()
        net = net.to_empty(device="cpu")
        layers = [m for m in net if isinstance(m, (nn.Conv2d, nn.Linear))]
        for i, layer in enumerate(layers):
            gain = self.output_gain if i == len(layers) - 1 else self.hidden_gain
            nn.init.orthogonal_(layer.weight, gain=gain, generator=generator)
            nn.init.zeros_(layer.bias)
        return net

    def sample_stacked(self, n: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """``n`` fresh learners' parameters stacked on a leading dimension (drawn one by one, in
        the order :meth:`sample` draws them)."""
        nets = [dict(self.sample(generator).named_parameters()) for _ in range(n)]
        return {name: torch.stack([net[name] for net in nets]) for name in nets[0]}


def _smallest_image(convs: tuple) -> int:
    size = 1
    while _conv_out(size, convs) < 1:
        size += 1
    return size


@dataclass
class MinAtarCNNLearners(NatureCNNLearners):
    """MinAtar's learners for ``obs_shape = (channels, 10, 10)`` (module docstring), each sample a
    fresh orthogonal init; arguments as :class:`NatureCNNLearners`."""

    obs_shape: tuple[int, ...] = (4, 10, 10)
    name: str = "minatar-cnn"
    convs: ClassVar[tuple] = ((16, 3, 1),)
    hidden: ClassVar[int] = 128
    title: ClassVar[str] = "the MinAtar CNN"
