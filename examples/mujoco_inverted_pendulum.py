"""Continuous control: distil MuJoCo's InvertedPendulum-v5, then act with policies fitted in one step.

Run: ``python examples/mujoco_inverted_pendulum.py [OUT]`` (default ``runs/inverted-pendulum``;
needs the ``[mujoco]`` and ``[sb3]`` extras).

A continuous-action file holds k = 64 synthetic states labelled with the action MEAN a learner
should output there, a learned state-independent log-std that every fitted learner samples with,
and (MuJoCo's default) the observation normalisation the states live in. Budget: distil until
the periodic evaluation (10 fresh learners x 2 episodes every 10 meta-epochs) averages 990, at
most 180 s (10 meta-epochs, ~11 s alone on 2 cores), then 20 learners x 10 episodes:
expect ~990 (1,000 is the most an episode scores). With ``TASKDISTILL_EXAMPLE_TINY=1``: 2 small
meta-epochs and 2 learners x 1 episode (seconds; the pendulum falls within a few steps).
"""

import logging
import os
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from taskdistill_rl import Distiller, evaluate_dataset, load_distilled
from taskdistill_rl.sb3_layers import NormalizedFlattenExtractor

logging.getLogger("torchrl").setLevel(logging.WARNING)  # TorchRL's INFO lines, as the CLI hides them
TINY = os.environ.get("TASKDISTILL_EXAMPLE_TINY") == "1"
N_LEARNERS, EPISODES = (2, 1) if TINY else (20, 10)

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/inverted-pendulum")

    # 1. Distil. For MuJoCo ids k defaults to 64 and normalize_obs to True.
    tiny = dict(num_envs=8, steps_per_env=32, inits_per_epoch=4, final_learners=2, final_episodes=1)
    distiller = Distiller("InvertedPendulum-v5", seed=0, out_dir=out, **(tiny if TINY else {}))
    budget = dict(epochs=2) if TINY else dict(time_budget=180, target_return=990)
    distiller.train(**budget)
    print(f"{distiller.meta_epoch} meta-epochs in {distiller.wall_seconds:.0f} s")

    # 2. The file: states [64, 4], action means [64, 1], log-std [1], normalisation statistics [4].
    ds = load_distilled(out / "distilled.pt")
    print(ds)
    assert ds.continuous and ds.k == 64 and ds.observation.shape == (64, 4) and ds.label.shape == (64, 1)
    assert ds.log_std.shape == (1,) and ds.obs_norm["mean"].shape == ds.obs_norm["var"].shape == (4,)
    for name in ("observation", "label", "log_std"):  # the file holds what training produced
        assert torch.equal(getattr(ds, name).detach(), getattr(distiller.dataset, name).detach())
    print(f"action std every learner samples with: {ds.log_std.exp().item():.3f}")
    print(
        f"observation mean {ds.obs_norm['mean'].numpy().round(3)}, var {ds.obs_norm['var'].numpy().round(4)}"
    )
    # The states live in the normalised space: clip((obs - mean) / sqrt(var + 1e-8), -10, 10).
    raw_obs = torch.tensor([[0.0, 0.1, 0.0, 0.0]])
    expected = ((raw_obs - ds.obs_norm["mean"]) / (ds.obs_norm["var"] + 1e-8).sqrt()).clamp(-10, 10)
    torch.testing.assert_close(ds.normalize(raw_obs), expected)

    # 3. Many fresh learners, fitted in one step, each plays sampled episodes (Gaussian around
    #    its mean with the file's std); evaluate normalises the observations itself.
    returns = evaluate_dataset(ds, n_learners=N_LEARNERS, episodes=EPISODES, seed=1)
    assert returns.shape == (N_LEARNERS, EPISODES) and (returns >= 1).all()
    print(f"{N_LEARNERS} fresh learners x {EPISODES} sampled episode(s): {returns.mean():.1f}")

    # 4. One fitted policy in gymnasium. It takes RAW observations (it normalises them) and clips
    #    its actions to the action space it is given, as SB3's predict does.
    env = gym.make("InvertedPendulum-v5")
    policy = ds.make_policy(seed=0, action_space=env.action_space)
    obs, _ = env.reset(seed=0)
    mean_action = policy.predict(obs, deterministic=True)  # the learner's mean, no noise
    with torch.no_grad():
        by_hand = policy.module(ds.normalize(torch.as_tensor(obs, dtype=torch.float32))).numpy()
    np.testing.assert_allclose(mean_action, np.clip(by_hand, -3, 3), rtol=1e-6)
    episode_return, done = 0.0, False
    while not done:
        action = policy.predict(obs)  # float32 [1], sampled, clipped to [-3, 3]
        assert action.dtype == np.float32 and env.action_space.contains(action)
        obs, reward, terminated, truncated, _ = env.step(action)
        episode_return += reward
        done = terminated or truncated
    print(f"one fresh learner, one episode: {episode_return:.0f}")

    # 5. stable-baselines3: fit_sb3 copies the log-std and puts the file's normalisation INSIDE
    #    the policy (its features extractor), so the model takes raw observations: a plain
    #    gym.make env, a saved and loaded model, model.learn all see what the file saw.
    model = PPO("MlpPolicy", "InvertedPendulum-v5", seed=0, device="cpu")
    ds.fit_sb3(model)
    assert isinstance(model.policy.features_extractor, NormalizedFlattenExtractor)
    assert torch.equal(model.policy.log_std.detach(), ds.log_std.detach())
    raw_env = Monitor(gym.make("InvertedPendulum-v5"))
    sb3_mean, _ = evaluate_policy(model, raw_env, n_eval_episodes=EPISODES, deterministic=False)
    print(f"SB3 PPO fitted in one step: {sb3_mean:.1f} over {EPISODES} sampled episode(s)")
