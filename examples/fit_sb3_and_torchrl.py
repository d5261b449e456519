"""Train a stable-baselines3 PPO policy and a TorchRL actor in ONE step from a distilled file.

Run: ``python examples/fit_sb3_and_torchrl.py`` (needs the ``[sb3]`` extra; writes nothing).

The file is the zoo's 1D cart-pole (``zoo:ndcartpole-1d``, k = 1 state). NDCartPole-v0 with
``n_dims=1`` is gymnasium's CartPole-v1 step for step, so its policies play CartPole-v1 itself.
Budget: 100 sampled episodes per policy (~1 minute on 2 cores); expect 500, the most a
CartPole-v1 episode scores, for both fitted policies, and ~20 for the untrained SB3 policy.
With ``TASKDISTILL_EXAMPLE_TINY=1``: 3 episodes per policy (seconds).
"""

import os

import gymnasium as gym
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from tensordict import TensorDict
from torch import nn
from torchrl.envs import GymEnv
from torchrl.envs.utils import ExplorationType, set_exploration_type

from taskdistill_rl import load_distilled

TINY = os.environ.get("TASKDISTILL_EXAMPLE_TINY") == "1"
EPISODES = 3 if TINY else 100

if __name__ == "__main__":
    ds = load_distilled("zoo:ndcartpole-1d")
    print(ds)
    env = Monitor(gym.make("CartPole-v1"))  # evaluate_policy reads episode returns from Monitor

    # 1. stable-baselines3. SB3's default MlpPolicy (64-64 tanh, orthogonal init, gain 0.01 on the
    #    action head) is Λ's family, the learners the file was distilled for.
    model = PPO("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    env.reset(seed=0)
    untrained, _ = evaluate_policy(model, env, n_eval_episodes=EPISODES, deterministic=False)

    # Our own learner with the SB3 actor's initial weights, to compare the two fits below.
    ours = ds.make_learner()  # Linear 4->64, Tanh, Linear 64->64, Tanh, Linear 64->2
    sb3_actor = nn.Sequential(*model.policy.mlp_extractor.policy_net, model.policy.action_net)
    ours.load_state_dict(sb3_actor.state_dict())  # the same five layers
    value_head = [p.clone() for p in model.policy.value_net.parameters()]

    ds.fit_sb3(model)  # ONE SGD step of MSE(logits, labels) on the actor path, in place
    ds.fit(ours)  # the same step on our module
    env.reset(seed=0)
    fitted, fitted_std = evaluate_policy(model, env, n_eval_episodes=EPISODES, deterministic=False)
    print(f"SB3 PPO, untrained: {untrained:.1f}; after fit_sb3: {fitted:.1f} ± {fitted_std:.1f}")
    assert untrained < 100 and fitted > 450  # the one step is what makes it play

    # The two fits are the same step: SB3's logits equal our learner's, on the file's states and
    # on states CartPole-v1 visits; the value head did not move.
    obs = torch.cat([ds.observation.detach(), torch.as_tensor(env.reset(seed=1)[0]).unsqueeze(0)])
    with torch.no_grad():
        sb3_logits = model.policy.get_distribution(obs).distribution.logits
        assert torch.allclose(sb3_logits, ours(obs).log_softmax(-1), atol=1e-5)
    assert all(
        torch.equal(a, b) for a, b in zip(value_head, model.policy.value_net.parameters(), strict=True)
    )
    action, _ = model.predict(env.reset(seed=2)[0], deterministic=True)
    assert env.action_space.contains(int(action))

    # 2. TorchRL: a ProbabilisticActor around a fresh Λ learner fitted in one step. It reads
    #    "observation" and writes "logits", "action" and "action_log_prob". Given the env, it
    #    writes actions in the env's encoding (GymEnv's default is one-hot; here integers).
    torchrl_env = GymEnv("CartPole-v1", categorical_action_encoding=True)  # integer actions
    torchrl_env.set_seed(0)
    actor = ds.to_torchrl_actor(seed=0, env=torchrl_env)
    returns = []
    with set_exploration_type(ExplorationType.RANDOM), torch.no_grad():  # sample, as the paper
        for _ in range(EPISODES):
            rollout = torchrl_env.rollout(1000, actor)  # stops at the first done (500 steps at most)
            returns.append(rollout["next", "reward"].sum().item())
            assert ((rollout["action"] == 0) | (rollout["action"] == 1)).all()
    mean = sum(returns) / len(returns)
    print(f"TorchRL actor after one step: {mean:.1f} over {len(returns)} episodes")
    assert mean > 450
    # Called on a TensorDict of observations, the actor adds its logits and sampled actions; its
    # network is ds.make_policy(seed=0)'s: the same fresh learner, fitted the same way.
    with torch.no_grad():
        td = actor(TensorDict({"observation": obs}, batch_size=[len(obs)]))
        assert torch.equal(td["logits"], ds.make_policy(seed=0).module(obs))
    assert td["action"].shape == (len(obs),) and td["action_log_prob"].shape == (len(obs),)
