"""MLP learners: the paper's α_c (obs -> 64 -> 64 -> outputs, tanh) and its initialisation variants."""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from taskdistill_rl.errors import InvalidInputError

INITS = ("orthogonal", "xavier_normal")


def init_linear(layer: nn.Linear, init: str, gain: float, generator: torch.Generator | None) -> None:
    """``nn.init.orthogonal_`` or ``nn.init.xavier_normal_`` with ``gain``; zero bias.

    Per-weight std: orthogonal ``gain / sqrt(max(fan_in, fan_out))``, Xavier-normal
    ``gain * sqrt(2 / (fan_in + fan_out))``.
    """
    if init == "orthogonal":
        nn.init.orthogonal_(layer.weight, gain=gain, generator=generator)
    elif init == "xavier_normal":
        nn.init.xavier_normal_(layer.weight, gain=gain, generator=generator)
    else:
        raise InvalidInputError(f"init must be one of {INITS}, got {init!r}")
    nn.init.zeros_(layer.bias)


def weight_std(init: str, gain: float, fan_in: int, fan_out: int) -> float:
    """The std of a weight drawn by :func:`init_linear` (Xavier-normal draws with it)."""
    if init == "orthogonal":
        return gain / math.sqrt(max(fan_in, fan_out))
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


@torch.no_grad()
def init_stacked(n: int, fan_in: int, fan_out: int, init: str, gain: float, generator) -> torch.Tensor:
    """``n`` weight matrices ``[n, fan_out, fan_in]`` drawn as :func:`init_linear` draws one, in
    batched ops (the same construction as ``nn.init.orthogonal_``: QR of a Gaussian, signs fixed)."""
    if init == "xavier_normal":
        return torch.randn(n, fan_out, fan_in, generator=generator) * weight_std(init, gain, fan_in, fan_out)
    if init != "orthogonal":
        raise InvalidInputError(f"init must be one of {INITS}, got {init!r}")
    flat = torch.randn(n, fan_out, fan_in, generator=generator)
    wide = fan_out < fan_in
    q, r = torch.linalg.qr(flat.mT if wide else flat)
    q = q * torch.diagonal(r, dim1=-2, dim2=-1).sign().unsqueeze(-2)
    return (q.mT if wide else q) * gain


@dataclass
class MLPLearners:
    """MLPs of one architecture, each sample a fresh random initialisation.

    The defaults are Λ, the distribution the paper distils for: two hidden layers of 64, tanh,
    orthogonal weights with gain √2 on hidden layers and 0.01 on the output layer, zero biases
    (Huang et al.'s PPO defaults; paper §4 and Table 1).

    Args:
        in_features: flattened observation size (or give ``obs_shape``).
        out_features: number of logits (discrete) or action dimensions (continuous).
        obs_shape: shape of one observation; observations with more than one dimension are
            flattened by the network's first module.
        hidden: widths of the hidden layers (``()``: a linear learner).
        hidden_gain: init gain of the hidden layers.
        output_gain: init gain of the output layer.
        init: ``"orthogonal"`` or ``"xavier_normal"``.
        name: the registered name this distribution goes by.
    """

    in_features: int | None = None
    out_features: int = 0
    hidden: tuple[int, ...] = field(default=(64, 64))
    hidden_gain: float = math.sqrt(2)
    output_gain: float = 0.01
    init: str = "orthogonal"
    name: str = "lambda"
    obs_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.obs_shape is None:
            if self.in_features is None:
                raise InvalidInputError("give the learners' obs_shape (or in_features)")
            self.obs_shape = (int(self.in_features),)
        self.obs_shape = tuple(int(d) for d in self.obs_shape)
        flat = math.prod(self.obs_shape)
        if self.in_features is not None and self.in_features != flat:
            raise InvalidInputError(f"in_features {self.in_features} != prod(obs_shape {self.obs_shape})")
        self.in_features = flat
        if self.in_features < 1 or self.out_features < 1 or any(h < 1 for h in self.hidden):
            raise InvalidInputError(
                f"layer sizes must be >= 1, got in {self.in_features}, hidden {self.hidden}, "
                f"out {self.out_features}"
            )
        if self.init not in INITS:
            raise InvalidInputError(f"init must be one of {INITS}, got {self.init!r}")

    def spec(self) -> dict:
        """Registered name + kwargs (what the ``.pt`` file records; never code)."""
        kwargs = asdict(self)
        kwargs["hidden"], kwargs["obs_shape"] = list(self.hidden), list(self.obs_shape)
        del kwargs["in_features"]  # derived from obs_shape
        return {"name": kwargs.pop("name"), "kwargs": kwargs}

    def build(self) -> nn.Sequential:
        """The architecture, uninitialised (use :meth:`sample` for a learner)."""
        sizes = [self.in_features, *self.hidden]
        layers: list[nn.Module] = [nn.Flatten(-len(self.obs_shape))] if len(self.obs_shape) > 1 else []
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
            init_linear(layer, self.init, gain, generator)
        return net

    def sample_stacked(self, n: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """``n`` fresh learners' parameters, stacked along a leading dimension (for populations:
        no ``n`` modules to build and stack). Keys are those of :meth:`build`'s parameters."""
        sizes = [self.in_features, *self.hidden, self.out_features]
        first = 1 if len(self.obs_shape) > 1 else 0  # after the Flatten
        params = {}
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            gain = self.output_gain if i == len(sizes) - 2 else self.hidden_gain
            params[f"{first + 2 * i}.weight"] = init_stacked(n, fan_in, fan_out, self.init, gain, generator)
            params[f"{first + 2 * i}.bias"] = torch.zeros(n, fan_out)
        return params
