"""Reward scaling (``--scale-rewards``): rewards over the running std of the discounted return,
carried across rollouts and checkpoints; scores stay raw."""

import math

import pytest
import torch

from taskdistill_rl.algorithms.ppmo import PPMO
from taskdistill_rl.config import DistillConfig
from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.results import distill_command
from taskdistill_rl.reward_scaling import RewardScaler

GAMMA = 0.9


def _reference(reward: list[list[float]], done: list[list[bool]]) -> tuple[list[list[float]], float]:
    """Scaled rewards of one rollout from a fresh scaler, in plain Python: each env's discounted
    return step by step, their population variance merged with the prior (mean 0, var 1, count
    1e-4), rewards over sqrt(var + 1e-8)."""
    discounted = []
    for env_rewards, env_done in zip(reward, done, strict=True):
        running = 0.0
        for r, d in zip(env_rewards, env_done, strict=True):
            running = GAMMA * running + r
            discounted.append(running)
            running = 0.0 if d else running
    n, prior = len(discounted), 1e-4
    mean = sum(discounted) / n
    var = sum((x - mean) ** 2 for x in discounted) / n
    total = n + prior
    merged_var = (1.0 * prior + var * n + mean**2 * prior * n / total) / total
    scale = math.sqrt(merged_var + 1e-8)
    return [[r / scale for r in env_rewards] for env_rewards in reward], merged_var


def _rollout(num_envs: int = 3, steps: int = 12, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    reward = torch.rand(num_envs, steps, generator=g, dtype=torch.float64) * 5
    done = torch.rand(num_envs, steps, generator=g) < 0.2
    return reward, done


def test_scaled_rewards_equal_a_step_by_step_reference():
    reward, done = _rollout()
    expected, var = _reference(reward.tolist(), done.tolist())
    scaled = RewardScaler(3, GAMMA)(reward, done)
    torch.testing.assert_close(scaled, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-12)
    assert not torch.allclose(scaled, reward)  # the std of these returns is far from 1
    assert var > 2


def test_discounted_returns_carry_across_rollouts():
    """Two halves of a rollout leave the statistics one whole rollout leaves: each env's discounted
    return goes on across the cut (were it restarted, the second half's returns would differ)."""
    reward, done = _rollout(steps=20)
    done[:, 9] = False  # no episode ends at the cut: the carried return matters there
    whole, halves = RewardScaler(3, GAMMA), RewardScaler(3, GAMMA)
    whole(reward, done)
    halves(reward[:, :10], done[:, :10])
    halves(reward[:, 10:], done[:, 10:])
    for name in ("returns", "mean", "var", "count"):
        torch.testing.assert_close(getattr(halves, name), getattr(whole, name), rtol=1e-12, atol=1e-12)


def test_an_ended_episode_restarts_its_discounted_return():
    scaler = RewardScaler(1, GAMMA)
    scaler(torch.tensor([[1.0, 1.0]]), torch.tensor([[False, True]]))
    assert scaler.returns.item() == 0.0
    scaler(torch.tensor([[2.0]]), torch.tensor([[False]]))
    assert scaler.returns.item() == 2.0


def test_wrong_shapes_are_refused():
    with pytest.raises(ValueError, match="num_envs=3"):
        RewardScaler(3, GAMMA)(torch.zeros(2, 5), torch.zeros(2, 5, dtype=torch.bool))


def _pendulum(scale: bool) -> PPMO:
    return PPMO("Pendulum-v1", num_envs=4, steps_per_env=16, inits_per_epoch=2, seed=3, scale_rewards=scale)


def _first_rollout(scale: bool):
    """One rollout of a fresh run (one at a time: a run seeds torch's global generator, which
    samples the actions)."""
    algo = _pendulum(scale)
    try:
        return algo.collect(), algo.reward_scaler
    finally:
        algo.close()


def test_ppmo_learns_from_scaled_rewards_and_keeps_raw_ones_for_scores():
    (raw, no_scaler), (scaled, scaler) = _first_rollout(False), _first_rollout(True)
    raw_reward = raw.data.get(("next", "reward"))
    expected = (raw_reward.double() / torch.sqrt(scaler.var + 1e-8)).float()
    # same seed, same actions: the scaled run's rewards are the raw ones over the running std
    torch.testing.assert_close(scaled.data.get(("next", "reward")), expected, rtol=1e-6, atol=1e-6)
    assert scaler.var.item() > 100  # Pendulum pays ~-5 a step: far from unit scale
    # the critic's targets come from the scaled rewards
    assert not torch.allclose(scaled.data.get("value_target"), raw.data.get("value_target"))
    assert no_scaler is None


def test_a_checkpoint_carries_the_statistics_and_restarts_the_returns():
    first = _pendulum(True)
    first.step()
    state = first.state_dict()
    saved = first.reward_scaler.state_dict()
    first.close()
    resumed = _pendulum(True)
    try:
        resumed.load_state_dict(state)
        # gymnasium episodes restart on resume, and so do their discounted returns; the statistics go on
        pending = resumed.state_dict()["rollout"]["reward_scaler"]
        assert saved["returns"].abs().sum() > 0 and torch.equal(
            pending["returns"], torch.zeros(4, dtype=torch.float64)
        )
        for name in ("mean", "var", "count"):
            assert torch.equal(pending[name], saved[name])
        resumed.collect()
        # the live scaler took the loaded statistics in (one that loaded nothing: 1e-4 + 64)
        assert resumed.reward_scaler.count.item() == pytest.approx(saved["count"].item() + 4 * 16)
    finally:
        resumed.close()


@pytest.mark.parametrize("saved", [False, True])
def test_a_checkpoint_resumes_only_as_it_scaled(saved):
    """A MuJoCo run left to the default before the default became scaling must not start scaling
    mid-way on resume (nor the other way): one error naming the flag that resumes it."""
    first = _pendulum(saved)
    first.step()
    state = first.state_dict()
    first.close()
    other = _pendulum(not saved)
    try:
        flag = "--scale-rewards" if saved else "--no-scale-rewards"
        with pytest.raises(InvalidInputError, match=f"resume with {flag}$"):
            other.load_state_dict(state)
        assert other.meta_epoch == 0  # refused before anything was loaded
    finally:
        other.close()


def test_the_default_is_the_familys_and_a_choice_is_in_the_reproduce_command():
    from taskdistill_rl.envs.families import family_of

    config = DistillConfig(env="Hopper-v5").resolved()
    assert config.scale_rewards is None and family_of("Hopper-v5").scales_rewards is True
    assert family_of("CartPole-v1").scales_rewards is False
    algo = PPMO("Hopper-v5", num_envs=4, steps_per_env=8, inits_per_epoch=2)
    assert algo.reward_scaler is not None  # the family's default reaches the algorithm
    algo.close()
    # said out loud, so the command still reproduces the run if the family's default changes again
    assert "--scale-rewards" in distill_command(config, 3).split()
    assert "scale-rewards" not in distill_command(DistillConfig(env="CartPole-v1").resolved(), 3)
    on = DistillConfig(env="Hopper-v5", scale_rewards=True).resolved()
    assert "--scale-rewards" in distill_command(on, 3).split()
    off = DistillConfig(env="Hopper-v5", scale_rewards=False).resolved()
    assert "--no-scale-rewards" in distill_command(off, 3).split()
    # the checkpoint records whether it scaled and PPMO compares that on load
    # (test_a_checkpoint_resumes_only_as_it_scaled), so the hash leaves the field out: an older MuJoCo
    # checkpoint, hashed with None, resumes with --no-scale-rewards
    assert on.learning_hash() == config.learning_hash() == off.learning_hash()
