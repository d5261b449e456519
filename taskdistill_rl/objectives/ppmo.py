"""``PPMOLoss``: Proximal Policy Meta-Optimization (paper §3.1, Eq. 1–2, Algorithm 1).

The PPO clipped surrogate with ratio π^i/π^0, where π^0 collected the rollout and π^i is the
learner *from the same initialisation* trained in one differentiable step on the *current*
dataset, so the policy loss is a meta-loss whose gradient reaches the dataset (X, Y, lr, and the
encoder with encoder rollback). Built like TorchRL's ``ClipPPOLoss``: ``tensor_keys`` /
``set_keys``, the critic as a functional ``critic_network``, the value estimator through
``make_value_estimator``, a ``reduction`` argument.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDict, TensorDictBase, TensorDictParams
from tensordict.nn import TensorDictModule
from tensordict.utils import NestedKey
from torch import nn
from torchrl.objectives import LossModule, ValueEstimators
from torchrl.objectives.utils import _reduce, dispatch_value_estimator

from taskdistill_rl.actors import action_distribution
from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.inner import Params, inner_step, mlp_stepped_forward, stepping_is_cheaper
from taskdistill_rl.population import GroupedLearners

REDUCTIONS = ("mean", "sum", "none")


class PPMOLoss(LossModule):
    """PPO's clipped surrogate through the inner step, plus the critic's value loss.

    Args:
        learner: the architecture the inner step trains: the whole learner, or with encoder
            rollback its head (layers after ``dataset.encoder``). Its own parameters are never
            used: every call takes the initialisation θ⁰ explicitly.
        dataset: the :class:`DistilledDataset` being distilled (registered: its parameters are
            this loss's meta-parameters).
        critic_network: a separate value network, ``TensorDictModule`` writing ``state_value``.

    Keyword Args:
        clip_epsilon: PPO trust-region width ε (0.2).
        entropy_coeff: weight of the entropy bonus; 0 as Eq. 1 has none.
        normalize_advantage: normalise advantages per minibatch (Huang et al.).
        inner_steps: inner SGD steps (1 is the product's promise).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` over (initialisation, sample).

    ``forward(tensordict, theta0)``: ``theta0`` maps the learner's parameter names to tensors of
    their shapes, or to stacks ``[M, *shape]`` of M initialisations; the policy terms are then
    computed for every initialisation, on the same minibatch (a ``[B]`` tensordict) or on its own
    frames (a ``[M, B]`` tensordict: row m was collected by initialisation m's learner), and
    reduced over all (M × B) pairs.
    Returns a TensorDict with ``loss_objective``, ``loss_critic``, ``loss_entropy`` and detached
    diagnostics ``clip_fraction``, ``kl_approx``, ``ESS``, ``entropy``. Advantages missing from
    the tensordict are computed with the value estimator (GAE unless
    :meth:`make_value_estimator` chose another).
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
    SUPPORTED_VALUE_ESTIMATORS = (
        ValueEstimators.TD0,
        ValueEstimators.TD1,
        ValueEstimators.TDLambda,
        ValueEstimators.GAE,
    )
    critic_network: TensorDictModule
    critic_network_params: TensorDictParams
    target_critic_network_params: TensorDictParams

    def __init__(
        self,
        learner: nn.Module,
        dataset: DistilledDataset,
        critic_network: TensorDictModule,
        *,
        clip_epsilon: float = 0.2,
        entropy_coeff: float = 0.0,
        normalize_advantage: bool = True,
        inner_steps: int = 1,
        reduction: str = "mean",
    ):
        if reduction not in REDUCTIONS:
            raise InvalidInputError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        super().__init__()
        self.__dict__["learner"] = learner  # not registered: only its architecture is used
        self.dataset = dataset
        self.convert_to_functional(critic_network, "critic_network", create_target_params=False)
        self.register_buffer("clip_epsilon", torch.tensor(clip_epsilon))
        self.register_buffer("entropy_coeff", torch.tensor(entropy_coeff))
        self._entropy_bonus = entropy_coeff != 0
        self.normalize_advantage = normalize_advantage
        self.inner_steps = inner_steps
        self.reduction = reduction
        self._param_dims = {name: p.dim() for name, p in learner.named_parameters()}
        self._acting = GroupedLearners(learner)  # a plain MLP: M initialisations broadcast, no vmap

    # -- value estimation (as ClipPPOLoss) -----------------------------------------------------------
    def make_value_estimator(self, value_type: ValueEstimators | None = None, **hyperparams):
        """Build the advantage estimator on this loss's critic (GAE by default)."""
        value_type, hp = self._prepare_value_estimator_kwargs(value_type, **hyperparams)
        if value_type is None:
            return self
        dispatch_value_estimator(
            self,
            value_type,
            supported=self.SUPPORTED_VALUE_ESTIMATORS,
            tensor_keys=self._value_keys(),
            **hp,
        )
        return self

    def _value_keys(self) -> dict:
        keys = self.tensor_keys
        return {
            "advantage": keys.advantage,
            "value_target": keys.value_target,
            "value": keys.value,
            "reward": keys.reward,
            "done": keys.done,
            "terminated": keys.terminated,
        }

    def _forward_value_estimator_keys(self, **kwargs) -> None:
        if getattr(self, "_value_estimator", None) is not None:
            self._value_estimator.set_keys(**self._value_keys())

    # -- the inner step --------------------------------------------------------------------------
    def adapted_params(self, theta0: Params) -> Params:
        """θ^i: the initialisation ``theta0`` trained on the current dataset, in the graph."""
        ds = self.dataset
        features = ds.encode(ds.observation)
        return inner_step(self.learner, theta0, features, ds.label, ds.inner_lr, steps=self.inner_steps)

    def act(self, theta: Params, observation: torch.Tensor) -> torch.Tensor:
        """The learner's raw output (logits / action mean) for environment observations: one
        learner's ``theta`` on ``[B, *obs_shape]``, or M stacked on ``[M, B, *obs_shape]`` (an MLP's
        also on a shared ``[B, *obs_shape]``), through :class:`GroupedLearners`."""
        return self._acting(theta, self._features(observation))

    def adapted_act(self, theta0: Params, observation: torch.Tensor) -> torch.Tensor:
        """``act(adapted_params(theta0), observation)``; an MLP's one step is applied without
        forming θ^i where that is cheaper (:func:`~taskdistill_rl.inner.stepping_is_cheaper`)."""
        ds, layers = self.dataset, self._acting.layers
        rows = observation.shape[observation.dim() - len(ds.obs_shape) - 1]  # per learner
        if (
            layers is not None
            and self.inner_steps == 1
            and theta0
            and stepping_is_cheaper(layers, theta0, rows)
        ):
            features = ds.encode(ds.observation)
            if layers.batch_of(features):
                x = self._features(observation)
                return mlp_stepped_forward(layers, theta0, features, ds.label, ds.inner_lr, x)
        return self.act(self.adapted_params(theta0), observation)

    def _features(self, observation: torch.Tensor) -> torch.Tensor:
        """Environment observations ``[*lead, *obs_shape]`` as the head reads them."""
        ds = self.dataset
        lead = observation.shape[: observation.dim() - len(ds.obs_shape)]  # [B] or [M, B]
        features = ds.encode(ds.normalize(observation.reshape(-1, *ds.obs_shape)))
        return features.reshape(*lead, *features.shape[1:])

    def _policy_terms(self, theta0: Params, observation, action, old_log_prob, advantage):
        dist = action_distribution(self.adapted_act(theta0, observation), self.dataset.log_std)
        log_weight = dist.log_prob(action) - old_log_prob
        ratio = log_weight.exp()
        eps = self.clip_epsilon
        gain = torch.minimum(ratio * advantage, ratio.clamp(1 - eps, 1 + eps) * advantage)
        with torch.set_grad_enabled(self._entropy_bonus and torch.is_grad_enabled()):
            entropy = dist.entropy()  # without a bonus, a diagnostic: no backward through it
        return gain, log_weight, entropy

    def _stacked(self, theta0: Params) -> bool:
        """Whether ``theta0`` holds a stack of initialisations (one more leading dimension)."""
        if not theta0 and not self._param_dims:  # direct RL: no head to fit
            return False
        extra = {p.dim() - self._param_dims[name] for name, p in theta0.items()}
        if extra not in ({0}, {1}) or set(theta0) != set(self._param_dims):
            raise InvalidInputError(
                f"theta0 must hold the learner's parameters {sorted(self._param_dims)}, each of the "
                "learner's shape or stacked on one leading dimension of M initialisations"
            )
        return extra == {1}

    def _value(self, tensordict: TensorDictBase) -> torch.Tensor:
        """The critic's ``tensor_keys.value`` for the minibatch. ``critic_network_params`` are the
        critic's own Parameters (``convert_to_functional`` without target copies), so the wrapped
        module is called directly: TensorDictModule's key plumbing costs ~0.6 ms of a ~4 ms step."""
        critic = self.critic_network
        if list(critic.out_keys) != [self.tensor_keys.value]:
            with self.critic_network_params.to_module(critic):
                return critic(tensordict.select(*critic.in_keys, strict=False)).get(self.tensor_keys.value)
        return critic.module(*(tensordict.get(key) for key in critic.in_keys))

    def minibatch_keys(self) -> list[NestedKey]:
        """The entries :meth:`forward` reads from a minibatch that carries its advantages."""
        keys = self.tensor_keys
        critic_keys = [key for key in self.critic_network.in_keys if key != keys.observation]
        return [
            keys.observation,
            keys.action,
            keys.sample_log_prob,
            keys.advantage,
            keys.value_target,
            *critic_keys,
        ]

    # -- the loss --------------------------------------------------------------------------------
    def forward(self, tensordict: TensorDictBase, theta0: Params | TensorDictBase) -> TensorDict:
        keys = self.tensor_keys
        if isinstance(theta0, TensorDictBase):
            theta0 = theta0.flatten_keys(".").to_dict()
        theta0 = {name: p.detach() for name, p in theta0.items()}
        if tensordict.get(keys.advantage, None) is None:
            if self._value_estimator is None:
                self.make_value_estimator()
            with torch.no_grad():
                tensordict = self.value_estimator(tensordict.copy())
        observation = tensordict.get(keys.observation)
        action = tensordict.get(keys.action)
        old_log_prob = tensordict.get(keys.sample_log_prob).detach()
        advantage = tensordict.get(keys.advantage).reshape(old_log_prob.shape).detach()
        if self.normalize_advantage and advantage.numel() > 1:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        terms = self._policy_terms
        if self._stacked(theta0) and self._acting.layers is None:  # MLPs broadcast over M instead
            paired = tensordict.batch_dims == 2  # [M, B]: each initialisation its own frames
            data_dim = 0 if paired else None
            terms = torch.vmap(terms, in_dims=(0, *(data_dim,) * 4), randomness="same")
        gain, log_weight, entropy = terms(theta0, observation, action, old_log_prob, advantage)

        value = self._value(tensordict)
        target = tensordict.get(keys.value_target).reshape(value.shape).detach()

        with torch.no_grad():
            lw = log_weight.detach()
            # effective sample size of the importance weights, per initialisation, in logs
            n = lw.shape[-1]
            ess = (2 * lw.logsumexp(-1) - (2 * lw).logsumexp(-1)).exp() / n
            clip_fraction = ((lw.exp() - 1).abs() > self.clip_epsilon).float().mean()
        return TensorDict(
            {
                "loss_objective": _reduce(-gain, self.reduction),
                "loss_critic": _reduce((value - target).pow(2), self.reduction),  # Eq. 2, no clipping
                "loss_entropy": _reduce(-self.entropy_coeff * entropy, self.reduction),
                "entropy": entropy.detach().mean(),
                "clip_fraction": clip_fraction,
                "kl_approx": ((lw.exp() - 1) - lw).mean(),
                "ESS": ess.mean(),
            },
            batch_size=[],
        )
