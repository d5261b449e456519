"""Direct-RL baseline: stable-baselines3 PPO with rl-baselines3-zoo-style hyper-parameters.

Trains in chunks of timesteps and evaluates with sampled actions after each chunk, so a run can
stop as soon as it reaches a target return, and every evaluation's wall time is counted in the
run's wall time (the same accounting as the distiller's periodic evaluation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from taskdistill_rl.envs.factory import check_env_id, env_family
from taskdistill_rl.errors import InvalidInputError

# Per env family. "classic" is rl-zoo's CartPole-v1 entry with a constant lr and clip range
# (the zoo anneals both linearly over a fixed budget; chunked training has no fixed budget).
# "mujoco" is SB3's PPO defaults with observation normalisation, as rl-zoo's MuJoCo entries.
# Default training budgets per family (rl-zoo's n_timesteps) when neither timesteps nor a target is given.
DEFAULT_TIMESTEPS = {"classic": 100_000, "mujoco": 1_000_000, "atari": 10_000_000}
HYPERPARAMS: dict[str, dict] = {
    "classic": {
        "n_envs": 8,
        "n_steps": 32,
        "batch_size": 256,
        "n_epochs": 20,
        "learning_rate": 1e-3,
        "gamma": 0.98,
        "gae_lambda": 0.8,
        "ent_coef": 0.0,
        "clip_range": 0.2,
    },
    "mujoco": {
        "n_envs": 1,
        "n_steps": 2048,
        "batch_size": 64,
        "n_epochs": 10,
        "learning_rate": 3e-4,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "ent_coef": 0.0,
        "clip_range": 0.2,
        "normalize": True,
    },
    # rl-zoo's Atari entry (constant lr and clip range, as above), with its AtariWrapper and 4 stacked frames
    "atari": {
        "policy": "CnnPolicy",
        "n_envs": 8,
        "frame_stack": 4,
        "n_steps": 128,
        "n_epochs": 4,
        "batch_size": 256,
        "learning_rate": 2.5e-4,
        "clip_range": 0.1,
        "vf_coef": 0.5,
        "ent_coef": 0.01,
    },
}


@dataclass
class PPOResult:
    """What :func:`train_ppo` returns: the model, its learning curve and the wall time."""

    model: object
    curve: list[dict] = field(default_factory=list)
    wall_seconds: float = 0.0
    reached_target: bool = False
    vec_normalize: object | None = None

    @property
    def final(self) -> dict:
        return self.curve[-1] if self.curve else {}


def hyperparams_for(env_id: str) -> dict:
    """The family's hyper-parameters for ``env_id`` (a copy; safe to edit)."""
    family = env_family(env_id)
    if family == "ndcartpole":
        family = "classic"
    if family not in HYPERPARAMS:
        raise InvalidInputError(f"no SB3 PPO hyper-parameters for the {family!r} family of {env_id!r} yet")
    return dict(HYPERPARAMS[family])


def make_vec_envs(env_id: str, n_envs: int, seed: int, env_kwargs: dict, frame_stack: int | None):
    """SB3 vectorised envs; Atari ids get SB3's AtariWrapper and frame stacking."""
    from stable_baselines3.common.env_util import make_atari_env, make_vec_env
    from stable_baselines3.common.vec_env import VecFrameStack

    if env_family(env_id) == "atari":
        env = make_atari_env(env_id, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs)
        return VecFrameStack(env, n_stack=frame_stack or 4)
    return make_vec_env(env_id, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs)


def _evaluation_env(env_id, seed, env_kwargs, frame_stack, normalize_like=None):
    """One env scored like training sees it: frozen normalisation statistics, raw rewards."""
    from stable_baselines3.common.vec_env import VecNormalize

    env = make_vec_envs(env_id, 1, seed, env_kwargs, frame_stack)
    if normalize_like is None:
        return env
    env = VecNormalize(env, training=False, norm_reward=False)
    env.obs_rms = normalize_like.obs_rms
    return env


