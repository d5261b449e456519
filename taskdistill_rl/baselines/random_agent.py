"""Uniform-random agent (the paper's Table 8 baseline)."""

from __future__ import annotations

import torch

from taskdistill_rl.compat import env_actions
from taskdistill_rl.envs import make_env
from taskdistill_rl.envs.families import family_of
from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.rollouts import episode_returns, queued_episode_returns


def random_agent_returns(
    env_id: str, *, episodes: int = 100, seed: int = 0, env_kwargs: dict | None = None
) -> torch.Tensor:
    """Returns of ``episodes`` episodes of uniformly random actions, all stepped together."""
    if episodes < 1:
        raise InvalidInputError(f"episodes must be >= 1, got {episodes}")
    generator = torch.Generator().manual_seed(seed)
    family = family_of(env_id)
    if family.own_processes:  # full games in turn on a few worker processes
        width = min(episodes, family.queue_width)
        env = make_env(env_id, num_envs=width, seed=seed, **(env_kwargs or {}))
        n = env.action_spec.space.n
        try:
            returns, _ = queued_episode_returns(
                env, lambda obs, job: torch.randint(0, n, (width,), generator=generator), episodes
            )
        finally:
            env.close()
        return returns
    env = make_env(env_id, num_envs=episodes, seed=seed, **(env_kwargs or {}))
    spec = env.action_spec
    kind, n_actions = env_actions(env)
    if kind == "discrete":
        act = lambda obs: torch.randint(0, n_actions, (episodes,), generator=generator)
    else:
        low, high = spec.space.low, spec.space.high
        act = lambda obs: low + (high - low) * torch.rand(spec.shape, generator=generator)
    return episode_returns(env, act)
