"""Does EnvPool's MuJoCo step as gymnasium's ``-v4`` does? (issue 28: EnvPool's C++ threads would
only replace our forked workers if, for a fixed action sequence, its observations equal
gymnasium's within 1e-6 per step over 1,000 steps.)

Run: ``python benchmarks/check_envpool_mujoco.py [Hopper-v4 HalfCheetah-v4 Walker2d-v4 Ant-v4]``
(the ``[envpool]`` extra). Both envs start noise-free (``reset_noise_scale=0``: their random
starts come from different generators), take the same 1,000 uniform actions in ±0.3 and reset
together, noise-free, when an episode ends (which must happen at the same step); printed: the
largest absolute observation difference over all steps.
"""

from __future__ import annotations

import sys
import warnings

import gymnasium as gym
import numpy as np


def max_difference(env_id: str, steps: int = 1000) -> tuple[float, int]:
    import envpool

    ours = gym.make(env_id, reset_noise_scale=0.0)
    theirs = envpool.make_gymnasium(env_id, num_envs=1, seed=0, reset_noise_scale=0.0)
    actions = np.random.default_rng(0).uniform(-0.3, 0.3, size=(steps, ours.action_space.shape[0]))
    a, _ = ours.reset(seed=0)
    b, _ = theirs.reset()
    worst, ends = float(np.abs(a - b[0]).max()), 0
    for action in actions:
        a, _, terminated, truncated, _ = ours.step(action)
        b, _, their_terminated, their_truncated, _ = theirs.step(action[None])
        worst = max(worst, float(np.abs(a - b[0]).max()))
        if (terminated or truncated) != bool(their_terminated[0] or their_truncated[0]):
            raise SystemExit(f"{env_id}: the episodes end at different steps")
        if terminated or truncated:
            ends += 1
            (a, _), (b, _) = ours.reset(), theirs.reset()
            worst = max(worst, float(np.abs(a - b[0]).max()))
    return worst, ends


def main() -> None:
    warnings.filterwarnings("ignore", ".*is out of date", DeprecationWarning)
    for env_id in sys.argv[1:] or ["Hopper-v4", "HalfCheetah-v4", "Walker2d-v4", "Ant-v4"]:
        worst, ends = max_difference(env_id)
        verdict = "within 1e-6" if worst <= 1e-6 else "NOT within 1e-6"
        print(f"{env_id}: 1,000 steps, {ends} episode ends, max |obs difference| {worst:.2e} ({verdict})")


if __name__ == "__main__":
    main()
