"""The one place where policies and critics are built: distillation, evaluation and interop all
turn a learner into an acting TorchRL module here, so they cannot drift apart.

A learner's raw output is what the labels teach: logits (discrete actions, ``Categorical``) or the
action mean (continuous actions, TorchRL's ``IndependentNormal`` with the file's state-independent
log-std).
"""

from __future__ import annotations

import math

import torch
from tensordict.nn import TensorDictModule, TensorDictSequential
from torch import distributions as D
from torch import nn
from torchrl.data import TensorSpec
from torchrl.modules import MLP, IndependentNormal, OneHotCategorical, ProbabilisticActor, ValueOperator

from taskdistill_rl.envs.atari import as_float_frames

NO_VALIDATION = {"validate_args": False}  # argument checks cost ~20% of a PPMO minibatch


def action_distribution(raw: torch.Tensor, log_std: torch.Tensor | None) -> D.Distribution:
    """Categorical over logits (``log_std`` None) or a diagonal Gaussian around the mean ``raw``."""
    if log_std is None:
        return D.Categorical(logits=raw, **NO_VALIDATION)
    return IndependentNormal(raw, log_std.exp().expand_as(raw), **NO_VALIDATION)


class StateIndependentScale(nn.Module):
    """``exp(log_std)`` broadcast to the action mean's shape. Holds a reference, so an actor built
    during distillation follows the log-std the outer loop is learning."""

    def __init__(self, log_std: torch.Tensor):
        super().__init__()
        self.__dict__["log_std"] = log_std  # not registered: the actor never trains it

    def forward(self, loc: torch.Tensor) -> torch.Tensor:
        return self.log_std.detach().exp().to(loc.dtype).expand_as(loc)


def make_actor(
    net: nn.Module,
    *,
    log_std: torch.Tensor | None = None,
    one_hot: bool = False,
    spec: TensorSpec | None = None,
) -> ProbabilisticActor:
    """A TorchRL ``ProbabilisticActor`` that reads ``"observation"`` and writes ``"action"`` and
    ``"action_log_prob"``.

    Args:
        net: maps observations to the learner's raw output (what ``fit`` trained).
        log_std: continuous actions: the state-independent log-std (referenced, not copied);
            None for discrete actions.
        one_hot: discrete actions as one-hot vectors (TorchRL's ``OneHotCategorical``, what a
            ``OneHot`` action spec takes) instead of integer indices.
        spec: the env's action spec, kept as the actor's ``spec`` (TorchRL's convention).
    """
    if log_std is None:
        return ProbabilisticActor(
            TensorDictModule(net, in_keys=["observation"], out_keys=["logits"]),
            in_keys=["logits"],
            spec=spec,
            distribution_class=OneHotCategorical if one_hot else D.Categorical,
            distribution_kwargs=NO_VALIDATION,
            return_log_prob=True,
        )
    module = TensorDictSequential(
        TensorDictModule(net, in_keys=["observation"], out_keys=["loc"]),
        TensorDictModule(StateIndependentScale(log_std), in_keys=["loc"], out_keys=["scale"]),
    )
    return ProbabilisticActor(
        module,
        in_keys=["loc", "scale"],
        spec=spec,
        distribution_class=IndependentNormal,
        distribution_kwargs=NO_VALIDATION,
        return_log_prob=True,
    )


class _AnyBatch(nn.Module):
    """Images with any leading batch dimensions through a conv net that takes one (GAE calls the
    critic on ``[2, envs, steps, C, H, W]``)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        obs = as_float_frames(obs)  # a rollout's uint8 frames, read as the float [0, 1] learners see
        out = self.net(obs.reshape(-1, *obs.shape[-3:]))
        return out.reshape(*obs.shape[:-3], out.shape[-1])


def make_critic(
    obs_shape: tuple[int, ...], *, hidden: tuple[int, ...] = (64, 64), wrap=None, learners=None
) -> ValueOperator:
    """The separate value network of PPMO (paper §3.1), writing ``"state_value"``: for images
    ``(channels, height, width)`` a CNN of its own, of the learners' kind (the Nature-CNN when
    none are given; MinAtar's), with output gain 1 (as Huang et al.'s critic); otherwise, and for
    MLP learners on images, TorchRL's ``MLP`` (tanh) on the flattened observation. ``wrap`` (e.g. observation
    normalisation) is applied around the network."""
    from taskdistill_rl.learners.cnn import NatureCNNLearners

    image_learners = learners is None or isinstance(learners, NatureCNNLearners)
    if len(obs_shape) == 3 and image_learners:
        kind = NatureCNNLearners if learners is None else type(learners)
        net = _AnyBatch(kind(obs_shape=obs_shape, out_features=1, output_gain=1.0).sample())
        return ValueOperator(net if wrap is None else wrap(net), in_keys=["observation"])
    net = MLP(
        in_features=math.prod(obs_shape),
        out_features=1,
        num_cells=list(hidden),
        activation_class=nn.Tanh,
    )
    if len(obs_shape) > 1:
        net = nn.Sequential(nn.Flatten(-len(obs_shape)), net)
    if wrap is not None:
        net = wrap(net)
    return ValueOperator(net, in_keys=["observation"])


__all__ = ["action_distribution", "make_actor", "make_critic"]
