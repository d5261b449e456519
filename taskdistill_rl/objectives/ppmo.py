"""``PPMOLoss``: Proximal Policy Meta-Optimization (paper §3.1, Eq. 1–2, Algorithm 1).

The PPO clipped surrogate with ratio π^i/π^0, where π^0 collected the rollout and π^i is the
learner *from the same initialisation* trained in one differentiable step on the *current*
dataset, so the policy loss is a meta-loss whose gradient reaches the dataset (X, Y, lr).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDict, TensorDictBase, TensorDictParams
from tensordict.nn import TensorDictModule
from tensordict.utils import NestedKey
from torch import distributions as D
from torch import nn
from torch.func import functional_call
from torchrl.objectives import LossModule, ValueEstimators

from taskdistill_rl.dataset import DistilledDataset


def action_distribution(raw: torch.Tensor, log_std: torch.Tensor | None) -> D.Distribution:
    """Categorical over logits (discrete) or diagonal Gaussian with a shared log-std (continuous)."""
    if log_std is None:
        return D.Categorical(logits=raw, validate_args=False)
    return diagonal_normal(raw, log_std.exp().expand_as(raw))


def diagonal_normal(loc: torch.Tensor, scale: torch.Tensor) -> D.Distribution:
    """A ``distribution_class`` for TorchRL's ``ProbabilisticActor``: independent Gaussians."""
    return D.Independent(D.Normal(loc, scale, validate_args=False), 1)


class PPMOLoss(LossModule):
    """PPO's clipped surrogate through the inner step, plus the critic's value loss.

    Args:
        learner: the learner architecture (its own parameters are ignored: the loss uses
            θ^i = inner_step(θ^0) with θ^0 set by :meth:`set_initialisation`).
        dataset: the :class:`DistilledDataset` being distilled (registered: its parameters
            are this loss's meta-parameters).
        critic: a separate value network, ``TensorDictModule`` writing ``state_value``.

    Keyword Args:
        clip_epsilon: PPO trust-region width ε (0.2).
        entropy_coeff: weight of the entropy bonus; 0 as Eq. 1 has none.
        normalize_advantage: normalise advantages per minibatch (Huang et al.).
        inner_steps: inner SGD steps (1 is the product's promise).

    Returns (forward): a TensorDict with ``loss_objective``, ``loss_critic``, ``loss_entropy``
    and detached diagnostics ``clip_fraction``, ``kl_approx``, ``ESS``, ``entropy``.
    """

    @dataclass
    class _AcceptedKeys:
        """Tensordict keys this loss reads; change them with :meth:`set_keys`."""

        advantage: NestedKey = "advantage"
        value_target: NestedKey = "value_target"
        value: NestedKey = "state_value"
        sample_log_prob: NestedKey = "action_log_prob"
        action: NestedKey = "action"
        observation: NestedKey = "observation"
        reward: NestedKey = "reward"
        done: NestedKey = "done"
        terminated: NestedKey = "terminated"

    default_keys = _AcceptedKeys
    tensor_keys: _AcceptedKeys
    default_value_estimator = ValueEstimators.GAE
    critic_network: TensorDictModule
    critic_network_params: TensorDictParams
    target_critic_network_params: TensorDictParams

    def __init__(
        self,
        learner: nn.Module,
        dataset: DistilledDataset,
        critic: TensorDictModule,
        *,
        clip_epsilon: float = 0.2,
        entropy_coeff: float = 0.0,
        normalize_advantage: bool = True,
        inner_steps: int = 1,
    ):
        super().__init__()
        self.__dict__["learner"] = learner  # not registered: only its architecture is used
        self.dataset = dataset
        self.convert_to_functional(critic, "critic_network", create_target_params=False)
        self.register_buffer("clip_epsilon", torch.tensor(clip_epsilon))
        self.register_buffer("entropy_coeff", torch.tensor(entropy_coeff))
        self.normalize_advantage = normalize_advantage
        self.inner_steps = inner_steps
        self.theta0: dict[str, torch.Tensor] | None = None

    def _forward_value_estimator_keys(self, **kwargs) -> None:
        if getattr(self, "_value_estimator", None) is not None:
            self._value_estimator.set_keys(
                advantage=self.tensor_keys.advantage,
                value_target=self.tensor_keys.value_target,
                value=self.tensor_keys.value,
                reward=self.tensor_keys.reward,
                done=self.tensor_keys.done,
                terminated=self.tensor_keys.terminated,
            )

    def set_initialisation(self, learner: nn.Module) -> None:
        """Fix θ^0 for this meta-epoch (a fresh sample from Λ; paper Algorithm 1 line 2)."""
        self.theta0 = {n: p.detach() for n, p in learner.named_parameters()}

    def current_params(self) -> dict[str, torch.Tensor]:
        """θ^i: the same initialisation trained on the current dataset, in the graph."""
        if self.theta0 is None:
            raise RuntimeError("call set_initialisation(learner) before computing the loss")
        from taskdistill_rl.inner import inner_step

        ds = self.dataset
        return inner_step(
            self.learner, self.theta0, ds.observation, ds.label, ds.inner_lr, steps=self.inner_steps
        )

    def forward(self, tensordict: TensorDictBase) -> TensorDict:
        keys = self.tensor_keys
        obs = self.dataset.normalize(tensordict.get(keys.observation))
        raw = functional_call(self.learner, self.current_params(), (obs,))
        dist = action_distribution(raw, self.dataset.log_std)
        log_prob = dist.log_prob(tensordict.get(keys.action))
        log_weight = log_prob - tensordict.get(keys.sample_log_prob).detach()
        advantage = tensordict.get(keys.advantage).reshape(log_weight.shape).detach()
        if self.normalize_advantage and advantage.numel() > 1:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        eps = self.clip_epsilon
        ratio = log_weight.exp()
        gain = torch.minimum(ratio * advantage, ratio.clamp(1 - eps, 1 + eps) * advantage)
        entropy = dist.entropy().mean()

        with self.critic_network_params.to_module(self.critic_network):
            # the wrapped nn.Module directly: TensorDictModule's output writing costs ~0.2 ms a call
            inputs = [tensordict.get(key) for key in self.critic_network.in_keys]
            value = self.critic_network.module(*inputs)
        target = tensordict.get(keys.value_target).reshape(value.shape).detach()

        with torch.no_grad():
            lw = log_weight.detach()
            ess = lw.exp().sum() ** 2 / (2 * lw).exp().sum() / lw.numel()
        return TensorDict(
            {
                "loss_objective": -gain.mean(),
                "loss_critic": (value - target).pow(2).mean(),  # Eq. 2, no value clipping
                "loss_entropy": -self.entropy_coeff * entropy,
                "entropy": entropy.detach(),
                "clip_fraction": ((ratio.detach() - 1).abs() > eps).float().mean(),
                "kl_approx": ((lw.exp() - 1) - lw).mean(),
                "ESS": ess,
            },
            batch_size=[],
        )
