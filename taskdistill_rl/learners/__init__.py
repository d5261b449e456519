"""Learner distributions: samplers of freshly initialised policy networks, by name.

``LEARNERS`` maps each name to its class and the keyword arguments that make it that
distribution (paper Table 1; ``"nature-cnn"`` is the Atari learner α_a); ``"LxH"`` names
(``"3x128"``: 3 hidden layers of 128) give Table 6's grid with Λ's initialisation.
"""

from __future__ import annotations

import re

from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.learners.base import LearnerDistribution, split_learner
from taskdistill_rl.learners.cnn import MinAtarCNNLearners, NatureCNNLearners
from taskdistill_rl.learners.mlp import MLPLearners, init_linear, weight_std
from taskdistill_rl.learners.random_arch import RandomMLPLearners

LEARNERS: dict[str, tuple[type, dict]] = {
    "lambda": (MLPLearners, {}),
    "ortho-std1": (MLPLearners, {"hidden_gain": 1.0, "output_gain": 1.0}),
    "xavier": (MLPLearners, {"init": "xavier_normal"}),
    "xavier-std1": (MLPLearners, {"init": "xavier_normal", "hidden_gain": 1.0, "output_gain": 1.0}),
    "random-h": (RandomMLPLearners, {"widths": (32, 256), "depths": (2, 2)}),
    "random-l": (RandomMLPLearners, {"widths": (64, 64), "depths": (1, 6)}),
    "nature-cnn": (NatureCNNLearners, {}),  # the paper's Atari learner α_a
    "minatar-cnn": (MinAtarCNNLearners, {}),  # MinAtar's examples' network, orthogonal init
}
GRID_DEPTHS = tuple(range(6))
GRID_WIDTHS = (32, 64, 128, 256)
_GRID_NAME = re.compile(r"^(\d)x(\d+)$")


def grid_names() -> list[str]:
    """Table 6's grid: ``"LxH"`` for L in 0..5 hidden layers and H in 32, 64, 128, 256."""
    return [f"{depth}x{width}" for depth in GRID_DEPTHS for width in GRID_WIDTHS]


def available() -> list[str]:
    return [*LEARNERS, "LxH (e.g. 2x64)"]


def make_learners(name: str = "lambda", **kwargs) -> LearnerDistribution:
    """The distribution ``name`` (a registered name or ``"LxH"``) with extra keyword arguments
    (at least ``obs_shape`` or ``in_features``, and ``out_features``)."""
    grid = _GRID_NAME.match(name) if isinstance(name, str) else None
    if grid is not None:
        depth, width = int(grid.group(1)), int(grid.group(2))
        return MLPLearners(**{"hidden": (width,) * depth, **kwargs, "name": name})
    if name not in LEARNERS:
        raise InvalidInputError(f"unknown learner distribution {name!r}; available: {', '.join(available())}")
    cls, defaults = LEARNERS[name]
    return cls(**{**defaults, **kwargs, "name": name})


def default_learner(obs_shape: tuple[int, ...], out_features: int) -> dict:
    """``{"name", "kwargs"}`` of the paper's learner for these observations: the Nature-CNN α_a
    for images ``(channels, height, width)``, Λ (α_c) for everything else."""
    if len(obs_shape) == 3:
        return NatureCNNLearners(obs_shape=tuple(obs_shape), out_features=out_features).spec()
    return {"name": "lambda", "kwargs": {"obs_shape": list(obs_shape), "out_features": out_features}}


__all__ = [
    "GRID_DEPTHS",
    "GRID_WIDTHS",
    "LEARNERS",
    "LearnerDistribution",
    "MLPLearners",
    "MinAtarCNNLearners",
    "NatureCNNLearners",
    "RandomMLPLearners",
    "available",
    "default_learner",
    "grid_names",
    "init_linear",
    "make_learners",
    "split_learner",
    "weight_std",
]
