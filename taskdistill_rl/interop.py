"""Fit stable-baselines3 and TorchRL policies from a distilled file, in one SGD step.

The labels teach a network's *raw* output: logits (discrete) or the action mean (continuous).
SB3's ``ActorCriticPolicy`` computes that as ``action_net(mlp_extractor.forward_actor(
extract_features(obs)))``; one step of MSE on it, on the actor's parameters only, is the same
inner step :meth:`DistilledDataset.fit` applies to a learner.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import torch
from torch import nn

from taskdistill_rl.errors import InvalidInputError, InvalidInputTypeError

if TYPE_CHECKING:
    from taskdistill_rl.dataset import DistilledDataset

_SB3_ACTOR_PREFIXES = (
    "features_extractor",
    "pi_features_extractor",
    "mlp_extractor.policy_net",
    "action_net",
)


def _check_spaces(ds: DistilledDataset, observation_space, action_space, who: str) -> None:
    from gymnasium import spaces

    if tuple(observation_space.shape) != tuple(ds.obs_shape):
        raise InvalidInputError(
            f"{who} observes {tuple(observation_space.shape)} but the dataset's observations "
            f"are {ds.obs_shape}"
        )
    if isinstance(action_space, spaces.Discrete):
        if ds.continuous or int(action_space.n) != ds.out_features:
            raise InvalidInputError(
                f"{who} has Discrete({action_space.n}) actions but the dataset teaches "
                f"{'continuous' if ds.continuous else 'discrete'} actions of size {ds.out_features}"
            )
    elif isinstance(action_space, spaces.Box):
        if not ds.continuous or tuple(action_space.shape) != (ds.out_features,):
            raise InvalidInputError(
                f"{who} has Box{tuple(action_space.shape)} actions but the dataset teaches "
                f"{'continuous' if ds.continuous else 'discrete'} actions of size {ds.out_features}"
            )
    else:
        raise InvalidInputError(
            f"{who}: only Discrete and Box action spaces are supported, got {action_space}"
        )


def _sb3_raw_output(policy, obs: torch.Tensor) -> torch.Tensor:
    features = policy.extract_features(obs, policy.pi_features_extractor)
    return policy.action_net(policy.mlp_extractor.forward_actor(features))


def fit_sb3(ds: DistilledDataset, model_or_policy, *, steps: int = 1):
    """Train an SB3 ``PPO``/``A2C`` model (or its ``ActorCriticPolicy``) in place in one step.

    Only the actor's path moves; the value head is untouched. For Box actions the policy's
    ``log_std`` becomes the file's. When the file carries ``obs_norm``, a model's env is wrapped in
    a frozen ``VecNormalize`` holding those statistics (a bare policy gets a warning saying what
    to wrap). Returns the model or policy it was given.
    """
    try:
        from stable_baselines3.common.policies import ActorCriticPolicy
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError("fit_sb3 needs stable-baselines3: pip install 'taskdistill_rl[sb3]'") from err
    policy = getattr(model_or_policy, "policy", model_or_policy)
    if not isinstance(policy, ActorCriticPolicy):
        raise InvalidInputTypeError(
            f"fit_sb3 expects an SB3 on-policy model or ActorCriticPolicy, got {type(policy).__name__}"
        )
    if policy.use_sde:
        raise InvalidInputError(
            "fit_sb3 does not support use_sde=True policies (their log_std is state-dependent)"
        )
    _check_spaces(ds, policy.observation_space, policy.action_space, "the SB3 policy")
    if ds.encoder_layers:
        raise InvalidInputError(
            "fit_sb3 cannot fit a file with a meta-learned encoder (encoder_layers > 0): SB3's "
            "feature extractor would need the file's encoder; use ds.make_policy or to_torchrl_actor"
        )
    params = [p for name, p in policy.named_parameters() if name.startswith(_SB3_ACTOR_PREFIXES)]
    X = ds.observation.detach().to(policy.device)
    Y = ds.label.detach().to(policy.device)
    lr = float(ds.inner_lr.detach())
    for _ in range(steps):
        loss = ((_sb3_raw_output(policy, X) - Y) ** 2).mean()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p.sub_(lr * g)
    if ds.continuous:
        with torch.no_grad():
            policy.log_std.copy_(ds.log_std.detach().to(policy.device))
    if ds.obs_norm is not None:
        _freeze_normalisation(ds, model_or_policy)
    return model_or_policy


def _freeze_normalisation(ds: DistilledDataset, model_or_policy) -> None:
    """The file's observations are normalised: give the model's env a frozen ``VecNormalize`` with
    the file's statistics, or say what to wrap when there is no env to wrap."""
    import numpy as np
    from stable_baselines3.common.vec_env import VecNormalize

    from taskdistill_rl.obs_norm import CLIP, EPSILON

    env = model_or_policy.get_env() if hasattr(model_or_policy, "get_env") else None
    if env is None:
        warnings.warn(
            "this distilled file's observations are normalised: wrap the env the policy acts in with "
            "VecNormalize(env, training=False, norm_reward=False) and set its obs_rms.mean / obs_rms.var "
            "to ds.obs_norm['mean'] / ds.obs_norm['var']",
            stacklevel=3,
        )
        return
    frozen = VecNormalize(
        env.venv if isinstance(env, VecNormalize) else env,
        training=False,
        norm_obs=True,
        norm_reward=False,
        clip_obs=CLIP,
        epsilon=EPSILON,
    )
    frozen.obs_rms.mean = ds.obs_norm["mean"].double().numpy().astype(np.float64)
    frozen.obs_rms.var = ds.obs_norm["var"].double().numpy().astype(np.float64)
    model_or_policy.set_env(frozen)


def to_torchrl_actor(ds: DistilledDataset, *, seed: int | None = None, module: nn.Module | None = None):
    """A TorchRL ``ProbabilisticActor`` around a fresh learner (or ``module``) fitted in one step,
    built by the same factory distillation uses (:func:`taskdistill_rl.actors.make_actor`).

    Reads ``"observation"``; writes ``"action"`` and ``"action_log_prob"``. Discrete: Categorical
    over the logits (integer actions: make gymnasium envs with ``categorical_action_encoding=True``).
    Continuous: a diagonal Gaussian with the file's log-std.
    """
    from taskdistill_rl.actors import make_actor
    from taskdistill_rl.obs_norm import NormalizedInput

    net = ds.fit(module if module is not None else ds.make_learner(seed))
    if ds.obs_norm is not None:
        net = NormalizedInput(net, ds)
    return make_actor(net, log_std=None if ds.log_std is None else ds.log_std.detach().clone())
