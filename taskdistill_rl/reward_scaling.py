"""Reward scaling for learning: rewards divided by the running std of the discounted return.

Huang et al.'s continuous-control detail, as stable-baselines3's ``VecNormalize(norm_reward=True)``
does it: each env carries its discounted return ``R ← γR + r`` (zeroed when an episode ends), the
std of those returns is tracked over the whole run, and the critic learns from ``r / std``. A task
that pays ~3 a step (Hopper) then gives value targets near unit scale instead of hundreds; on
Hopper-v4 that alone took a 10-minute run from 636 to 1,636 (docs/continuous.md). The policy's
advantages are normalised per minibatch anyway; scores, evaluation and
``train/episode_return_mean`` stay raw.

One difference from SB3: the statistics take in a whole rollout's returns, then the rollout is
scaled, where SB3 merges and scales step by step. The std moves by one rollout's worth either way.
"""

from __future__ import annotations

import torch

from taskdistill_rl.obs_norm import CLIP, EPSILON, INITIAL_COUNT, merge_moments


class RewardScaler:
    """Scales a rollout's rewards ``[num_envs, T]`` by the running std of each env's discounted
    return, carrying the returns across rollouts (a rollout continues the last one's episodes)."""

    def __init__(self, num_envs: int, gamma: float):
        self.gamma = gamma
        self.returns = torch.zeros(num_envs, dtype=torch.float64)  # each env's discounted return
        self.mean = torch.zeros((), dtype=torch.float64)
        self.var = torch.ones((), dtype=torch.float64)
        self.count = torch.tensor(INITIAL_COUNT, dtype=torch.float64)

    @torch.no_grad()
    def __call__(self, reward: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
        """``reward / sqrt(var + 1e-8)`` clipped to ±10 (SB3's constants), after the rollout's
        discounted returns joined the statistics. ``done[e, t]``: env e's episode ended at step t."""
        if reward.shape != done.shape or reward.dim() != 2 or reward.shape[0] != self.returns.shape[0]:
            raise ValueError(
                f"reward and done must both be [num_envs={self.returns.shape[0]}, T], "
                f"got {tuple(reward.shape)} and {tuple(done.shape)}"
            )
        raw = reward.to("cpu", torch.float64)
        ended = done.to("cpu", torch.bool)
        discounted = torch.empty_like(raw)
        for t in range(raw.shape[1]):
            self.returns = self.returns * self.gamma + raw[:, t]
            discounted[:, t] = self.returns
            self.returns = torch.where(ended[:, t], 0.0, self.returns)
        batch = (discounted.mean(), discounted.var(unbiased=False), discounted.numel())
        merge_moments(self.mean, self.var, self.count, *batch)
        scaled = (raw / torch.sqrt(self.var + EPSILON)).clamp(-CLIP, CLIP)
        return scaled.to(reward.device, reward.dtype)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name).clone() for name in ("returns", "mean", "var", "count")}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name in ("returns", "mean", "var", "count"):
            setattr(self, name, state[name].to(torch.float64).clone())
