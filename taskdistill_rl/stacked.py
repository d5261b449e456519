"""``StackedMLPs``: the acting forward of thousands of fitted MLP learners, in a few batched matmuls.

A k-shot evaluation acts with every learner × episode at every step: 60,000 rows for a Table-1
row of 6 distributions × 100 learners × 100 episodes, through ~100 architectures (``random-h``
draws a width per learner). This module turns a fitted :class:`~taskdistill_rl.population.Population`
into a few padded stacks of weights and acts for any subset of rows, in any order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.inner import mlp_layers

if TYPE_CHECKING:
    from taskdistill_rl.population import Population

HIDDEN_PAD = 32  # hidden widths are padded up to a multiple of this (see StackedMLPs)
CHUNK_ELEMENTS = 2**18  # activations per batched matmul, ~1 MB: the chunk stays in cache
# Hidden activations, applied in place; tanh layers in their sigmoid form (see StackedMLPs).
_IN_PLACE = {nn.Tanh: torch.Tensor.sigmoid_, nn.ReLU: torch.Tensor.relu_}


def _round_up(width: int, multiple: int) -> int:
    return -(-width // multiple) * multiple


def _stackable_layers(skeleton: nn.Module) -> list | None:
    """The MLP layers of ``skeleton`` (:func:`~taskdistill_rl.inner.mlp_layers`) if their
    activations are ones stacked acting applies in place, else None."""
    layers = mlp_layers(skeleton)
    if layers is None or any(act not in (None, *_IN_PLACE) for _, act in layers):
        return None
    return layers


@dataclass
class _Stack:
    """Learners of one padded MLP architecture: ``members`` (population indices, ascending) and per
    layer the stacked weight, bias and the in-place activation applied after it (``None`` on the
    output layer). Hidden layers hold ``[G, in, out]`` weights (a transposed view of ``Linear``'s
    ``[G, out, in]``, which batched matmuls read fastest) and ``[G, 1, out]`` biases; the output
    layer ``[G, out, in]`` and ``[G, out, 1]``: with a few outputs, ``W @ xᵀ`` is ~2x as fast as
    ``x @ Wᵀ``."""

    members: torch.Tensor
    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    activations: list

    def rows(self, active: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        if len(active) == len(self.members):
            return self.weights, self.biases
        weights = [w.mT[active].mT for w in self.weights[:-1]] + [self.weights[-1][active]]
        return weights, [b[active] for b in self.biases]


class StackedMLPs:
    """The acting forward of a population of MLP learners: every learner × episode in a few batched
    matmuls, however many architectures the population holds.

    Groups whose hidden widths round up to the same multiple of ``pad`` share one stack, the
    narrower ones padded with zero units: a zero unit's pre-activation is 0, its tanh/ReLU output is
    0 and its outgoing weights are 0, so every learner computes exactly its own function
    (``random-h``'s ~100 widths act as 8 stacks, not 100 vmapped groups). Tanh layers are
    evaluated as ``tanh(z) = 2·sigmoid(2z) - 1`` with the factors folded into the weights (``2W``,
    ``2b``, and the next layer's ``W·(2s - 1) = 2W·s - W·1``): torch's CPU sigmoid is ~3x its tanh,
    the cost of acting at Table-1 scale. Outputs equal the learners' own to float32 rounding.

    Call :meth:`arrange` with the population index of every row before calling on observations.

    Examples:
        >>> from taskdistill_rl.dataset import DistilledDataset
        >>> from taskdistill_rl.population import fit_population
        >>> ds = DistilledDataset(k=2, obs_shape=(4,), out_features=2)
        >>> population = fit_population(ds, [ds.make_learner(i) for i in range(3)])
        >>> stacked = StackedMLPs(population)
        >>> stacked.arrange(torch.tensor([0, 0, 1, 2]))  # rows 0, 1 act for learner 0, ...
        >>> obs = torch.randn(4, 4)
        >>> expected = population(obs.view(1, 4, 4).expand(3, 4, 4))[[0, 0, 1, 2], [0, 1, 2, 3]]
        >>> torch.allclose(stacked(obs), expected, atol=1e-5)
        True
    """

    def __init__(self, population: Population, *, pad: int = HIDDEN_PAD, device: torch.device | str = "cpu"):
        buckets: dict[tuple, list] = {}
        for index, skeleton, params in population.groups:
            layers = _stackable_layers(skeleton)
            if layers is None:
                raise InvalidInputError(
                    "StackedMLPs takes MLP learners (Linear layers with tanh/ReLU between); "
                    "check StackedMLPs.supports(population) first"
                )
            outs = [params[f"{name}.weight"].shape[1] for name, _ in layers]
            key = (tuple(_round_up(w, pad) for w in outs[:-1]), tuple(act for _, act in layers))
            buckets.setdefault(key, []).append((index, layers, params))
        self.size = population.size
        self._inputs = layers.inputs  # one env: every group flattens frames alike (or not at all)
        self.stacks: list[_Stack] = []
        self._stack_of = torch.empty(self.size, dtype=torch.long, device=device)
        self._row_of = torch.empty(self.size, dtype=torch.long, device=device)
        for (hidden, activations), parts in buckets.items():
            members = torch.cat([index for index, _, _ in parts])
            order = members.argsort()
            weights, biases = [], []
            for i, width in enumerate((*hidden, None)):
                w_parts, b_parts = [], []
                for _, layers, params in parts:
                    w, b = params[f"{layers[i][0]}.weight"], params[f"{layers[i][0]}.bias"]
                    out_pad = 0 if width is None else width - w.shape[1]
                    in_pad = 0 if i == 0 else hidden[i - 1] - w.shape[2]
                    w_parts.append(F.pad(w, (0, in_pad, 0, out_pad)))
                    b_parts.append(F.pad(b, (0, out_pad)))
                weights.append(torch.cat(w_parts)[order].to(device))
                biases.append(torch.cat(b_parts)[order].to(device))
            stack = self._fold_tanh(members[order].to(device), weights, biases, activations)
            self._stack_of[stack.members] = len(self.stacks)
            self._row_of[stack.members] = torch.arange(len(stack.members), device=device)
            self.stacks.append(stack)
        self.out_features = self.stacks[0].weights[-1].shape[1]
        self._plans: list = []
        self._rows = 0

    @staticmethod
    def supports(population: Population) -> bool:
        """Whether every learner is an MLP of Linear layers with tanh/ReLU between them."""
        return all(_stackable_layers(skeleton) is not None for _, skeleton, _ in population.groups)

    @staticmethod
    def _fold_tanh(members, weights, biases, activations) -> _Stack:
        """Weights for the sigmoid form of tanh layers (class docstring), folded in float64."""
        out_w, out_b = [], []
        previous_tanh = False
        for w, b, act in zip(weights, biases, activations, strict=True):
            w64, b64 = w.double(), b.double()
            if previous_tanh:  # this layer's input is 2s - 1, s the previous layer's sigmoid
                w64, b64 = 2 * w64, b64 - w64.sum(-1)
            if act is nn.Tanh:
                w64, b64 = 2 * w64, 2 * b64
            last = len(out_w) == len(weights) - 1
            out_w.append(w64.to(w.dtype) if last else w64.to(w.dtype).mT)
            out_b.append(b64.to(b.dtype).unsqueeze(2 if last else 1))
            previous_tanh = act is nn.Tanh
        post = [None if act is None else _IN_PLACE[act] for act in activations]
        if activations[-1] is nn.Tanh:  # a tanh output: back from the sigmoid form, 2s - 1
            post[-1] = lambda y: y.sigmoid_().mul_(2).sub_(1)
        return _Stack(members, out_w, out_b, post)

    def arrange(self, learner: torch.Tensor) -> None:
        """Set the learner of every row of the observations to come: ``learner [A]`` population
        indices, ``-1`` for a row no learner acts in (its output is 0). Each stack gathers its rows
        into ``[learners, rows per learner, in]``: learners with no row are left out, those with
        fewer rows than the most padded (rows of one learner in ascending ``learner`` order cost
        no sorting)."""
        self._plans = []
        self._rows = len(learner)
        arange = torch.arange(len(learner), device=learner.device)
        ascending = bool((learner[1:] >= learner[:-1]).all())
        order = arange if ascending else torch.argsort(learner, stable=True)
        grouped = learner[order]
        idle = int((grouped < 0).sum())
        order, grouped = order[idle:], grouped[idle:]
        stack_of = self._stack_of[grouped]
        for s, stack in enumerate(self.stacks):
            at = (stack_of == s).nonzero().view(-1)  # positions in `grouped`
            if not len(at):
                continue
            rows = self._row_of[grouped[at]]  # non-decreasing: members ascend with the learner index
            counts = torch.bincount(rows, minlength=len(stack.members))
            active = counts.nonzero().view(-1)
            width = int(counts.max())
            pos = order[at]  # the observation rows, grouped by learner
            if len(pos) == len(active) * width:  # every active learner has `width` rows
                src, slot = pos, None
            else:
                rank = torch.cumsum(counts > 0, 0) - 1
                start = torch.cumsum(counts, 0) - counts
                slot = rank[rows] * width + torch.arange(len(at), device=at.device) - start[rows]
                src = pos[:1].repeat(len(active) * width)  # padding reads a real row, unused
                src[slot] = pos
            if slot is None and len(pos) == len(learner) and ascending:
                pos = src = None  # one stack acts for every row, in order: no gather, no scatter
            weights, biases = stack.rows(active)
            # Learners in chunks whose activations stay in cache: ~1.4x the speed at 60,000 rows
            hidden = max([w.shape[-1] for w in weights[:-1]], default=1)  # 1: a linear learner
            per_chunk = max(1, CHUNK_ELEMENTS // (width * hidden))
            chunks = [
                (
                    lo * width,
                    min(lo + per_chunk, len(active)) * width,
                    [w[lo : lo + per_chunk] for w in weights],
                    [b[lo : lo + per_chunk] for b in biases],
                )
                for lo in range(0, len(active), per_chunk)
            ]
            self._plans.append((pos, src, slot, width, chunks, stack.activations))

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs [A, *in]`` (rows as arranged) -> raw outputs ``[A, out]``."""
        if len(obs) != self._rows:
            raise InvalidInputError(f"arranged for {self._rows} rows, got observations of {len(obs)}")
        obs = self._inputs(obs)
        raw = None
        for pos, src, slot, width, chunks, activations in self._plans:
            x_all = obs if src is None else obs[src]
            out = obs.new_empty(len(x_all), self.out_features)
            for lo, hi, weights, biases in chunks:
                x = x_all[lo:hi].view(-1, width, x_all.shape[-1])
                for w, b, activation in zip(weights[:-1], biases[:-1], activations[:-1], strict=True):
                    x = torch.baddbmm(b, x, w)
                    if activation is not None:
                        activation(x)
                y = torch.baddbmm(biases[-1], weights[-1], x.mT)  # [learners, out, rows]
                if activations[-1] is not None:
                    activations[-1](y)
                out[lo:hi].view(-1, width, self.out_features).copy_(y.mT)
            if pos is None:
                return out
            if raw is None:
                raw = obs.new_zeros(len(obs), self.out_features)
            raw[pos] = out if slot is None else out[slot]
        return obs.new_zeros(len(obs), self.out_features) if raw is None else raw


__all__ = ["StackedMLPs"]
