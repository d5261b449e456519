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


SlotActFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def queued_episode_returns(
    env: EnvBase, act: SlotActFn, jobs: int, *, max_steps: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Play ``jobs`` episodes on the env's ``W`` sub-envs, each sub-env taking the next job as
    soon as its episode ends: memory stays that of ``W`` envs however many episodes are asked for,
    and no sub-env waits for the longest episode of a batch (Atari games differ by minutes).

    ``act(obs [W, *obs_shape], job [W]) -> actions [W, ...]``: ``job[s]`` is the episode sub-env
    ``s`` is playing (-1 once there is none left for it). An episode longer than ``max_steps``
    agent steps is cut there (its return so far is kept); the env's own truncation (the ALE's
    27,000-step limit) counts as a cut too.

    Returns:
        ``[jobs]`` float64 returns and ``[jobs]`` bool ``capped`` (cut, not ended by the game).
    """
    width = env.batch_size[0]
    returns = torch.zeros(jobs, dtype=torch.float64)
    capped = torch.zeros(jobs, dtype=torch.bool)
    job = torch.arange(width)
    job[job >= jobs] = -1
    next_job = min(width, jobs)
    running = torch.zeros(width, dtype=torch.float64)
    steps = torch.zeros(width, dtype=torch.long)
    draining = torch.zeros(width, dtype=torch.bool)  # cut by max_steps: the game plays out unused
    finished = 0
    td = env.reset()
    while finished < jobs:
        td.set("action", act(td.get("observation"), torch.where(draining, -1, job)))
        out, td = env.step_and_maybe_reset(td)
        reward = out.get(("next", "reward")).reshape(width).to("cpu", torch.float64)
        done = out.get(("next", "done")).reshape(width).cpu()
        truncated = out.get(("next", "truncated"), torch.zeros_like(done)).reshape(width).cpu()
        terminated = out.get(("next", "terminated"), done).reshape(width).cpu()
        running += reward
        steps += 1
        cut = (steps >= max_steps) if max_steps is not None else torch.zeros_like(done)
        for s in ((done | cut) & (job >= 0) & ~draining).nonzero().flatten().tolist():
            returns[job[s]] = running[s]
            capped[job[s]] = bool(cut[s] or (truncated[s] and not terminated[s]))
            finished += 1
            draining[s] = not bool(done[s])
            job[s] = next_job if next_job < jobs else -1
            next_job += 1
        ended = done.nonzero().flatten()
        running[ended], steps[ended], draining[ended] = 0.0, 0, False
        if draining.any():  # a cut episode's env keeps playing; its next job starts at a reset
            running[draining], steps[draining] = 0.0, 0
    return returns, capped
