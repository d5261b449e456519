"""``make_env``: one entry point from an env id to a batched TorchRL environment."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import torch
from torchrl.envs import ClipTransform, DoubleToFloat, EnvBase, GymWrapper, TransformedEnv

from taskdistill_rl.envs.atari import is_atari, make_atari_vector, preprocessing_record, register_ale
from taskdistill_rl.envs.batched import BatchedNDCartPole
from taskdistill_rl.envs.registration import NDCARTPOLE_ID, register_envs
from taskdistill_rl.errors import InvalidInputError, InvalidInputTypeError, UnknownEnvError

log = logging.getLogger(__name__)

# Atari emulation backends (``--env-backend``): both give the same conventions (docs/atari.md).
ENV_BACKENDS = ("gymnasium", "envpool")


def _load_namespace(env_id: str) -> None:
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


def env_family(env_id: str) -> str:
    """``"atari"``, ``"mujoco"``, ``"ndcartpole"`` or ``"classic"`` (everything else).

    Raises:
        UnknownEnvError: for an id gymnasium does not know.
    """
    check_env_id(env_id)
    if env_id == NDCARTPOLE_ID:
        return "ndcartpole"
    if is_atari(env_id):
        return "atari"
    entry = str(gym.spec(env_id).entry_point)
    return "mujoco" if "mujoco" in entry else "classic"


def check_env_backend(env_id: str, backend: str) -> None:
    """Refuse a backend that cannot run ``env_id``: envpool runs Atari games only, and must be installed.

    Raises:
        InvalidInputError: for an unknown backend, or envpool with an id that is not Atari.
        UnknownEnvError: for envpool when it is not installed.
    """
    if backend not in ENV_BACKENDS:
        raise InvalidInputError(f"env backend must be one of {list(ENV_BACKENDS)}, got {backend!r}")
    if backend == "gymnasium":
        return
    from taskdistill_rl.envs.envpool_atari import ENVPOOL_INSTALL, envpool_available

    family = env_family(env_id)
    if family != "atari":
        raise InvalidInputError(
            f"the envpool backend runs Atari games only (ALE/*-v5, *NoFrameskip-v4); {env_id!r} is "
            f"{family}: drop --env-backend envpool"
        )
    if not envpool_available():
        raise UnknownEnvError(f"the envpool backend for {env_id!r} needs envpool: {ENVPOOL_INSTALL}")


def _float_observations(env: EnvBase) -> EnvBase:
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


def _continuous_control(env: EnvBase) -> EnvBase:
    """Float32 observations, and actions clipped to the space only on their way into the env:
    the sampled (unclipped) action stays in the rollout for the Gaussian log-probability.
    Observation normalisation is the distiller's (frozen into the file), not the env's."""
    env = _float_observations(env)
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


# Per-family TorchRL preprocessing applied after vectorisation (Atari's runs inside the workers:
# taskdistill_rl.envs.atari).
PREPROCESSING: dict[str, Callable[[EnvBase], EnvBase]] = {
    "classic": _float_observations,
    "mujoco": _continuous_control,
    "atari": lambda env: env,
}


def make_env(
    env_id: str,
    *,
    num_envs: int = 1,
    device: torch.device | str = "cpu",
    seed: int | None = None,
    backend: str = "gymnasium",
    **env_kwargs: Any,
) -> EnvBase:
    """Make a batched TorchRL env (batch size ``[num_envs]``) for any supported id.

    ``NDCartPole-v0`` gives the fast torch `BatchedNDCartPole`; any other gymnasium id
    gives a synchronous gymnasium vector env (same-step auto-reset) inside ``GymWrapper``, with
    discrete actions as integer indices, then the family's preprocessing. Atari ids (``ALE/*-v5``,
    ``*NoFrameskip-v4``) give the preprocessed games of :mod:`taskdistill_rl.envs.atari`, one
    worker process per game when ``num_envs > 1``.

    Args:
        env_id: a gymnasium id, e.g. ``"NDCartPole-v0"``, ``"CartPole-v1"``, ``"Hopper-v5"``.

    Keyword Args:
        num_envs: number of environments stepped together.
        device: device of the returned tensors.
        seed: seeds the env (initial states) when given.
        backend: ``"gymnasium"`` or, for Atari ids, ``"envpool"`` (the same conventions emulated in
            EnvPool's C++ threads: :mod:`taskdistill_rl.envs.envpool_atari`). An Atari env's
            ``env_backend`` attribute names it.
        **env_kwargs: passed to the environment's constructor (e.g. ``n_dims=2``).

    Raises:
        UnknownEnvError: for an id gymnasium does not know (close names suggested).
        UnknownEnvError: for ``backend="envpool"`` when envpool is not installed.
        InvalidInputError: for bad constructor arguments such as ``n_dims=0`` (an
            ``InvalidInputTypeError``, also a ``TypeError``, for unknown keywords or wrong types),
            or ``backend="envpool"`` with an id that is not Atari.

    Examples:
        >>> env = make_env("NDCartPole-v0", num_envs=4, n_dims=2, seed=0)
        >>> env.batch_size, env.action_spec.space.n
        (torch.Size([4]), 4)
    """
    check_env_id(env_id)
    check_env_backend(env_id, backend)
    family = env_family(env_id)
    if backend == "envpool":
        from taskdistill_rl.envs.envpool_atari import make_envpool_atari

        return make_envpool_atari(env_id, num_envs=num_envs, device=device, seed=seed, **env_kwargs)
    if family == "ndcartpole":
        unknown = set(env_kwargs) - {"n_dims", "dtype"}
        if unknown:
            raise InvalidInputTypeError(
                f"{NDCARTPOLE_ID} takes only n_dims (and dtype), got {sorted(unknown)}"
            )
        return BatchedNDCartPole(num_envs=num_envs, device=device, seed=seed, **env_kwargs)
    if family == "atari":
        env = GymWrapper(
            make_atari_vector(env_id, num_envs, **env_kwargs), categorical_action_encoding=True, device=device
        )
        env.gym_preprocessing = preprocessing_record()
        env.env_backend = "gymnasium"
        if seed is not None:
            env.set_seed(seed)
        return env
    try:
        vec = gym.make_vec(
            env_id,
            num_envs=num_envs,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
            **env_kwargs,
        )
    except TypeError as err:
        raise InvalidInputTypeError(f"bad keyword arguments for {env_id!r} {env_kwargs}: {err}") from err
    except (ValueError, gym.error.Error) as err:  # the env's constructor refused the user's arguments
        raise InvalidInputError(f"{env_id!r} with {env_kwargs or 'no arguments'}: {err}") from err
    env = GymWrapper(vec, categorical_action_encoding=True, device=device)
    env = PREPROCESSING[family](env)
    if seed is not None:
        env.set_seed(seed)
    return env
