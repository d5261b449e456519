"""A distilled file trains stable-baselines3 and TorchRL policies in one step."""

import gymnasium as gym
import pytest
import torch

from taskdistill_rl import load_distilled

sb3 = pytest.importorskip("stable_baselines3")


@pytest.mark.parametrize("model_seed", range(20))
def test_sb3_ppo_policy_fitted_in_one_step_solves_cartpole(model_seed):
    """SB3's default PPO MlpPolicy (64-64 tanh, orthogonal init: Λ's family), fitted from the 1D
    file, scores >= 475 on gymnasium's own CartPole-v1 with sampled actions."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.evaluation import evaluate_policy

    ds = load_distilled("zoo:ndcartpole-1d")
    model = PPO("MlpPolicy", "CartPole-v1", seed=model_seed, device="cpu")
    value_head = [p.clone() for p in model.policy.value_net.parameters()]
    ds.fit_sb3(model)
    env = gym.make("CartPole-v1")
    env.reset(seed=100 + model_seed)
    mean, _ = evaluate_policy(model, env, n_eval_episodes=20, deterministic=False)
    assert mean >= 475, (model_seed, mean)
    assert all(
        torch.equal(a, b) for a, b in zip(value_head, model.policy.value_net.parameters(), strict=True)
    )


def test_sb3_untrained_policy_fails_cartpole_so_the_step_is_what_helps():
    from stable_baselines3 import PPO
    from stable_baselines3.common.evaluation import evaluate_policy

    model = PPO("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    mean, _ = evaluate_policy(model, gym.make("CartPole-v1"), n_eval_episodes=20, deterministic=False)
    assert mean < 100


def test_torchrl_actor_fitted_in_one_step_solves_cartpole():
    from torchrl.envs import GymEnv
    from torchrl.envs.utils import ExplorationType, set_exploration_type

    env = GymEnv("CartPole-v1", categorical_action_encoding=True)
    actor = load_distilled("zoo:ndcartpole-1d").to_torchrl_actor(seed=0, env=env)
    env.set_seed(0)
    returns = []
    with set_exploration_type(ExplorationType.RANDOM), torch.no_grad():
        for _ in range(20):
            rollout = env.rollout(1000, actor)
            returns.append(rollout["next", "reward"].sum().item())
    assert sum(returns) / len(returns) >= 475, returns


def test_mismatched_spaces_are_refused_clearly():
    from stable_baselines3 import PPO

    ds = load_distilled("zoo:ndcartpole-2d")  # 8 observations, 4 actions
    with pytest.raises(ValueError, match=r"observes \(4,\) but the dataset's observations are \(8,\)"):
        ds.fit_sb3(PPO("MlpPolicy", "CartPole-v1", device="cpu"))
    with pytest.raises(
        ValueError, match=r"has continuous actions of size 1 but the dataset teaches discrete"
    ):
        load_distilled("zoo:ndcartpole-1d").fit_sb3(PPO("MlpPolicy", "InvertedPendulum-v5", device="cpu"))
    with pytest.raises(TypeError, match="ActorCriticPolicy"):
        ds.fit_sb3(object())
