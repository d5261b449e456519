"""Queued evaluation: W sub-envs play more episodes than W, each taking the next job in turn."""

from __future__ import annotations

import pytest
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


def _lean_right(obs: torch.Tensor, job: torch.Tensor) -> torch.Tensor:
    """CartPole-v1: push the cart towards the pole's lean, too late (episodes of 10-100 steps, of
    lengths that depend on the obs)."""
    return (obs[:, 2] > 0.05).long()


def test_sub_envs_split_over_forked_workers_play_as_one_env():
    """ForkedEnvs seeds share ``w`` with ``seed + start``: the same sub-env seeds as one gymnasium
    vector env, so a queued evaluation gives the same returns whatever the split."""
    from taskdistill_rl.env_workers import ForkedEnvs

    def make_shard(start, size):
        return make_env("CartPole-v1", num_envs=size, seed=11 + start)

    one = make_env("CartPole-v1", num_envs=12, seed=11)
    expected, _ = queued_episode_returns(one, _lean_right, 40, truncation_cuts=False)
    one.close()
    with ForkedEnvs(make_shard, 12, workers=3) as split:
        assert split.sizes == [4, 4, 4]
        returns, capped = queued_episode_returns(split, _lean_right, 40, truncation_cuts=False)
    assert torch.equal(returns, expected) and not capped.any()
    assert len(returns.unique()) > 5  # episodes of many lengths: the job order matters


def test_a_failing_worker_raises_its_error_here():
    from taskdistill_rl.env_workers import ForkedEnvs

    def make_shard(start, size):
        if start > 0:
            raise ValueError(f"no env at {start}")
        return make_env("CartPole-v1", num_envs=size)

    with pytest.raises(RuntimeError, match=r"env worker 1 failed:(.|\n)*ValueError: no env at 2"):
        ForkedEnvs(make_shard, 4, workers=2)


def test_an_envs_own_time_limit_is_a_cut_only_where_asked():
    """Atari counts the ALE's limit as a cut; for MuJoCo or classic control the time limit is how an
    episode ends. CartPole-v1 with a policy that balances ends every episode at its 500-step limit."""

    def balance(obs, job):
        return (obs[:, 2] + 0.5 * obs[:, 3] + 0.01 * obs[:, 0] + 0.1 * obs[:, 1] > 0).long()

    env = make_env("CartPole-v1", num_envs=2, seed=0)
    returns, capped = queued_episode_returns(env, balance, 2, truncation_cuts=False)
    assert torch.equal(returns, torch.full((2,), 500.0, dtype=torch.float64)) and not capped.any()
    returns, capped = queued_episode_returns(env, balance, 2)
    assert capped.all()
    env.close()
