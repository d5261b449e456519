"""Queued evaluation: W sub-envs play more episodes than W, each taking the next job in turn."""

from __future__ import annotations

import torch

from taskdistill_rl.envs import make_env
from taskdistill_rl.rollouts import episode_returns, queued_episode_returns


def _recording_policy(seen: list):
    def act(obs: torch.Tensor, job: torch.Tensor) -> torch.Tensor:
        seen.append(job.clone())
        return torch.zeros(obs.shape[0], dtype=torch.long)  # always push left: short episodes

    return act


def test_three_envs_play_seven_jobs_each_once_with_their_full_returns():
    env = make_env("NDCartPole-v0", num_envs=3, seed=0)
    seen: list = []
    returns, capped = queued_episode_returns(env, _recording_policy(seen), 7)
    assert returns.shape == (7,) and not capped.any()
    jobs = torch.stack(seen)
    assert set(jobs.unique().tolist()) == {-1, *range(7)}  # every job played; -1 once none is left
    # cart-pole pays 1 per step: a job's return is the number of steps it was played for
    for j in range(7):
        assert returns[j] == (jobs == j).sum()
    # the same always-left episodes, played one per sub-env, give the same kind of returns
    reference = episode_returns(
        make_env("NDCartPole-v0", num_envs=7, seed=0), lambda obs: torch.zeros(7).long()
    )
    assert 5 <= returns.min() and returns.max() <= reference.max() + 5


def test_max_steps_cuts_every_episode_and_counts_it_as_capped():
    env = make_env("NDCartPole-v0", num_envs=2, seed=0)
    seen: list = []
    returns, capped = queued_episode_returns(env, _recording_policy(seen), 5, max_steps=4)
    assert capped.all() and torch.equal(returns, torch.full((5,), 4.0, dtype=torch.float64))
    # a cut episode's env plays its game out unused (job -1) before the next job starts afresh
    assert (torch.stack(seen) == -1).any()
