"""Register ``NDCartPole-v0`` with gymnasium, importing nothing but gymnasium.

Kept apart from ``factory.py`` (which needs torch and torchrl) so that ``import taskdistill_rl``
and spawned gymnasium workers (``AsyncVectorEnv``, SB3 ``SubprocVecEnv``) start fast (issue 12).
"""

from __future__ import annotations

import gymnasium as gym

NDCARTPOLE_ID = "NDCartPole-v0"


def register_envs() -> None:
    """Register ``NDCartPole-v0`` with gymnasium (idempotent).

    A string entry point, so spawned workers that import only gymnasium can still build it; the
    entry point's module needs only gymnasium and numpy.

    Examples:
        >>> import gymnasium as gym
        >>> register_envs()
        >>> gym.make(NDCARTPOLE_ID, n_dims=2).action_space
        Discrete(4)
    """
    if NDCARTPOLE_ID not in gym.registry:
        gym.register(
            id=NDCARTPOLE_ID,
            entry_point="taskdistill_rl.envs.ndcartpole:NDCartPoleEnv",
            max_episode_steps=500,
            reward_threshold=475.0,
            kwargs={"n_dims": 1},
        )


__all__ = ["NDCARTPOLE_ID", "register_envs"]
