"""The teacher of the teacher-states baseline: a trained stable-baselines3 PPO policy read as a
source of real data. It lives apart from the search because it is the only part that knows SB3's
policy internals: the labels are the raw output of the policy's ``action_net``, the buffer is the
states the teacher visits acting at several temperatures, and its own returns are the yardstick
for the chosen states. Training it is :func:`taskdistill_rl.baselines.sb3_ppo.train_ppo`'s job."""

from __future__ import annotations

import math

import torch

from taskdistill_rl.envs import make_env
from taskdistill_rl.rollouts import episode_returns


@torch.no_grad()
def teacher_logits(model, observations: torch.Tensor) -> torch.Tensor:
    """The SB3 policy's action logits (``action_net``'s raw output, before the softmax) at
    ``observations [N, obs_dim]``: ``Categorical(logits=...)`` is the teacher's action distribution."""
    policy = model.policy
    obs = observations.to(policy.device, torch.float32)
    features = policy.extract_features(obs)
    if isinstance(features, tuple):  # separate actor and critic feature extractors
        features = features[0]
    return policy.action_net(policy.mlp_extractor.forward_actor(features)).float().cpu()


@torch.no_grad()
def collect_teacher_states(
    model,
    env_id: str,
    env_kwargs: dict,
    *,
    n_states: int,
    seed: int,
    temperature: float = 1.0,
    num_envs: int = 20,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_states`` real states visited by the teacher acting by sampling ``softmax(logits /
    temperature)``, and its (untempered) logits there: ``(states [N, obs_dim], logits [N, actions])``.

    The envs reset themselves when an episode ends, so the buffer holds whole episodes' states."""
    num_envs = min(num_envs, n_states)
    env = make_env(env_id, num_envs=num_envs, seed=seed, **env_kwargs)
    generator = torch.Generator().manual_seed(seed)
    states, logits = [], []
    try:
        td = env.reset()
        for _ in range(math.ceil(n_states / num_envs)):
            obs = td.get("observation").float()
            out = teacher_logits(model, obs)
            states.append(obs)
            logits.append(out)
            action = torch.multinomial((out / temperature).softmax(-1), 1, generator=generator).squeeze(-1)
            td.set("action", action)
            _, td = env.step_and_maybe_reset(td)
    finally:
        env.close()
    return torch.cat(states)[:n_states], torch.cat(logits)[:n_states]


def collect_buffer(
    model, env_id: str, env_kwargs: dict, *, n_states: int, temperatures: tuple[float, ...], seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The search's buffer: :func:`collect_teacher_states` at each temperature, ``n_states`` in all."""
    sizes = [
        n_states // len(temperatures) + (i < n_states % len(temperatures)) for i in range(len(temperatures))
    ]
    parts = [
        collect_teacher_states(model, env_id, env_kwargs, n_states=size, seed=seed + i, temperature=t)
        for i, (t, size) in enumerate(zip(temperatures, sizes, strict=True))
        if size
    ]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


@torch.no_grad()
def teacher_returns(
    model, env_id: str, env_kwargs: dict, *, episodes: int = 100, seed: int = 0
) -> torch.Tensor:
    """``[episodes]`` returns of the teacher acting by sampled actions, all episodes stepped together."""
    env = make_env(env_id, num_envs=episodes, seed=seed, **env_kwargs)
    generator = torch.Generator().manual_seed(seed)
    try:
        return episode_returns(
            env,
            lambda obs: torch.multinomial(
                teacher_logits(model, obs).softmax(-1), 1, generator=generator
            ).squeeze(-1),
        )
    finally:
        env.close()


__all__ = ["collect_buffer", "collect_teacher_states", "teacher_logits", "teacher_returns"]
