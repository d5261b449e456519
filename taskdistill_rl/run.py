"""``RunLoop``: drives an algorithm meta-epoch by meta-epoch; everything else is a callback.

The loop owns the run's wall clock, its signals and its checkpoint file, for one process and for
every rank of a data-parallel run alike: it asks the algorithm's ``group`` (the identity for one
process) to agree on whether to go on, so a stop, a signal or a checkpoint is handled here only.
Checkpoints hold the algorithm's state, the wall time so far and the state of every callback that
has one, as plain tensors and primitives (``torch.load(weights_only=True)`` reads them); rank 0
alone writes them.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import threading
import time
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

import torch

from taskdistill_rl.callbacks import Callback
from taskdistill_rl.devices import cpu_copy
from taskdistill_rl.errors import CheckpointError, Interrupted
from taskdistill_rl.io import atomic_write

log = logging.getLogger(__name__)

CHECKPOINT_LAYOUT = 2  # 1: the single-class Distiller's checkpoints (no "layout" key)


class StopRequested(Exception):
    """A signal reached some rank while this one was in an abortable stretch: drop the meta-epoch."""


class SignalFlag:
    """SIGINT/SIGTERM, noted while a run is on: the loop stops after the meta-epoch (a
    multi-process run hears of it in its next collective). Inside :meth:`abortable_region` (a
    rank collecting its rollout, no collective in flight) the handler raises at once. A second
    SIGINT aborts without a checkpoint."""

    def __init__(self):
        self.signum = 0
        self.abortable = False
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.signum and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum
        if self.abortable:
            self.abortable = False
            raise StopRequested

    @contextmanager
    def installed(self):
        self.signum = 0
        if threading.current_thread() is threading.main_thread():  # signal.signal works only there
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
            self._previous = {}

    @contextmanager
    def abortable_region(self):
        if self.signum:
            raise StopRequested
        self.abortable = True
        try:
            yield
        finally:
            self.abortable = False


class RunLoop:
    """Run ``algo`` (an :class:`~taskdistill_rl.algorithms.base.Algorithm`; data-parallel:
    :class:`~taskdistill_rl.distributed.DataParallel`) under ``callbacks``.

    On several ranks, callbacks must be the same, in the same order, on every rank (they may
    decide differently: the loop stops when any rank's callbacks say stop). Callbacks that take
    part in collectives (evaluation, checkpoints) must come before any that can stop the run at
    the end of a meta-epoch, since those skip the callbacks after them.

    Keyword Args:
        checkpoint_path: where :meth:`save_checkpoint` writes (None: nowhere).

    Examples:
        >>> from taskdistill_rl.callbacks import StopAfterEpochs
        >>> from taskdistill_rl.algorithms.ppmo import PPMO
        >>> loop = RunLoop(PPMO("NDCartPole-v0", k=2, num_envs=4, steps_per_env=8), [StopAfterEpochs(2)])
        >>> loop.run().algo.meta_epoch
        2
    """

    def __init__(
        self, algo, callbacks: Iterable[Callback] = (), *, checkpoint_path: str | Path | None = None
    ):
        self.algo = algo
        self.group = algo.group  # the processes running it (one: every collective is the identity)
        self.signals = self.group.signals
        self.callbacks = list(callbacks)
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        self._wall_before = 0.0
        self._started: float | None = None
        self._pending_states: dict[str, dict] = {}  # callback states from a checkpoint, by key

    @property
    def wall_seconds(self) -> float:
        """Training wall time of this run, resumed runs' time included."""
        running = time.perf_counter() - self._started if self._started is not None else 0.0
        return self._wall_before + running

    def run(self) -> RunLoop:
        """Meta-epochs until a callback says stop. Callbacks run in list order; after one returns
        ``False`` the rest are skipped for that meta-epoch. ``on_training_end`` always runs.

        Raises:
            Interrupted: SIGINT/SIGTERM (on any rank); the last completed meta-epoch is
                checkpointed first when the loop has a checkpoint path.
        """
        with self.signals.installed():
            try:
                return self._run()
            except StopRequested:  # every rank dropped the meta-epoch it was in
                self._interrupt()
                raise AssertionError("unreachable") from None

    def _run(self) -> RunLoop:
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
        """Whether the run goes on, given this process's callbacks' answer, agreed with the other
        ranks in one all-reduce of [rank 0's clock, stop votes, signals]: every rank reads rank 0's
        clock (a time budget stops all of them at once) and a signal anywhere stops every rank."""
        main = self.group.is_main
        votes = torch.tensor(
            [self.wall_seconds if main else 0.0, float(not local), float(self.signals.signum)],
            dtype=torch.float64,
        )
        votes = self.group.sum(votes)
        if not main and self._started is not None:
            self._wall_before += float(votes[0]) - self.wall_seconds
        if votes[2] > 0:
            self._interrupt()
        return bool(votes[1] == 0)

    def _interrupt(self) -> None:
        """Every rank is here after a signal: checkpoint the last completed meta-epoch, stop."""
        signum = self.signals.signum or signal.SIGTERM  # 0: the signal was on another rank
        where = " (on some rank)" if self.group.size > 1 else ""
        stopped = f"stopped by {signal.Signals(signum).name}{where} after meta-epoch {self.algo.meta_epoch}"
        if self.checkpoint_path is None:
            raise Interrupted(stopped, signum=signum)
        self.save_checkpoint()
        raise Interrupted(
            f"{stopped}; checkpoint saved to {self.checkpoint_path}; continue with the same command and "
            "--resume",
            signum=signum,
        )

    # -- checkpoints ------------------------------------------------------------------------------
    def config_hash(self) -> str:
        """What a checkpoint must match to be resumed by this loop: the config's learning hash, and
        the world size of a multi-process run (it resumes only in a world of its size)."""
        base = self.algo.config.learning_hash()
        if self.group.size == 1:
            return base
        return hashlib.sha256(f"{base}/world{self.group.size}".encode()).hexdigest()[:16]

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
        """Collective on several ranks (every rank's stream state is gathered); rank 0 writes."""
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None:
            raise ValueError("no checkpoint path: give one, or construct the loop with checkpoint_path")
        state = self.state_dict()
        if self.group.is_main:
            atomic_write(path, lambda f: torch.save(state, f))
        return path

    def load_checkpoint(self, path: str | Path | None = None) -> None:
        """Resume from a checkpoint; refuses one of another config, world size or an older layout.
        Rank 0 reads it (other nodes need not see the file) and every rank receives it."""
        path = Path(path) if path is not None else self.checkpoint_path
        box: list = [None, None]
        if self.group.is_main:
            try:
                box[0] = self.read_checkpoint(path)
            except (CheckpointError, FileNotFoundError) as err:
                box[1] = err
        state, error = self.group.broadcast_object(box)
        if error is not None:
            raise error
        self.load_state_dict(state)

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
        size, ours = state.get("algo", {}).get("world_size", 1), self.group.size
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


__all__ = ["CHECKPOINT_LAYOUT", "RunLoop", "SignalFlag", "StopRequested"]
