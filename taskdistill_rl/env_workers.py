"""A batched env split across forked worker processes, so that gymnasium envs step on every core.

A gymnasium env steps in Python, one sub-env after another: a MuJoCo evaluation of 100 learners ×
100 episodes is millions of ~30 µs steps on one core. :class:`ForkedEnvs` gives each of ``W``
processes (one per core) a contiguous share of the sub-envs as its own batched TorchRL env, built
by the same :func:`~taskdistill_rl.envs.make_env` (same preprocessing), and steps the shares in
parallel. The policy acts for all sub-envs at once in this process, between steps.

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

import numpy as np
import torch
from tensordict import TensorDict
from torchrl.envs import EnvBase

ShardFn = Callable[[int, int], EnvBase]  # (first sub-env, number of sub-envs) -> that share's env


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _serve(conn, make_shard: ShardFn, start: int, size: int) -> None:
    """A worker: build the share's env, then answer ``reset``/``step`` until ``close``."""
    torch.set_num_threads(1)  # the worker steps one env; forked OpenMP pools must not be entered
    env = None
    try:
        env = make_shard(start, size)
        conn.send(("ok", None))
        td = None
        while True:
            command, data = conn.recv()
            if command == "close":
                break
            if command == "reset":
                td = env.reset()
                conn.send(("ok", td.get("observation").numpy()))
            else:  # step
                td.set("action", torch.from_numpy(data))
                out, td = env.step_and_maybe_reset(td)
                nxt = out.get("next")
                done = nxt.get("done")
                flags = (nxt.get("terminated", done), nxt.get("truncated", torch.zeros_like(done)))
                reply = (td.get("observation"), nxt.get("reward"), done, *flags)
                conn.send(("ok", tuple(t.numpy() for t in reply)))
    except (EOFError, KeyboardInterrupt):
        pass
    except BaseException:  # the parent raises it, with this traceback
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass
    finally:
        if env is not None:
            env.close()
        conn.close()


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
        workers = max(1, min(workers, num_envs))
        context = multiprocessing.get_context("fork")
        starts = [num_envs * w // workers for w in range(workers + 1)]
        self.sizes = [b - a for a, b in itertools.pairwise(starts)]
        self.batch_size = torch.Size([num_envs])
        self._conns, self._procs = [], []
        try:
            for start, size in zip(starts, self.sizes, strict=False):
                parent, child = context.Pipe()
                proc = context.Process(target=_serve, args=(child, make_shard, start, size), daemon=True)
                proc.start()
                child.close()
                self._conns.append(parent)
                self._procs.append(proc)
            self._gather()  # every share built
        except BaseException:
            self.close()
            raise

    def _gather(self) -> list:
        replies = []
        for w, conn in enumerate(self._conns):
            try:
                status, data = conn.recv()
            except EOFError as err:
                raise RuntimeError(f"env worker {w} died (exit code {self._procs[w].exitcode})") from err
            if status == "error":
                raise RuntimeError(f"env worker {w} failed:\n{data}")
            replies.append(data)
        return replies

    def _broadcast(self, command: str, parts: list | None = None) -> list:
        for w, conn in enumerate(self._conns):
            conn.send((command, None if parts is None else parts[w]))
        return self._gather()

    def reset(self) -> TensorDict:
        obs = np.concatenate(self._broadcast("reset"))
        return TensorDict({"observation": torch.from_numpy(obs)}, batch_size=self.batch_size)

    def step_and_maybe_reset(self, td: TensorDict) -> tuple[TensorDict, TensorDict]:
        """Step every sub-env with ``td["action"]``; return ``(out, next root)`` as TorchRL does
        (``out["next", "reward"|"done"|"terminated"|"truncated"]``; ``root["observation"]``,
        reset where done)."""
        actions = np.split(td.get("action").cpu().numpy(), np.cumsum(self.sizes)[:-1])
        obs, *nxt = (
            torch.from_numpy(np.concatenate(part))
            for part in zip(*self._broadcast("step", actions), strict=True)
        )
        keys = ("reward", "done", "terminated", "truncated")
        out = TensorDict({"next": dict(zip(keys, nxt, strict=True))}, batch_size=self.batch_size)
        return out, TensorDict({"observation": obs}, batch_size=self.batch_size)

    def close(self) -> None:
        """Stop every worker (each closes its env); idempotent."""
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

    def __enter__(self) -> ForkedEnvs:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["ForkedEnvs", "usable_cores"]
