"""Batched envs split across forked worker processes, so that gymnasium envs step on every core.

A gymnasium env steps in Python, one sub-env after another: a MuJoCo evaluation of 100 learners ×
100 episodes is millions of ~30 µs steps on one core, and a PPMO rollout of 128 Hopper envs spends
most of its meta-epoch there. Both classes here give each of ``W`` processes (one per core) a
contiguous share of the sub-envs and step the shares in parallel; the policy acts for all sub-envs
at once in this process, between steps.

- :class:`ForkedEnvs` (evaluation): each share is a batched TorchRL env built by
  :func:`~taskdistill_rl.envs.make_env`, answering ``reset``/``step_and_maybe_reset``.
- :class:`ForkedVectorEnv` (PPMO's rollouts): a gymnasium ``VectorEnv`` whose shares are
  synchronous vector envs. It goes inside the same ``GymWrapper`` and transforms as the
  synchronous env it replaces, and returns what that env returns, bit for bit
  (``tests/test_env_workers.py``): same seeds, same auto-resets, infos merged as gymnasium does.

One process per *share*, not per sub-env (gymnasium's ``AsyncVectorEnv``): a round trip through a
pipe costs more than a MuJoCo step, so thousands of sub-envs need few round trips per step.
Workers are forked, as the Atari workers are (:mod:`taskdistill_rl.envs.atari`): TorchRL sets the
global start method to spawn, which re-imports everything in each worker.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import traceback
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDict
from torchrl.envs import EnvBase

from taskdistill_rl.errors import InvalidInputError

ShardFn = Callable[[int, int], EnvBase]  # (first sub-env, number of sub-envs) -> that share's env
MIN_ENVS_PER_PROCESS = 8  # fewer sub-envs per worker process than this: step them all in one


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def worker_count(num_envs: int, cores: int | None = None) -> int:
    """Worker processes for ``num_envs`` sub-envs: one per usable core, each with at least
    ``MIN_ENVS_PER_PROCESS`` sub-envs (1: step them in this process)."""
    cores = usable_cores() if cores is None else cores
    return max(1, min(cores, num_envs // MIN_ENVS_PER_PROCESS))


class _TorchRLShare:
    """A worker's share as a batched TorchRL env (:class:`ForkedEnvs`)."""

    def __init__(self, env: EnvBase):
        self.env, self.td = env, None

    def __call__(self, command: str, data: Any) -> Any:
        if command == "reset":
            self.td = self.env.reset()
            return self.td.get("observation").numpy()
        self.td.set("action", torch.from_numpy(data))  # step
        out, self.td = self.env.step_and_maybe_reset(self.td)
        nxt = out.get("next")
        done = nxt.get("done")
        flags = (nxt.get("terminated", done), nxt.get("truncated", torch.zeros_like(done)))
        return tuple(t.numpy() for t in (self.td.get("observation"), nxt.get("reward"), done, *flags))


class _GymShare:
    """A worker's share as a synchronous gymnasium vector env (:class:`ForkedVectorEnv`)."""

    def __init__(self, env: gym.vector.VectorEnv):
        self.env = env

    def __call__(self, command: str, data: Any) -> Any:
        if command == "reset":
            seed, options = data
            return self.env.reset(seed=seed, options=options)
        return self.env.step(data)


def _serve(conn, make_share: Callable[[int, int], Any], start: int, size: int) -> None:
    """A worker: build its share, then answer commands until ``close``."""
    torch.set_num_threads(1)  # the worker steps envs; forked OpenMP pools must not be entered
    share = None
    try:
        share = make_share(start, size)
        conn.send(("ok", None))
        while True:
            command, data = conn.recv()
            if command == "close":
                break
            conn.send(("ok", share(command, data)))
    except (EOFError, KeyboardInterrupt):
        pass
    except BaseException:  # the parent raises it, with this traceback
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass
    finally:
        if share is not None:
            share.env.close()
        conn.close()


