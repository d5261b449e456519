"""Episode returns of many episodes stepped together in one batched TorchRL environment."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torchrl.envs import EnvBase

from taskdistill_rl.envs.physics import axes_failed, euler_step, force_table

if TYPE_CHECKING:
    from taskdistill_rl.envs.batched import BatchedNDCartPole

ActFn = Callable[[torch.Tensor], torch.Tensor]
IndexedActFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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


@torch.no_grad()
def cartpole_episode_returns(
    env: BatchedNDCartPole, act: IndexedActFn, *, compact_at: float = 0.125
) -> torch.Tensor:
    """:func:`episode_returns` for a :class:`BatchedNDCartPole`, stepping its physics directly
    on a batch that sheds ended episodes.

    The env draws the initial states (``env.reset()``, its own seeded generator); from there this
    integrates the same :func:`euler_step` with the env's constants and ends an episode by the
    env's rules (a cart or pole beyond its threshold on any axis, or ``max_episode_steps``), with
    no TensorDict per step. Rows of ended episodes stay in the batch, ignored, until
    ``compact_at`` of it has ended; then the batch is cut to the live rows. A rollout of
    learners of very different quality thus costs what its live episodes cost.

    ``act(obs [A, 4N] float32, index [A]) -> actions [A]``: ``index`` holds the sub-env number of
    each row, ascending; it is a new tensor whenever the rows change (compare by identity).

    Returns:
        ``[num_envs]`` float64 undiscounted returns (1 per step, as the env pays).
    """
    env.reset()
    physics, n_dims = env.physics, env.n_dims
    state = env.state.clone()  # [B, N, 4]
    n = len(state)
    index = torch.arange(n, device=state.device)
    live = torch.ones(n, dtype=torch.bool, device=state.device)
    returns = torch.zeros(n, dtype=torch.float64, device=state.device)
    forces = torch.tensor(force_table(n_dims, physics), dtype=state.dtype, device=state.device)  # [2N, N]
    for t in range(1, physics.max_episode_steps + 1):
        action = act(state.view(len(state), 4 * n_dims).to(torch.float32), index)
        force = forces[action]
        x, x_dot, theta, theta_dot = euler_step(
            *state.unbind(-1), force, sin=torch.sin, cos=torch.cos, physics=physics
        )
        state = torch.stack((x, x_dot, theta, theta_dot), dim=-1)
        if t == physics.max_episode_steps:
            ended = live
        else:
            ended = axes_failed(x, theta, physics).any(-1) & live
        if not ended.any():
            continue
        returns[index[ended]] = float(t)
        live = live & ~ended
        state[ended] = 0.0  # ignored until compacted: keep the rows' arithmetic finite
        n_live = int(live.sum())
        if n_live == 0:
            break
        if n_live <= (1 - compact_at) * len(live):
            keep = live.nonzero().view(-1)
            state, index, live = state[keep], index[keep], live[keep]
    return returns.cpu()


SlotActFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def queued_episode_returns(
    env: EnvBase, act: SlotActFn, jobs: int, *, max_steps: int | None = None, truncation_cuts: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Play ``jobs`` episodes on the env's ``W`` sub-envs, each sub-env taking the next job as
    soon as its episode ends: memory stays that of ``W`` envs however many episodes are asked for,
    and no sub-env waits for the longest episode of a batch (Atari games differ by minutes).

    ``act(obs [W, *obs_shape], job [W]) -> actions [W, ...]``: ``job[s]`` is the episode sub-env
    ``s`` is playing (-1 once there is none left for it). An episode longer than ``max_steps``
    agent steps is cut there (its return so far is kept); the env's own truncation (the ALE's
    27,000-step limit) counts as a cut too unless ``truncation_cuts`` is False (an env whose time
    limit is how its episodes end, as MuJoCo's 1,000 steps).

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
            capped[job[s]] = bool(cut[s] or (truncation_cuts and truncated[s] and not terminated[s]))
            finished += 1
            draining[s] = not bool(done[s])
            job[s] = next_job if next_job < jobs else -1
            next_job += 1
        ended = done.nonzero().flatten()
        running[ended], steps[ended], draining[ended] = 0.0, 0, False
        if draining.any():  # a cut episode's env keeps playing; its next job starts at a reset
            running[draining], steps[draining] = 0.0, 0
    return returns, capped
