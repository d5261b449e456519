"""Populations of fitted learners: sample or take M learners, fit them all with a file's inner step
in one batched step per architecture, and act with them at once.

A :class:`Population` is what evaluation (:mod:`taskdistill_rl.evaluate`) rolls out and what
:class:`~taskdistill_rl.stacked.StackedMLPs` rearranges for speed; sampling straight into stacked
parameters (:func:`sample_population`) builds no per-learner module. :class:`GroupedLearners` is
how M learners of one architecture act at once, here, in PPMO's rollouts and in its loss.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.inner import Params, inner_step, mlp_forward, mlp_layers, mlp_population_step_
from taskdistill_rl.learners import LearnerDistribution, RandomMLPLearners, make_learners


def _architecture(module: nn.Module) -> tuple:
    return tuple((name, tuple(p.shape)) for name, p in module.named_parameters())


class GroupedLearners:
    """M learners of one architecture acting at once, learner ``m`` with its parameters
    ``params[m]`` on its own observations: the one place that chooses how (issue 26). A plain MLP
    (:func:`~taskdistill_rl.inner.mlp_layers`) acts through
    :func:`~taskdistill_rl.inner.mlp_forward`'s batched matmuls, any other architecture through
    ``torch.vmap`` over ``functional_call``. Observations are the learners' inputs: encoding and
    normalising them is the caller's business.

    Args:
        skeleton: the architecture; its own parameters are never used (it may live on the meta
            device), only their names and shapes.

    Examples:
        >>> from taskdistill_rl.learners import make_learners
        >>> dist = make_learners("lambda", in_features=4, out_features=2)
        >>> params = dist.sample_stacked(3, torch.Generator().manual_seed(0))  # M = 3
        >>> learners = GroupedLearners(dist.build())
        >>> learners(params, torch.randn(3, 5, 4)).shape  # learner m on obs[m]
        torch.Size([3, 5, 2])
        >>> learners.shares(params, torch.randn(15, 4)).shape  # rows 5m..5m+4: learner m
        torch.Size([15, 2])
    """

    def __init__(self, skeleton: nn.Module):
        self.skeleton = skeleton
        self.layers = mlp_layers(skeleton)  # None: not a plain MLP, act through vmap
        self._dims = {name: p.dim() for name, p in skeleton.named_parameters()}

    def __call__(self, params: Params, obs: torch.Tensor) -> torch.Tensor:
        """``obs [M, B, *in]`` (learner ``m`` sees ``obs[m]``) -> ``[M, B, *out]`` for ``params``
        stacked ``[M, *shape]``. The parameters of one learner (the skeleton's shapes, as inside a
        ``vmap``) act on ``obs [B, *in]``; an MLP's stacked ones also on ``obs [B, in]`` shared by
        all M (``mlp_forward`` broadcasts)."""
        if self.layers is not None:
            return mlp_forward(self.layers, params, obs)
        if not any(p.dim() > self._dims[name] for name, p in params.items()):  # one learner
            return functional_call(self.skeleton, params, (obs,))
        # a stack of one as well: a plain call's outputs can differ from vmap's in the last bit
        return vmap(lambda p, o: functional_call(self.skeleton, p, (o,)))(params, obs)

    def shares(self, params: Params, obs: torch.Tensor) -> torch.Tensor:
        """``obs [N, *in]`` in M equal consecutive shares (learner ``m`` acts on rows
        ``m N/M .. (m+1) N/M - 1``) -> ``[N, *out]``. One learner that is not an MLP (e.g. one
        Nature-CNN) acts on the whole batch in a plain call, no vmap."""
        m = next(iter(params.values())).shape[0]
        if m == 1 and self.layers is None:
            return self({name: p[0] for name, p in params.items()}, obs)
        out = self(params, obs.reshape(m, -1, *obs.shape[1:]))
        return out.reshape(obs.shape[0], *out.shape[2:])


@dataclass
class Population:
    """Fitted learners grouped by architecture: per group, the learners' indices, a stateless
    skeleton (meta device) and their parameters stacked along a leading learner dimension;
    ``acting`` holds each group's :class:`GroupedLearners`."""

    groups: list[tuple[torch.Tensor, nn.Module, dict[str, torch.Tensor]]]
    size: int
    acting: list[GroupedLearners] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.acting = [GroupedLearners(skeleton) for _, skeleton, _ in self.groups]

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs [size, batch, *obs_shape]`` (learner i sees ``obs[i]``) -> ``[size, batch, out]``."""
        out = None
        for (index, _, params), learners in zip(self.groups, self.acting, strict=True):
            part = obs if len(self.groups) == 1 else obs[index]
            y = learners(params, part)
            if len(self.groups) == 1:
                return y
            if out is None:
                out = y.new_empty(self.size, *y.shape[1:])
            out[index] = y
        return out

    @staticmethod
    def concat(populations: list[Population]) -> Population:
        """One population of several, learners numbered in order."""
        groups, offset = [], 0
        for population in populations:
            groups += [(index + offset, skeleton, params) for index, skeleton, params in population.groups]
            offset += population.size
        return Population(groups, offset)


def _group_indices(keys: list) -> list[list[int]]:
    """Indices of equal keys, grouped in order of first appearance (one group per architecture)."""
    groups: dict = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _fit_group(ds: DistilledDataset, skeleton: nn.Module, params: dict, steps: int) -> dict:
    """Fit one architecture group: the batched in-place MLP step when it applies, else vmap."""
    if not params:  # encoder rollback at every layer (l = L): the head is empty, nothing to fit
        return params
    X, Y, lr = ds.encode(ds.observation).detach(), ds.label.detach(), ds.inner_lr.detach()
    params = {name: p.to(X.device) for name, p in params.items()}  # sampled on the CPU
    layers = mlp_layers(skeleton)
    if layers is not None and layers.batch_of(X):
        return mlp_population_step_(layers, params, X, Y, float(lr), steps=steps)
    fit = vmap(lambda p: inner_step(skeleton, p, X, Y, lr, steps=steps))
    with torch.no_grad():
        return fit(params)


def fit_population(ds: DistilledDataset, learners: list[nn.Module], *, steps: int = 1) -> Population:
    """Fit every learner with the file's inner step, one batched step per architecture group
    (equal to fitting them one by one, to float32 rounding)."""
    if not learners:
        raise InvalidInputError("fit_population needs at least one learner")
    groups = []
    for members in _group_indices([_architecture(module) for module in learners]):
        heads = [ds.trainable(learners[i]) for i in members]
        params, _ = stack_module_state(heads)
        params = {name: p.detach() for name, p in params.items()}
        skeleton = copy.deepcopy(heads[0]).to("meta")
        index = torch.tensor(members, device=ds.device)
        groups.append((index, skeleton, _fit_group(ds, skeleton, params, steps)))
    return Population(groups, len(learners))


def sample_population(
    ds: DistilledDataset,
    distribution: LearnerDistribution,
    n: int,
    generator: torch.Generator,
    *,
    steps: int = 1,
) -> Population:
    """``n`` fresh learners from ``distribution``, sampled straight into stacked parameters per
    architecture and fitted: no per-learner modules (the fast path for big evaluations)."""
    if isinstance(distribution, RandomMLPLearners):
        archs = [distribution.architecture(generator) for _ in range(n)]
    else:
        archs = [distribution] * n
    groups = []
    for members in _group_indices([getattr(arch, "hidden", None) for arch in archs]):
        arch = archs[members[0]]
        with torch.device("meta"):
            skeleton = ds.trainable(arch.build())
        params = arch.sample_stacked(len(members), generator)
        params = {name: params[name] for name, _ in skeleton.named_parameters()}  # the head's
        index = torch.tensor(members, device=ds.device)
        groups.append((index, skeleton, _fit_group(ds, skeleton, params, steps)))
    return Population(groups, n)


def distribution_for(ds: DistilledDataset, name: str) -> LearnerDistribution:
    """The named distribution with the file's input/output sizes. The file's own name gives the Λ
    it was distilled for; initialisation variants keep Λ's hidden layers (the paper's α_c)."""
    spec = ds.learner_spec
    if name == spec["name"]:
        return ds.learners()
    own = ds.learners()
    kwargs = {"obs_shape": own.obs_shape, "out_features": own.out_features}
    if name in ("ortho-std1", "xavier", "xavier-std1") and "hidden" in spec["kwargs"]:
        kwargs["hidden"] = tuple(spec["kwargs"]["hidden"])
    return make_learners(name, **kwargs)


__all__ = ["GroupedLearners", "Population", "distribution_for", "fit_population", "sample_population"]
