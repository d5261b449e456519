"""Episode returns of many episodes stepped together in one batched TorchRL environment."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchrl.envs import EnvBase

ActFn = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def episode_returns(env: EnvBase, act: ActFn, *, max_steps: int = 100_000) -> torch.Tensor:
    """Run one episode in each of the env's ``batch_size[0]`` sub-envs; return their returns.

    All sub-envs step together (``step_and_maybe_reset``); a sub-env's return is frozen at the
    end of its first episode, so one batched env of ``B`` members gives ``B`` independent
    episodes. ``act`` maps observations ``[B, *obs_shape]`` to actions ``[B, ...]``.

    Returns:
        ``[B]`` float64 tensor of undiscounted episode returns.
    """
    n = env.batch_size[0]
    td = env.reset()
    returns = torch.zeros(n, dtype=torch.float64)
    running = torch.ones(n, dtype=torch.bool)
    for _ in range(max_steps):
        td.set("action", act(td.get("observation")))
        out, td = env.step_and_maybe_reset(td)
        reward = out.get(("next", "reward")).reshape(n).to("cpu", torch.float64)
        returns += torch.where(running, reward, 0.0)
        running &= ~out.get(("next", "done")).reshape(n).cpu()
        if not running.any():
            return returns
    raise RuntimeError(f"{int(running.sum())} of {n} episodes did not end within {max_steps} steps")
