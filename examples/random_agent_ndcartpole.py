"""Step 1,000 episodes of a uniform-random agent on 2D cart-pole at once (paper Table 8: 18.9).

``TASKDISTILL_EXAMPLE_TINY=1``: 100 episodes.
"""

import os

import torch

from taskdistill_rl import make_env
from taskdistill_rl.rollouts import episode_returns

if __name__ == "__main__":
    episodes = 100 if os.environ.get("TASKDISTILL_EXAMPLE_TINY") == "1" else 1000
    env = make_env("NDCartPole-v0", num_envs=episodes, n_dims=2, seed=0)
    generator = torch.Generator().manual_seed(0)
    returns = episode_returns(env, lambda obs: torch.randint(0, 4, (obs.shape[0],), generator=generator))
    print(
        f"2D cart-pole, random agent: {returns.mean():.1f} ± {returns.std():.1f} over {len(returns)} episodes"
    )
