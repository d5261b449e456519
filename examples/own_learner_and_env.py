"""Bring your own environment and your own learner distribution: register a tiny gymnasium env
and a distribution you define (ReLU, width 128, Xavier), distil the env for that distribution,
then fit and evaluate its learners (and the paper's Λ) on the file.

Run: ``python examples/own_learner_and_env.py [OUT]`` (a run directory, default
``runs/own-learner-and-env``). Budget: 40 meta-epochs (fast preset, ~20 s on 2 cores), then 50
fresh learners x 10 episodes per distribution; see docs/tutorials/own-learner-and-env.md for the
returns we measured against uniform-random play. ``TASKDISTILL_EXAMPLE_TINY=1``: 3 meta-epochs of
16 envs x 16 steps and evaluations of a few episodes (seconds; the file is then barely trained).
"""

import os
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from taskdistill_rl import Distiller, evaluate_distributions, make_learners
from taskdistill_rl.baselines.random_agent import random_agent_returns
from taskdistill_rl.learners import LEARNERS, MLPLearners

TINY = os.environ.get("TASKDISTILL_EXAMPLE_TINY") == "1"


# 1. An environment of your own: any gymnasium.Env with a Box observation and Discrete (or Box)
# actions. Registered under an id, it is made like any other (make_env, Distiller, evaluate).
class LineGoalEnv(gym.Env):
    """Walk a point along a line to a goal.

    ## Action Space
    ``Discrete(2)``: 0 steps left, 1 steps right, by ``step_size``.

    ## Observation Space
    ``Box(-1, 1, (2,), float32)``: ``[position, goal]``.

    ## Rewards
    ``-|position - goal|`` at every step: the sooner the point reaches the goal, the higher.

    ## Starting State
    Position and goal uniform in [-1, 1].

    ## Episode End
    Truncated after 20 steps (``max_episode_steps`` at registration); never terminated.

    ## Arguments
    ``step_size``: distance moved per step.
    """

    def __init__(self, step_size: float = 0.1):
        self.step_size = step_size  # position units per step
        self.observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.position, self.goal = self.np_random.uniform(-1.0, 1.0, size=2)
        return self._observation(), {}

    def step(self, action):
        move = self.step_size if action == 1 else -self.step_size
        self.position = float(np.clip(self.position + move, -1.0, 1.0))
        return self._observation(), -abs(self.position - self.goal), False, False, {}

    def _observation(self) -> np.ndarray:
        return np.array([self.position, self.goal], dtype=np.float32)


gym.register("LineGoal-v0", entry_point=LineGoalEnv, max_episode_steps=20)


# 2. A learner distribution of your own: anything with the LearnerDistribution protocol (spec,
# build, sample, sample_stacked). Subclassing MLPLearners keeps its sampling; only the
# activation changes. The one-step fit and the batched evaluation handle tanh and ReLU MLPs by
# formula and any other nn.Sequential through torch.func.
class ReLUMLPLearners(MLPLearners):
    """MLPLearners with ReLU between the layers instead of tanh."""

    def build(self) -> nn.Sequential:
        return nn.Sequential(*(nn.ReLU() if isinstance(m, nn.Tanh) else m for m in super().build()))


# Registered by name: make_learners("relu-128", ...) and every evaluation now know it. The
# defaults make it a distribution: one hidden layer of 128, Xavier-normal weights with gain √2.
LEARNERS["relu-128"] = (ReLUMLPLearners, {"hidden": (128,), "init": "xavier_normal", "hidden_gain": 2**0.5})

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/own-learner-and-env")

    # 3. Distil your env like any gymnasium id, for your distribution (learner=, or
    # `taskdistill distill --learner relu-128` in a script that registers it). A run directory as
    # `taskdistill distill` writes; its final evaluation uses the file's own distribution.
    small = {"num_envs": 16, "steps_per_env": 16, "final_learners": 2, "final_episodes": 2} if TINY else {}
    distiller = Distiller("LineGoal-v0", learner="relu-128", out_dir=out, quiet=TINY, **small)
    ds = distiller.train(epochs=3 if TINY else 40)
    print(ds)  # k=2: ceil(2 actions / 2) + 1
    assert tuple(ds.observation.shape) == (2, 2) and (out / "eval.json").is_file()
    assert ds.learner_spec["name"] == "relu-128"  # the file records what it was distilled for
    assert any(isinstance(m, nn.ReLU) for m in ds.make_learner(seed=0))

    # 4. Evaluate the file on your distribution and on the paper's Λ: fresh learners, each fitted
    # in ONE step, play sampled episodes ([n_learners, episodes] returns per distribution).
    n, episodes = (4, 2) if TINY else (50, 10)
    returns = evaluate_distributions(ds, ["relu-128", "lambda"], n_learners=n, episodes=episodes, seed=0)
    rand = random_agent_returns("LineGoal-v0", episodes=10 if TINY else 100, seed=0)
    for name, r in returns.items():
        assert r.shape == (n, episodes) and ((r <= 0) & (r >= -40)).all()  # 20 steps, each in [-2, 0]
        print(f"{name:>9}: {r.mean():6.2f} ({n} learners x {episodes} episodes)")
    print(f"   random: {rand.mean():6.2f} ({len(rand)} episodes)")
    if not TINY:
        assert returns["relu-128"].mean() > rand.mean()

    # 5. One learner of your own, fitted on the file, acting in the gymnasium env.
    learners = make_learners("relu-128", obs_shape=ds.obs_shape, out_features=ds.out_features)
    learner = ds.fit(learners.sample(torch.Generator().manual_seed(0)))
    assert any(isinstance(m, nn.ReLU) for m in learner)
    env = gym.make("LineGoal-v0")
    obs, info = env.reset(seed=0)
    episode_return, done = 0.0, False
    while not done:
        with torch.no_grad():
            action = int(learner(torch.as_tensor(obs)).argmax())  # the most likely action
        obs, reward, terminated, truncated, info = env.step(action)
        episode_return, done = episode_return + reward, terminated or truncated
    print(f"one relu-128 learner, argmax actions: {episode_return:.2f}")
