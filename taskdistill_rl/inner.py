"""The differentiable inner learner: SGD on MSE(f_θ(X), Y), kept in the autograd graph.

θ_{t+1} = θ_t − lr · ∇_θ MSE(f_θ_t(X), Y), built from ordinary differentiable ops so that
gradients of anything computed with the result reach X, Y and lr (paper Algorithm 1, line 3).
For MLPs (Linear layers with tanh/ReLU between them, on vectors or flattened frames) the gradient is
written out layer by layer, which costs half of what ``torch.func.grad`` does on a k-row batch
and keeps PPMO's meta-epoch within ~10% of a plain PPO epoch; any other module goes through
``torch.func.grad``. Both work under ``vmap``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad

Params = dict[str, torch.Tensor]
# activation -> (function, its derivative written in terms of its output)
_ACTIVATIONS = {
    nn.Tanh: (torch.tanh, lambda out: 1 - out * out),
    nn.ReLU: (torch.relu, lambda out: (out > 0).to(out.dtype)),
}


class MLPLayers(list):
    """:func:`mlp_layers`' answer: ``[(linear name, activation type or None), ...]``, and the
    trailing input dimensions a leading ``nn.Flatten(-n)`` merges (``flatten_dims``, 0 for none):
    an MLP on frames takes the same batched-matmul paths as one on vectors."""

    def __init__(self, layers, flatten_dims: int = 0):
        super().__init__(layers)
        self.flatten_dims = flatten_dims

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``x [..., *in]`` as the first Linear reads it, ``[..., in_features]``."""
        return x.flatten(-self.flatten_dims) if self.flatten_dims > 1 else x

    def batch_of(self, x: torch.Tensor) -> bool:
        """Whether ``x`` is one batch ``[n, *in]`` (no leading learner dimension)."""
        return x.dim() == 1 + max(self.flatten_dims, 1)


def mlp_layers(module: nn.Module) -> MLPLayers | None:
    """The :class:`MLPLayers` of ``module`` if it is a plain MLP (Linear layers with tanh/ReLU
    between them, optionally after one ``nn.Flatten(-n)`` of the input frame), else None."""
    if not isinstance(module, nn.Sequential):
        return None
    children = list(module.named_children())
    flatten_dims = 0
    if children and isinstance(children[0][1], nn.Flatten):
        first = children.pop(0)[1]
        if first.start_dim >= 0 or first.end_dim != -1:  # would merge a batch dimension
            return None
        flatten_dims = -first.start_dim
    layers: list[tuple[str, type | None]] = []
    for name, child in children:
        if isinstance(child, nn.Linear) and child.bias is not None:
            layers.append((name, None))
        elif type(child) in _ACTIVATIONS and layers and layers[-1][1] is None:
            layers[-1] = (layers[-1][0], type(child))
        else:
            return None
    return MLPLayers(layers, flatten_dims) if layers else None


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``F.linear`` for one learner; broadcast matmuls when the parameters are stacked [M, ...]."""
    if weight.dim() == 2:
        return F.linear(x, weight, bias)
    return torch.baddbmm(bias.unsqueeze(-2), x.expand(weight.shape[0], *x.shape[-2:]), weight.mT)


def mlp_outputs(layers, params: Params, x: torch.Tensor) -> list[torch.Tensor]:
    """The one MLP forward: ``x`` and every layer's output after its activation. With stacked
    ``params`` ``[M, ...]`` each learner runs on shared ``x [n, in]`` or its own ``x [M, n, in]``
    in batched matmuls, none of ``vmap``'s per-op dispatch. The inner step's back-propagation
    reads the intermediate outputs; everything else wants the last (:func:`mlp_forward`)."""
    outputs = [layers.inputs(x)]
    for name, activation in layers:
        h = _linear(outputs[-1], params[f"{name}.weight"], params[f"{name}.bias"])
        outputs.append(h if activation is None else _ACTIVATIONS[activation][0](h))
    return outputs


def mlp_forward(layers, params: Params, x: torch.Tensor) -> torch.Tensor:
    """An MLP's output for ``x [n, in]`` (stacked ``params``: ``[M, n, out]``; :func:`mlp_outputs`)."""
    return mlp_outputs(layers, params, x)[-1]


def _mlp_mse_grads(layers, params: Params, observation: torch.Tensor, label: torch.Tensor) -> Params:
    """∇_θ MSE(f_θ(X), Y) for an MLP by explicit back-propagation (differentiable in X, Y, θ);
    per learner when ``params`` are stacked ``[M, ...]``."""
    outputs = mlp_outputs(layers, params, observation)
    delta = 2 * (outputs[-1] - label) / outputs[-1].shape[-2:].numel()
    grads: Params = {}
    for i in range(len(layers) - 1, -1, -1):
        name, activation = layers[i]
        if activation is not None:
            delta = delta * _ACTIVATIONS[activation][1](outputs[i + 1])
        grads[f"{name}.weight"] = delta.mT @ outputs[i]
        grads[f"{name}.bias"] = delta.sum(-2)
        if i > 0:
            delta = delta @ params[f"{name}.weight"]
    return grads


