"""How a gymnasium id becomes a batched TorchRL env: the id check, the synchronous vector env,
the TorchRL transforms the families put after it, and the record of those transforms that a
distilled file keeps. The families (:mod:`taskdistill_rl.envs.families`) compose these."""

from __future__ import annotations

import difflib
import logging
from typing import Any

import gymnasium as gym
import torch
from torchrl.envs import ClipTransform, DoubleToFloat, EnvBase, GymWrapper, TransformedEnv

from taskdistill_rl.envs.atari import register_ale
from taskdistill_rl.envs.minatar import is_minatar, require_minatar
from taskdistill_rl.envs.registration import register_envs
from taskdistill_rl.errors import InvalidInputError, InvalidInputTypeError, UnknownEnvError

log = logging.getLogger(__name__)


def _load_namespace(env_id: str) -> None:
    if is_minatar(env_id):  # registered on first use, or one error naming the extra
        require_minatar(env_id)
        return
    # gymnasium only knows the ALE ids (ALE/*-v5 and *NoFrameskip-v4) once ale_py registered them
    # (torchrl-notes surprise 8).
    if env_id not in gym.registry and not register_ale() and env_id.startswith("ALE/"):
        raise UnknownEnvError(
            f"{env_id!r} needs ale-py: pip install ale-py opencv-python-headless (the [atari] extra)"
        )


def check_env_id(env_id: str) -> str:
    """Return ``env_id`` if gymnasium can make it, else raise `UnknownEnvError`.

    Raises:
        UnknownEnvError: naming the closest registered ids when there are any.
    """
    if not isinstance(env_id, str) or not env_id:
        raise UnknownEnvError(f"an env id must be a non-empty string, got {env_id!r}")
    register_envs()
    _load_namespace(env_id)
    if env_id in gym.registry:
        return env_id
    close = difflib.get_close_matches(env_id, list(gym.registry.keys()), n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else " See gymnasium.pprint_registry()."
    raise UnknownEnvError(f"unknown environment id {env_id!r}.{hint}")


def gym_vector_env(
    env_id: str, *, num_envs: int, device: torch.device | str, workers: int = 1, **env_kwargs: Any
) -> EnvBase:
    """``num_envs`` copies of a gymnasium env stepped together (synchronously, auto-reset in the
    same step) inside ``GymWrapper``, discrete actions as integer indices. ``workers > 1`` steps
    them in that many forked processes (:class:`~taskdistill_rl.env_workers.ForkedVectorEnv`),
    with the same results.

    Raises:
        InvalidInputTypeError: unknown keywords or wrong types for the env's constructor.
        InvalidInputError: the env's constructor refused the arguments' values.
    """

    def make_sync(n: int) -> gym.vector.VectorEnv:
        return gym.make_vec(
            env_id,
            num_envs=n,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
            **env_kwargs,
        )

    from taskdistill_rl.env_workers import ForkedVectorEnv

    try:  # a forked env builds one env here first: the same refusals, before any worker starts
        vec = make_sync(num_envs) if workers <= 1 else ForkedVectorEnv(make_sync, num_envs, workers=workers)
    except TypeError as err:
        raise InvalidInputTypeError(f"bad keyword arguments for {env_id!r} {env_kwargs}: {err}") from err
    except (ValueError, gym.error.Error) as err:  # the env's constructor refused the user's arguments
        raise InvalidInputError(f"{env_id!r} with {env_kwargs or 'no arguments'}: {err}") from err
    return GymWrapper(vec, categorical_action_encoding=True, device=device)


def float_observations(env: EnvBase) -> EnvBase:
    """Cast float64 observations to float32 (MuJoCo; torchrl-notes surprise 5)."""
    keys = [k for k, spec in env.observation_spec.items(True, True) if spec.dtype == torch.float64]
    return with_transform(env, DoubleToFloat(in_keys=keys)) if keys else env


def with_transform(env: EnvBase, transform) -> TransformedEnv:
    """``env`` followed by ``transform``, as one flat pipeline (gymnasium vector envs come
    wrapped in a TransformedEnv already; nesting another makes TorchRL warn and unwrap)."""
    if isinstance(env, TransformedEnv):
        env.append_transform(transform)
        return env
    return TransformedEnv(env, transform)


def continuous_control(env: EnvBase) -> EnvBase:
    """Float32 observations, and actions clipped to the space only on their way into the env:
    the sampled (unclipped) action stays in the rollout for the Gaussian log-probability.
    Observation normalisation is the distiller's (frozen into the file), not the env's."""
    env = float_observations(env)
    space = env.action_spec.space
    if not hasattr(space, "low"):
        return env
    low, high = space.low.unique(), space.high.unique()
    if len(low) != 1 or len(high) != 1:  # ClipTransform takes scalars; every MuJoCo v5 box is uniform
        log.warning("per-dimension action bounds: actions reach the env unclipped (MuJoCo clamps controls)")
        return env
    return with_transform(env, ClipTransform(in_keys_inv=["action"], low=float(low), high=float(high)))


def describe_preprocessing(env: EnvBase) -> list[dict]:
    """The TorchRL transforms on ``env``, by name with their arguments (never code): what a
    distilled file records in ``meta["preprocessing"]`` so that every later use of the file can
    check it acts through the same pipeline."""
    out = list(getattr(env, "gym_preprocessing", []))  # gymnasium wrappers inside the workers
    transform = getattr(env, "transform", None)
    if transform is None:
        return out
    for t in getattr(transform, "transforms", [transform]):
        kwargs: dict = {}
        for name in ("low", "high"):
            value = getattr(t, name, None)
            if value is not None:
                kwargs[name] = float(value)
        keys = [k if isinstance(k, str) else list(k) for k in t.in_keys or t.in_keys_inv]
        out.append({"name": type(t).__name__, "kwargs": {**kwargs, "keys": keys}})
    return out
