"""``make_env``: one entry point from an env id to a batched TorchRL environment, built by the
id's family (:mod:`taskdistill_rl.envs.families`)."""

from __future__ import annotations

from typing import Any

import torch
from torchrl.envs import EnvBase

from taskdistill_rl.envs.families import check_env_backend
from taskdistill_rl.envs.registration import NDCARTPOLE_ID, register_envs  # their old import path
from taskdistill_rl.errors import InvalidInputError

__all__ = ["NDCARTPOLE_ID", "make_env", "register_envs"]


def make_env(
    env_id: str,
    *,
    num_envs: int = 1,
    device: torch.device | str = "cpu",
    seed: int | None = None,
    backend: str = "gymnasium",
    workers: int = 1,
    **env_kwargs: Any,
) -> EnvBase:
    """Make a batched TorchRL env (batch size ``[num_envs]``) for any supported id.

    The id's family (:mod:`taskdistill_rl.envs.families`) builds it. ``NDCartPole-v0`` gives the
    fast torch `BatchedNDCartPole`; any other gymnasium id gives a synchronous gymnasium vector
    env (same-step auto-reset) inside ``GymWrapper``, with discrete actions as integer indices,
    then its family's preprocessing. Atari ids (``ALE/*-v5``, ``*NoFrameskip-v4``) give the
    preprocessed games of :mod:`taskdistill_rl.envs.atari`, one worker process per game when
    ``num_envs > 1``.

    Args:
        env_id: a gymnasium id, e.g. ``"NDCartPole-v0"``, ``"CartPole-v1"``, ``"Hopper-v5"``.

    Keyword Args:
        num_envs: number of environments stepped together.
        device: device of the returned tensors.
        seed: seeds the env (initial states) when given.
        backend: ``"gymnasium"`` or, for Atari ids, ``"envpool"`` (the same conventions emulated in
            EnvPool's C++ threads: :mod:`taskdistill_rl.envs.envpool_atari`). An Atari env's
            ``env_backend`` attribute names it.
        workers: forked processes stepping the sub-envs (families with ``forks_rollouts``,
            MuJoCo; the same results as one process).
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
    family = check_env_backend(env_id, backend)
    if workers > 1:
        if not family.forks_rollouts:
            raise InvalidInputError(f"env workers: {family.description} ({env_id}) steps in one process")
        env_kwargs["workers"] = workers
    return family.make(env_id, backend=backend, num_envs=num_envs, device=device, seed=seed, **env_kwargs)
