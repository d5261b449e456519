"""The differentiable inner learner: SGD on MSE(f_θ(X), Y), kept in the autograd graph.

θ_{t+1} = θ_t − lr · ∇_θ MSE(f_θ_t(X), Y), computed with ``torch.func`` so that gradients of
anything computed with the result reach X, Y and lr (paper Algorithm 1, line 3).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, grad

Params = dict[str, torch.Tensor]


def mse_to_labels(
    module: nn.Module, params: Params, observation: torch.Tensor, label: torch.Tensor
) -> torch.Tensor:
    """The inner objective: mean squared error between the learner's raw output and the labels."""
    return ((functional_call(module, params, (observation,)) - label) ** 2).mean()


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
    g = grad(mse_to_labels, argnums=1)
    for _ in range(steps):
        grads = g(module, params, observation, label)
        params = {name: p - inner_lr * grads[name] for name, p in params.items()}
    return params