class _Workers:
    """``workers`` forked processes owning contiguous shares of ``num_envs`` sub-envs: worker
    ``w`` owns ``[starts[w], starts[w] + sizes[w])`` as ``make_share(starts[w], sizes[w])``."""

    def __init__(self, make_share: Callable[[int, int], Any], num_envs: int, workers: int):
        workers = max(1, min(workers, num_envs))
        context = multiprocessing.get_context("fork")
        bounds = [num_envs * w // workers for w in range(workers + 1)]
        self.starts = bounds[:-1]
        self.sizes = [b - a for a, b in itertools.pairwise(bounds)]
        self._conns, self._procs = [], []
        try:
            for start, size in zip(self.starts, self.sizes, strict=True):
                parent, child = context.Pipe()
                proc = context.Process(target=_serve, args=(child, make_share, start, size), daemon=True)
                proc.start()
                child.close()
                self._conns.append(parent)
                self._procs.append(proc)
            self._gather()  # every share built
        except BaseException:
            self.close()
            raise

    def split(self, array: np.ndarray) -> list[np.ndarray]:
        """``array``'s rows, one part per worker."""
        return np.split(array, np.cumsum(self.sizes)[:-1])

    def _gather(self, only: list[int] | None = None) -> list:
        replies = []
        for w in range(len(self._conns)) if only is None else only:
            try:
                status, data = self._conns[w].recv()
            except EOFError as err:
                raise RuntimeError(f"env worker {w} died (exit code {self._procs[w].exitcode})") from err
            if status == "error":
                raise RuntimeError(f"env worker {w} failed:\n{data}")
            replies.append(data)
        return replies

    def ask(self, command: str, parts: list, only: list[int] | None = None) -> list:
        """Send ``(command, parts[w])`` to each worker ``w`` (of ``only``), return their replies."""
        chosen = range(len(self._conns)) if only is None else only
        for w in chosen:
            self._conns[w].send((command, parts[w]))
        return self._gather(list(chosen))

    def close(self) -> None:
        """Stop every worker (each closes its share); idempotent."""
        for conn in self._conns:
            try:
                conn.send(("close", None))
            except OSError:
                pass
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        for conn in self._conns:
            conn.close()
        self._conns, self._procs = [], []


class ForkedEnvs:
    """``num_envs`` sub-envs stepped by ``workers`` forked processes, with the calls of a batched
    TorchRL env that :func:`~taskdistill_rl.rollouts.episode_returns` makes: ``batch_size``,
    ``reset()`` and ``step_and_maybe_reset(td)``, and ``close()``.

    Worker ``w`` owns sub-envs ``[start_w, start_w + size_w)`` as ``make_shard(start_w, size_w)``;
    seeding a share with ``seed + start_w`` gives each sub-env the seed it has in one big
    gymnasium vector env (gymnasium seeds sub-env ``i`` with ``seed + i``).

    Args:
        make_shard: builds one share's batched env (runs in the worker).
        num_envs: sub-envs in all.
        workers: processes; at most ``num_envs``.

    Raises:
        RuntimeError: a worker failed (its traceback in the message) or died.
    """

    def __init__(self, make_shard: ShardFn, num_envs: int, *, workers: int):
        share = lambda start, size: _TorchRLShare(make_shard(start, size))
        self._workers = _Workers(share, num_envs, workers)
        self.sizes = self._workers.sizes
        self.batch_size = torch.Size([num_envs])

    def reset(self) -> TensorDict:
        obs = np.concatenate(self._workers.ask("reset", [None] * len(self.sizes)))
        return TensorDict({"observation": torch.from_numpy(obs)}, batch_size=self.batch_size)

    def step_and_maybe_reset(self, td: TensorDict) -> tuple[TensorDict, TensorDict]:
        """Step every sub-env with ``td["action"]``; return ``(out, next root)`` as TorchRL does
        (``out["next", "reward"|"done"|"terminated"|"truncated"]``; ``root["observation"]``,
        reset where done)."""
        actions = self._workers.split(td.get("action").cpu().numpy())
        obs, *nxt = (
            torch.from_numpy(np.concatenate(part))
            for part in zip(*self._workers.ask("step", actions), strict=True)
        )
        keys = ("reward", "done", "terminated", "truncated")
        out = TensorDict({"next": dict(zip(keys, nxt, strict=True))}, batch_size=self.batch_size)
        return out, TensorDict({"observation": obs}, batch_size=self.batch_size)

    def close(self) -> None:
        """Stop every worker (each closes its env); idempotent."""
        self._workers.close()

    def __enter__(self) -> ForkedEnvs:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def merge_infos(parts: list[dict], sizes: list[int]) -> dict:
    """The shares' vector infos as one vector env's: each key's arrays concatenated, a share
    without the key filled as gymnasium's ``VectorEnv._add_info`` fills an env without it
    (``None`` in object arrays, zeros elsewhere, so ``_key`` masks are False)."""
    merged = {}
    for key in dict.fromkeys(itertools.chain.from_iterable(parts)):
        values = [part.get(key) for part in parts]
        if any(isinstance(value, dict) for value in values):
            merged[key] = merge_infos([value or {} for value in values], sizes)
            continue
        like = next(value for value in values if value is not None)
        filled = [
            value
            if value is not None
            else np.full(size, None, dtype=object)
            if like.dtype == object
            else np.zeros((size, *like.shape[1:]), dtype=like.dtype)
            for value, size in zip(values, sizes, strict=True)
        ]
        merged[key] = np.concatenate(filled)
    return merged


class ForkedVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` copies of a gymnasium env as one same-step auto-resetting vector env, whose
    sub-envs ``workers`` forked processes step in shares (each a synchronous vector env).

    Sub-env ``i`` gets the seed it gets in ``gym.make_vec(..., vectorization_mode="sync")``
    (``seed + i`` for an int seed), and every reply equals that env's: a drop-in for it under
    ``GymWrapper`` whose arrays arrive from several cores.

    Args:
        make_share: ``make_share(num_envs)`` builds a synchronous, same-step auto-resetting vector
            env of the id (runs in each worker, and once here with one env to read the spaces).
        num_envs: sub-envs in all.
        workers: processes; at most ``num_envs``.

    Raises:
        InvalidInputError: observations that are not one array (a dict or tuple space).
        RuntimeError: a worker failed (its traceback in the message) or died.
    """

    def __init__(self, make_share: Callable[[int], gym.vector.VectorEnv], num_envs: int, *, workers: int):
        probe = make_share(1)
        try:
            if not isinstance(probe.single_observation_space, gym.spaces.Box):
                raise InvalidInputError(
                    f"env workers need array observations, not {probe.single_observation_space}"
                )
            self.metadata = dict(probe.metadata)
            self.render_mode = probe.render_mode
            self.spec = probe.spec
            self.autoreset_mode = probe.autoreset_mode
            self.single_observation_space = probe.single_observation_space
            self.single_action_space = probe.single_action_space
        finally:
            probe.close()
        self.num_envs = num_envs
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self._workers = _Workers(lambda start, size: _GymShare(make_share(size)), num_envs, workers)
        self._observations: np.ndarray | None = None

    def reset(self, *, seed: int | list | None = None, options: dict | None = None) -> tuple[Any, dict]:
        sizes, starts = self._workers.sizes, self._workers.starts
        if seed is None or isinstance(seed, int):
            seeds = [None if seed is None else seed + start for start in starts]
        else:
            if len(seed) != self.num_envs:
                raise ValueError(f"{len(seed)} seeds for {self.num_envs} envs")
            seeds = [list(part) for part in np.split(np.array(seed, dtype=object), np.cumsum(sizes)[:-1])]
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is None:  # every share resets
            only, parts = None, [(s, options or None) for s in seeds]
        else:  # a share with nothing to reset is not asked (gymnasium refuses an all-False mask)
            masks = self._workers.split(np.asarray(mask, dtype=bool))
            only = [w for w, part in enumerate(masks) if part.any()]
            parts = [(s, {**options, "reset_mask": m}) for s, m in zip(seeds, masks, strict=True)]
        replies = self._workers.ask("reset", parts, only)
        chosen = range(len(sizes)) if only is None else only
        obs = self._workers.split(self._observations) if only is not None else [None] * len(sizes)
        infos = [{} for _ in sizes]
        for w, (share_obs, info) in zip(chosen, replies, strict=True):
            obs[w], infos[w] = share_obs, info
        self._observations = np.concatenate(obs)
        return self._observations.copy(), merge_infos(infos, sizes)

    def step(self, actions: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict]:
        replies = self._workers.ask("step", self._workers.split(np.asarray(actions)))
        obs, rewards, terminations, truncations, infos = zip(*replies, strict=True)
        self._observations = np.concatenate(obs)
        return (
            self._observations.copy(),
            np.concatenate(rewards),
            np.concatenate(terminations),
            np.concatenate(truncations),
            merge_infos(list(infos), self._workers.sizes),
        )

    def close_extras(self, **kwargs: Any) -> None:
        self._workers.close()


__all__ = ["ForkedEnvs", "ForkedVectorEnv", "merge_infos", "usable_cores", "worker_count"]
