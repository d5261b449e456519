"""Your own env family in one file: a small game of catch, and the record that tells the tool how
to build, evaluate and default it.

``Catch-v0``: a ball falls down a ``width``-column board, one row a step; the paddle on the bottom
row moves left, stays or moves right. The episode ends when the ball reaches the bottom: +1 if the
paddle is under it, -1 if not. Observations are the ball's column and row and the paddle's column,
scaled to [0, 1]. A uniformly random paddle catches about one ball in five (mean return ~ -0.6);
moving toward the ball always catches it (1.0).

Importing this module registers the id with gymnasium; the family record ``CATCH`` is what
``--env-family`` names. Nothing else in the tool changes: distillation, evaluation, the baselines
and the run directory ask the record.

    taskdistill distill --env Catch-v0 --env-family examples.own_env_family:CATCH --epochs 40 --out runs/catch
    taskdistill evaluate runs/catch/distilled.pt --env-family examples.own_env_family:CATCH
    taskdistill baseline --env Catch-v0 --env-family examples.own_env_family:CATCH --algo random
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from taskdistill_rl.envs.builders import float_observations
from taskdistill_rl.envs.families import CLASSIC, EnvFamily, gymnasium_builder

CATCH_ID = "Catch-v0"


class CatchEnv(gym.Env):
    """Catch a falling ball with a paddle (see the module docstring)."""

    def __init__(self, width: int = 5):
        if not isinstance(width, int) or width < 2:
            raise ValueError(f"width must be an int >= 2, got {width!r}")
        self.width = self.height = width  # the paddle can reach any column in time
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(3,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(3)  # left, stay, right

    def _observation(self) -> np.ndarray:
        scale = self.width - 1
        return np.array([self.ball_col / scale, self.ball_row / scale, self.paddle / scale], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.ball_col, self.paddle = (int(c) for c in self.np_random.integers(0, self.width, size=2))
        self.ball_row = 0
        return self._observation(), {}

    def step(self, action):
        self.paddle = int(np.clip(self.paddle + int(action) - 1, 0, self.width - 1))
        self.ball_row += 1
        landed = self.ball_row == self.height - 1
        reward = (1.0 if self.paddle == self.ball_col else -1.0) if landed else 0.0
        return self._observation(), reward, landed, False, {}


if CATCH_ID not in gym.registry:
    gym.register(CATCH_ID, entry_point=CatchEnv)

CATCH = EnvFamily(
    name="catch",
    description="the catch game of examples/own_env_family.py",
    recognises=lambda env_id: env_id == CATCH_ID,
    build=gymnasium_builder(float_observations),  # gymnasium's vector env, float32 observations
    # An episode is a few steps: evaluate often, and on many episodes at the end.
    evaluation={
        "eval_interval": 5,
        "eval_learners": 20,
        "eval_episodes": 10,
        "final_learners": 50,
        "final_episodes": 20,
    },
    sb3=CLASSIC.sb3,  # the SB3 PPO baseline with the classic-control settings
    teacher_states=True,
)


if __name__ == "__main__":  # the module docstring's claims about the game, checked
    env = gym.make(CATCH_ID)
    rng = np.random.default_rng(0)

    def mean_return(policy, episodes: int = 2_000) -> float:
        total = 0.0
        for episode in range(episodes):
            obs, _ = env.reset(seed=episode)
            done = False
            while not done:
                obs, reward, done, _, _ = env.step(policy(obs))
                total += reward
        return total / episodes

    random_paddle = mean_return(lambda obs: int(rng.integers(3)))
    toward_ball = mean_return(lambda obs: 1 + int(np.sign(obs[0] - obs[2])))
    print(f"Catch-v0: random paddle {random_paddle:.2f}, moving toward the ball {toward_ball:.2f}")
    assert -0.8 < random_paddle < -0.4 and toward_ball == 1.0
