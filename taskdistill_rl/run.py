"""``RunLoop``: drives an algorithm meta-epoch by meta-epoch; everything else is a callback.

The loop owns the run's wall clock and its checkpoint file. Checkpoints hold the algorithm's
state, the wall time so far and the state of every callback that has one, as plain tensors and
primitives (``torch.load(weights_only=True)`` reads them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path

import torch

from taskdistill_rl.callbacks import Callback
from taskdistill_rl.devices import cpu_copy
from taskdistill_rl.errors import CheckpointError
from taskdistill_rl.io import atomic_write

log = logging.getLogger(__name__)

CHECKPOINT_LAYOUT = 2  # 1: the single-class Distiller's checkpoints (no "layout" key)


class RunLoop:
    """Run ``algo`` (a :class:`taskdistill_rl.ppmo.PPMO`, or anything with ``step``, ``close``,
    ``meta_epoch``, ``config``, ``state_dict`` and ``load_state_dict``) under ``callbacks``.

    Keyword Args:
        checkpoint_path: where :meth:`save_checkpoint` writes (None: nowhere).

    Examples:
        >>> from taskdistill_rl.callbacks import StopAfterEpochs
        >>> from taskdistill_rl.ppmo import PPMO
        >>> loop = RunLoop(PPMO("NDCartPole-v0", k=2, num_envs=4, steps_per_env=8), [StopAfterEpochs(2)])
        >>> loop.run().algo.meta_epoch
        2
    """

    def __init__(
        self, algo, callbacks: Iterable[Callback] = (), *, checkpoint_path: str | Path | None = None
    ):
        self.algo = algo
        self.callbacks = list(callbacks)
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        self._wall_before = 0.0
        self._started: float | None = None
        self._pending_states: dict[str, dict] = {}  # callback states from a checkpoint, by key
        self.world_size = 1  # processes running the algorithm (a distributed loop's world)

    @property
    def wall_seconds(self) -> float:
        """Training wall time of this run, resumed runs' time included."""
        running = time.perf_counter() - self._started if self._started is not None else 0.0
        return self._wall_before + running

    def run(self) -> RunLoop:
        """Meta-epochs until a callback says stop. Callbacks run in list order; after one returns
        ``False`` the rest are skipped for that meta-epoch. ``on_training_end`` always runs."""
        for callback in self.callbacks:
            if callback.state_key in self._pending_states:
                callback.load_state_dict(self._pending_states.pop(callback.state_key))
        self._started = time.perf_counter()
        started = []
        try:
            for callback in self.callbacks:
                callback.on_training_start(self)
                started.append(callback)
            while self._proceed(all(cb.on_meta_epoch_start(self) is not False for cb in self.callbacks)):
                metrics = self.algo.step()
                ended = all(cb.on_meta_epoch_end(self, metrics) is not False for cb in self.callbacks)
                if not self._proceed(ended):
                    break
        finally:
            self._wall_before, self._started = self.wall_seconds, None
            self.algo.close()
            for callback in started:
                callback.on_training_end(self)
        return self

    def _proceed(self, local: bool) -> bool:
        """Whether the run goes on, given this process's callbacks' answer (a distributed loop
        agrees on it with the other ranks)."""
        return local

    # -- checkpoints ------------------------------------------------------------------------------
    def config_hash(self) -> str:
        """What a checkpoint must match to be resumed by this loop."""
        return self.algo.config.learning_hash()

    def state_dict(self) -> dict:
        states = {cb.state_key: cb.state_dict() for cb in self.callbacks if cb.state_key}
        return cpu_copy(
            {
                "layout": CHECKPOINT_LAYOUT,
                "config_hash": self.config_hash(),
                "threads": self.algo.config.threads,
                "meta_epoch": self.algo.meta_epoch,
                "wall_seconds": self.wall_seconds,
                "algo": self.algo.state_dict(),
                "callbacks": {**self._pending_states, **states},
            }
        )  # a checkpoint holds CPU tensors only: it resumes on any machine

    def save_checkpoint(self, path: str | Path | None = None) -> Path:
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None:
            raise ValueError("no checkpoint path: give one, or construct the loop with checkpoint_path")
        state = self.state_dict()
        return atomic_write(path, lambda f: torch.save(state, f))

    def load_checkpoint(self, path: str | Path | None = None) -> None:
        """Resume from a checkpoint; refuses one of another config or an older layout."""
        path = Path(path) if path is not None else self.checkpoint_path
        self.load_state_dict(self.read_checkpoint(path))

    def read_checkpoint(self, path: Path | None) -> dict:
        """A checkpoint's state, checked to be one this loop can resume from."""
        if path is None or not path.is_file():
            raise FileNotFoundError(f"no checkpoint to resume from at {str(path)!r}")
        try:
            # on the CPU first (RNG states must stay there); the algorithm moves its tensors
            state = torch.load(path, weights_only=True, map_location="cpu")
        except Exception as err:
            raise CheckpointError(f"{path}: unreadable checkpoint ({type(err).__name__}: {err})") from err
        if not isinstance(state, dict):
            raise CheckpointError(f"{path}: unreadable checkpoint (not a dict)")
        layout = state.get("layout", 1)
        if layout != CHECKPOINT_LAYOUT:
            raise CheckpointError(
                f"{path} is a checkpoint of layout {layout}, written by "
                f"{'an older' if layout < CHECKPOINT_LAYOUT else 'a newer'} taskdistill_rl; this one "
                f"resumes layout {CHECKPOINT_LAYOUT} only: start a new --out (the distilled.pt beside it "
                "still loads)"
            )
        self.check_resumable(state, path)
        return state

    def check_resumable(self, state: dict, path: Path) -> None:
        size, ours = state.get("algo", {}).get("world_size", 1), self.world_size
        if size != ours:
            raise CheckpointError(
                f"{path} was written by a run of {size} process(es); this one has {ours}: resume with "
                "the same world size (--nproc, or torchrun's --nnodes x --nproc-per-node)"
            )
        if state.get("config_hash") != self.config_hash():
            raise CheckpointError(
                f"{path} was written with a different config (hash {state.get('config_hash')} != "
                f"{self.config_hash()}); resume with the same options or start a new --out"
            )
        saved, threads = state.get("threads"), self.algo.config.threads
        if saved != threads:
            log.warning(
                "%s was trained with %s CPU threads, this run uses %s: it continues from the saved tensors "
                "but no longer reproduces an uninterrupted run's (the same --threads does)",
                path,
                "an unrecorded number of" if saved is None else saved,
                threads,
            )

    def load_state_dict(self, state: dict) -> None:
        self.algo.load_state_dict(state["algo"])
        self._wall_before = state["wall_seconds"]
        self._pending_states = dict(state["callbacks"])
        for callback in self.callbacks:
            if callback.state_key in self._pending_states:
                callback.load_state_dict(self._pending_states.pop(callback.state_key))


__all__ = ["CHECKPOINT_LAYOUT", "RunLoop"]
