"""Can a one-step learner act like a swing-up controller on Pendulum-v1 at all?

A diagnosis of the PPMO plateau (results/classic/README.md), not part of the library: it
meta-learns 64 points (X, Y, inner lr) by *imitation* of a hand-written energy-pumping + PD
controller, with fresh learners from the distribution every step (4 per step, 1,000 Adam steps at
3e-2), then fits 10 fresh learners in one step and plays 5 episodes each, acting by the mean.
If imitation, the easiest signal there is, cannot make one-step learners swing up, PPMO's
return signal will not either.

Run: python results/classic/pendulum_probe.py [LEARNER [HIDDEN_GAIN]]   (default: lambda)
"""

import sys

import gymnasium as gym
import numpy as np
import torch
from torch.func import functional_call

from taskdistill_rl.dataset import DistilledDataset

SCALE = torch.tensor([1.0, 1.0, 1 / 8.0])  # cos, sin, angular velocity / its bound


def controller(obs: np.ndarray) -> np.ndarray:
    """Pump energy towards the upright's (E = w^2/2 + 15 cos(theta)), then balance with PD."""
    c, s, w = obs[..., 0], obs[..., 1], obs[..., 2]
    energy = 0.5 * w**2 + 15 * c
    pd = np.clip(-10 * np.arctan2(s, c) - 2 * w, -2, 2)
    pump = np.clip(2.0 * w * (15 - energy), -2, 2)
    return np.where(c > 0.8, pd, pump)[..., None].astype(np.float32)


def play(env, act, episodes: list[int]) -> list[float]:
    returns = []
    for seed in episodes:
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += reward
            done = terminated or truncated
        returns.append(total)
    return returns


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "lambda"
    extra = {"hidden_gain": float(sys.argv[2])} if len(sys.argv) > 2 else {}
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    env = gym.make("Pendulum-v1")
    print(f"controller: {np.mean(play(env, controller, list(range(30)))):.1f} (30 episodes)")
    states = []
    for episode in range(150):  # the controller's states, with exploration noise
        obs, _ = env.reset(seed=1000 + episode)
        for _ in range(200):
            states.append(obs)
            noisy = controller(obs) + rng.normal(0, 0.5, 1).astype(np.float32)
            obs, *_ = env.step(np.clip(noisy, -2, 2))
    states = torch.tensor(np.array(states))
    actions = torch.tensor(controller(states.numpy()))
    spec = {"name": name, "kwargs": {"obs_shape": [3], "out_features": 1, **extra}}
    ds = DistilledDataset(k=64, obs_shape=(3,), out_features=1, continuous=True, learner=spec)
    learners = ds.learners()
    optim = torch.optim.Adam([ds.observation, ds.label, ds.log_inner_lr], lr=3e-2)
    for _ in range(1000):
        loss = 0.0
        for _ in range(4):
            net = learners.sample()
            batch = torch.randint(len(states), (512,))
            fitted = functional_call(net, ds.fitted_params(net, create_graph=True), (states[batch] * SCALE,))
            loss = loss + ((fitted - actions[batch]) ** 2).mean() / 4
        optim.zero_grad()
        loss.backward()
        optim.step()
    returns = []
    for i in range(10):
        net = ds.fit(learners.sample(torch.Generator().manual_seed(10_000 + i)))
        with torch.no_grad():
            returns += play(
                env, lambda o, net=net: net(torch.tensor(o) * SCALE).numpy(), [100 * i + e for e in range(5)]
            )
    print(
        f"{name} {extra or ''}: imitation MSE {float(loss):.3f} (actions' mean square "
        f"{float(actions.pow(2).mean()):.3f}), inner lr {float(ds.inner_lr):.3f}; 10 learners x 5 "
        f"episodes: median {np.median(returns):.0f}, range {min(returns):.0f} to {max(returns):.0f}"
    )


if __name__ == "__main__":
    main()