def evaluate_ppo(result: PPOResult, env_id: str, *, episodes: int = 100, seed: int = 0, env_kwargs=None):
    """Returns of ``episodes`` sampled-action episodes of the trained model (the paper's protocol)."""
    from stable_baselines3.common.evaluation import evaluate_policy

    frame_stack = hyperparams_for(env_id).get("frame_stack")
    env = _evaluation_env(env_id, seed, env_kwargs or {}, frame_stack, result.vec_normalize)
    returns, _ = evaluate_policy(
        result.model, env, n_eval_episodes=episodes, deterministic=False, return_episode_rewards=True
    )
    env.close()
    return np.asarray(returns, dtype=np.float64)


def train_ppo(
    env_id: str,
    *,
    seed: int = 0,
    env_kwargs: dict | None = None,
    timesteps: int | None = None,
    target_return: float | None = None,
    chunk: int = 10_000,
    eval_episodes: int = 20,
    max_timesteps: int = 2_000_000,
    hyperparams: dict | None = None,
    device: str = "cpu",
    on_chunk: Callable[[dict], None] | None = None,
) -> PPOResult:
    """Train SB3 ``PPO("MlpPolicy", env_id)`` until ``timesteps`` or ``target_return``.

    After every ``chunk`` timesteps, ``eval_episodes`` episodes with sampled actions
    (``deterministic=False``) on a separately seeded env give one point of the learning curve;
    training stops once that mean reaches ``target_return`` (or at ``timesteps``, or at
    ``max_timesteps`` when only a target is given).
    """
    try:
        from stable_baselines3 import PPO
        from stable_baselines3.common.evaluation import evaluate_policy
        from stable_baselines3.common.vec_env import VecNormalize
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "the PPO baseline needs stable-baselines3: pip install 'taskdistill_rl[sb3]'"
        ) from err
    check_env_id(env_id)
    if timesteps is None and target_return is None:
        raise InvalidInputError("give timesteps, target_return or both")
    if timesteps is not None and timesteps < 1:
        raise InvalidInputError(f"timesteps must be >= 1, got {timesteps}")
    if chunk < 1 or eval_episodes < 1:
        raise InvalidInputError(f"chunk and eval_episodes must be >= 1, got {chunk} and {eval_episodes}")
    budget = timesteps if timesteps is not None else max_timesteps
    hp = hyperparams_for(env_id) if hyperparams is None else dict(hyperparams)
    n_envs, normalize = hp.pop("n_envs"), hp.pop("normalize", False)
    policy, frame_stack = hp.pop("policy", "MlpPolicy"), hp.pop("frame_stack", None)
    env_kwargs = env_kwargs or {}

    start = time.perf_counter()
    env = make_vec_envs(env_id, n_envs, seed, env_kwargs, frame_stack)
    if normalize:
        env = VecNormalize(env, gamma=hp.get("gamma", 0.99))
    eval_env = _evaluation_env(env_id, seed + 10_000, env_kwargs, frame_stack, env if normalize else None)
    model = PPO(policy, env, seed=seed, verbose=0, device=device, **hp)
    result = PPOResult(model=model, vec_normalize=env if normalize else None)
    while model.num_timesteps < budget:
        model.learn(min(chunk, budget - model.num_timesteps), reset_num_timesteps=False)
        if normalize:
            eval_env.obs_rms = env.obs_rms
        returns, _ = evaluate_policy(
            model, eval_env, n_eval_episodes=eval_episodes, deterministic=False, return_episode_rewards=True
        )
        point = {
            "timesteps": int(model.num_timesteps),
            "wall_seconds": time.perf_counter() - start,
            "eval_mean": float(np.mean(returns)),
            "eval_std": float(np.std(returns)),
        }
        result.curve.append(point)
        if on_chunk is not None:
            on_chunk(point)
        if target_return is not None and point["eval_mean"] >= target_return:
            result.reached_target = True
            break
    result.wall_seconds = time.perf_counter() - start
    eval_env.close()
    return result
