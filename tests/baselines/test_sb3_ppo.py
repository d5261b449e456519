"""The SB3 PPO baseline trainer (shared by the PPMO benchmark and ``taskdistill baseline``)."""

import pytest

from taskdistill_rl.baselines.sb3_ppo import hyperparams_for, train_ppo
from taskdistill_rl.envs.families import CLASSIC
from taskdistill_rl.errors import UnknownEnvError

pytest.importorskip("stable_baselines3")


# A uniform random CartPole-v1 agent averages ~22 (paper Table 8: 21.8); seed 0 of this PPO
# scores 72, 105 and 214 after 2,048, 4,096 and 6,144 steps (torch 2.13, one thread; the
# thresholds below also hold with two).
RANDOM_CARTPOLE = 22


def test_trains_in_chunks_and_evaluates_after_each():
    chunks = []
    result = train_ppo(
        "CartPole-v1", seed=0, timesteps=6144, chunk=2048, eval_episodes=10, on_chunk=chunks.append
    )
    assert [p["timesteps"] for p in result.curve] == [2048, 4096, 6144] and chunks == result.curve
    assert result.model.num_timesteps == 6144
    walls = [p["wall_seconds"] for p in result.curve]
    assert walls == sorted(walls) and walls[-1] <= result.wall_seconds
    # learning, measured by the evaluations: well above a random agent (x4.5), half the best seen
    assert max(p["eval_mean"] for p in result.curve) >= 100 > 4 * RANDOM_CARTPOLE
    assert not result.reached_target


def test_stops_at_the_first_evaluation_that_reaches_the_target():
    target = 150.0
    result = train_ppo(
        "CartPole-v1", seed=0, target_return=target, chunk=2048, eval_episodes=10, max_timesteps=16384
    )
    means = [p["eval_mean"] for p in result.curve]
    assert result.reached_target and means[-1] >= target and all(m < target for m in means[:-1])
    assert len(means) < 16384 // 2048  # stopped before the cap
    assert result.model.num_timesteps == result.curve[-1]["timesteps"] == 2048 * len(means)


def test_a_target_that_is_never_reached_stops_at_max_timesteps():
    result = train_ppo(
        "CartPole-v1", seed=0, target_return=10_000, chunk=256, eval_episodes=1, max_timesteps=512
    )
    assert not result.reached_target and [p["timesteps"] for p in result.curve] == [256, 512]


def test_ndcartpole_trains_with_the_classic_hyperparameters():
    classic = CLASSIC.sb3
    assert hyperparams_for("NDCartPole-v0") == classic == hyperparams_for("CartPole-v1")
    result = train_ppo("NDCartPole-v0", env_kwargs={"n_dims": 2}, timesteps=256, chunk=256, eval_episodes=1)
    model = result.model
    assert model.observation_space.shape == (8,) and model.action_space.n == 4
    assert model.n_envs == classic["n_envs"] and model.n_steps == classic["n_steps"]
    assert (model.batch_size, model.n_epochs) == (classic["batch_size"], classic["n_epochs"])
    assert (model.gamma, model.gae_lambda, model.ent_coef) == (
        classic["gamma"],
        classic["gae_lambda"],
        classic["ent_coef"],
    )
    assert model.learning_rate == classic["learning_rate"] and model.clip_range(1.0) == classic["clip_range"]


def test_bad_input_is_refused():
    with pytest.raises(UnknownEnvError, match="CartPole-v1"):
        train_ppo("CartPole-v9", timesteps=10)
    with pytest.raises(ValueError, match="timesteps, target_return"):
        train_ppo("CartPole-v1")
