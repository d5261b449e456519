"""The SB3 PPO baseline trainer (shared by the PPMO benchmark and ``taskdistill baseline``)."""

import pytest

from taskdistill_rl.baselines.sb3_ppo import HYPERPARAMS, hyperparams_for, train_ppo
from taskdistill_rl.errors import UnknownEnvError

pytest.importorskip("stable_baselines3")


def test_trains_in_chunks_and_evaluates_after_each():
    result = train_ppo("CartPole-v1", seed=0, timesteps=512, chunk=256, eval_episodes=2)
    assert [p["timesteps"] for p in result.curve] == [256, 512]
    assert all(p["eval_mean"] >= 8 for p in result.curve)  # a CartPole episode lasts >= 8 steps
    assert result.curve[-1]["wall_seconds"] <= result.wall_seconds
    assert not result.reached_target


def test_stops_once_the_target_is_reached():
    result = train_ppo("CartPole-v1", seed=0, target_return=1.0, chunk=256, eval_episodes=2)
    assert result.reached_target and len(result.curve) == 1


def test_ndcartpole_uses_the_classic_hyperparameters():
    assert hyperparams_for("NDCartPole-v0") == HYPERPARAMS["classic"]
    result = train_ppo("NDCartPole-v0", env_kwargs={"n_dims": 2}, timesteps=256, chunk=256, eval_episodes=1)
    assert result.model.observation_space.shape == (8,)
    assert result.model.action_space.n == 4


def test_bad_input_is_refused():
    with pytest.raises(UnknownEnvError, match="CartPole-v1"):
        train_ppo("CartPole-v9", timesteps=10)
    with pytest.raises(ValueError, match="timesteps, target_return"):
        train_ppo("CartPole-v1")