def mlp_stepped_forward(
    layers, params: Params, observation: torch.Tensor, label: torch.Tensor, inner_lr, x: torch.Tensor
) -> torch.Tensor:
    """``f_θ1(x)`` for θ1 one SGD step from ``params`` on (X, Y), without forming θ1.

    A Linear layer's MSE gradient is a sum of k outer products, ``δᵀ A`` (back-propagated errors
    times the layer's inputs on the k rows), so θ1's layer applied to ``h`` is
    ``h Wᵀ + b − lr ((h Aᵀ) δ + Σδ)``: products with the k-row batch instead of a new weight-sized
    tensor per learner and its gradient in the backward pass. For M learners of 2x512 on MinAtar
    frames that tensor traffic was ~90% of PPMO's update. Same values as
    ``mlp_forward(layers, inner_step(...), x)`` to float rounding, and differentiable in X, Y and
    lr alike; shapes as :func:`mlp_forward`'s (stacked ``params``: ``x [n, *in]`` or
    ``[M, n, *in]``)."""
    inner = mlp_outputs(layers, params, observation)
    delta = 2 * (inner[-1] - label) / inner[-1].shape[-2:].numel()
    deltas: list[torch.Tensor] = [delta] * len(layers)
    for i in range(len(layers) - 1, -1, -1):
        name, activation = layers[i]
        if activation is not None:
            delta = delta * _ACTIVATIONS[activation][1](inner[i + 1])
        deltas[i] = delta
        if i > 0:
            delta = delta @ params[f"{name}.weight"]
    h = layers.inputs(x)
    for i, (name, activation) in enumerate(layers):
        step = (h @ inner[i].mT) @ deltas[i] + deltas[i].sum(-2, keepdim=True)
        h = _linear(h, params[f"{name}.weight"], params[f"{name}.bias"]) - inner_lr * step
        if activation is not None:
            h = _ACTIVATIONS[activation][0](h)
    return h


# How many times fewer multiply-adds the stepped forward must need before it replaces forming θ1.
# 2x512 on MinAtar frames at 32 rows per initialisation needs 6x fewer, and its PPMO update ran
# 3.3x faster (benchmarks/bench_minatar.py). Λ (2x64) at the `fast` preset's 32 rows needs more,
# though forced to step it still gained ~10% on 2D cart-pole (less tensor traffic); it keeps the
# arithmetic its reference runs froze (tests/test_reference_runs.py).
STEPPING_SAVING = 4


def stepping_is_cheaper(layers, params: Params, rows: int) -> bool:
    """Whether :func:`mlp_stepped_forward` on ``rows`` inputs per learner is much cheaper than
    forming θ1: per layer it adds ``rows·k·(in + out)`` multiply-adds where forming costs
    ``k·in·out`` and a weight-sized tensor (k cancels). Wide learners on few rows each (2x512 on
    MinAtar, 32 rows per initialisation) step; Λ on cart-pole or MuJoCo forms θ1."""
    shapes = [params[f"{name}.weight"].shape[-2:] for name, _ in layers]
    added = rows * sum(out + inp for out, inp in shapes)
    return STEPPING_SAVING * added <= sum(out * inp for out, inp in shapes)


def mse_to_labels(
    module: nn.Module, params: Params, observation: torch.Tensor, label: torch.Tensor
) -> torch.Tensor:
    """The inner objective: mean squared error between the learner's raw output and the labels."""
    return ((functional_call(module, params, (observation,)) - label) ** 2).mean()


@torch.no_grad()
def mlp_population_step_(
    layers, params: Params, observation: torch.Tensor, label: torch.Tensor, inner_lr: float, *, steps: int = 1
) -> Params:
    """The inner step for a population of one MLP architecture, in place and without autograd.

    ``params`` hold a leading population dimension. Same arithmetic as :func:`inner_step`, written
    with batched matmuls and fused in-place updates (``baddbmm_``): ~8x the learners per second
    of ``vmap`` over :func:`inner_step` for Λ at k=2 on 2 CPU cores.
    """
    n, k = next(iter(params.values())).shape[0], observation.shape[0]
    x = observation.expand(n, *observation.shape)
    for _ in range(steps):
        outputs = mlp_outputs(layers, params, x)
        delta = 2 * (outputs[-1] - label) / (k * outputs[-1].shape[-1])
        for i in range(len(layers) - 1, -1, -1):
            name, activation = layers[i]
            if activation is not None:
                delta = delta * _ACTIVATIONS[activation][1](outputs[i + 1])
            back = delta @ params[f"{name}.weight"] if i > 0 else None  # before the weight moves
            params[f"{name}.weight"].baddbmm_(delta.mT, outputs[i], alpha=-inner_lr)
            params[f"{name}.bias"].sub_(inner_lr * delta.sum(1))
            delta = back
    return params


def inner_step(
    module: nn.Module,
    params: Params,
    observation: torch.Tensor,
    label: torch.Tensor,
    inner_lr: torch.Tensor,
    *,
    steps: int = 1,
) -> Params:
    """Return the parameters after ``steps`` SGD steps on the distilled batch.

    Args:
        module: the architecture (its own parameters are not used or changed).
        params: initial parameters θ0 (``dict(module.named_parameters())``-keyed); detached.
        observation: ``[k, *obs_shape]`` synthetic states (may require grad).
        label: ``[k, out]`` synthetic targets (may require grad).
        inner_lr: positive scalar step size (may require grad).
        steps: number of full-batch steps; the product's promise is 1.
    """
    if steps < 1:
        raise ValueError(f"inner steps must be >= 1, got {steps}")
    if not params:  # direct RL (encoder rollback at every layer): nothing to fit
        return params
    layers = mlp_layers(module)
    layers = layers if layers is not None and layers.batch_of(observation) else None
    g = grad(mse_to_labels, argnums=1)
    for _ in range(steps):
        if layers is not None:
            grads = _mlp_mse_grads(layers, params, observation, label)
        else:
            grads = g(module, params, observation, label)
        params = {name: p - inner_lr * grads[name] for name, p in params.items()}
    return params
