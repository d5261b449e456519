"""Data-parallel PPMO across processes and nodes on ``torch.distributed`` (gloo on CPU, NCCL on CUDA).

Every rank runs the same meta-epochs on its own random stream (initialisations, env states,
actions, minibatch order: ``PPMO(stream=rank)``). Before every optimiser step one all-reduce
averages the gradients of everything the outer loop learns (dataset, inner lr, log-std, encoder)
and the critic's, so every rank holds the same tensors after every step, bit for bit: the
objective is the mean of the PPMO loss over all ranks' (initialisation, minibatch) pairs.

No rank may leave the others waiting in a collective, so every decision that changes what runs
next is collective: stopping (callbacks' votes; the time budget reads rank 0's clock), a
divergence (the all-reduce carries a non-finite flag: every rank rolls back), a signal (SIGINT or
SIGTERM on any rank travels in the next collective; a rank still collecting its rollout drops it
at once instead of finishing an Atari meta-epoch), an evaluation (rank 0's, broadcast). Only rank 0
writes; a checkpoint gathers every rank's stream state, so a run resumes with the same world size.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

from taskdistill_rl.devices import check_device
from taskdistill_rl.errors import CheckpointError, Interrupted, TaskDistillError
from taskdistill_rl.io import atomic_write
from taskdistill_rl.ppmo import PPMO
from taskdistill_rl.run import RunLoop

if TYPE_CHECKING:
    from torchrl.envs import EnvBase

    from taskdistill_rl.config import DistillConfig

DEFAULT_TIMEOUT_S = 1800.0  # a collective waits this long for a rank (rank 0 may be evaluating Atari)
_STREAM_KEYS = ("generators", "torch_rng", "cuda_rng", "rollout")  # cuda_rng: CUDA runs only


@dataclass(frozen=True)
class World:
    """This process's place among ``size`` ranks (``local_rank``: its index on its node)."""

    rank: int
    size: int
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_world() -> World | None:
    """The world ``torchrun`` describes in the environment (``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``), or None for a process no launcher started."""
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return None
    return World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))


def join(world: World, device: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """Join the process group ``torchrun`` set up (``env://``): NCCL for CUDA, gloo for CPU.
    Returns the device this rank computes on (``cuda:LOCAL_RANK`` for CUDA).

    Any collective that waits longer than ``timeout_s`` for a rank raises, so a rank that hangs
    or dies fails the job instead of freezing it."""
    check_device(device)  # one clear line, before any CUDA call, when this machine has no GPU
    if torch.device(device).type == "cuda":
        device = f"cuda:{world.local_rank}"
        check_device(device)
        torch.cuda.set_device(world.local_rank)
        # NCCL for the CUDA tensors (gradients, statistics), gloo for the CPU ones (stop votes,
        # episode counts) and the pickled objects (checkpoint streams, evaluations)
        backend = "cpu:gloo,cuda:nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    return device


def launch_local(nproc: int, argv: list[str]) -> int:
    """``taskdistill ARGV`` as ``nproc`` ranks on this machine under ``torchrun --standalone`` (a
    free local port); returns the launcher's exit code. SIGTERM is passed on to the launcher, which
    passes it to every rank; Ctrl-C reaches every process of the terminal's group by itself."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    launcher = subprocess.Popen([*command, "-m", "taskdistill_rl", *argv])
    forwarding = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda s, f: launcher.send_signal(s)) if forwarding else None
    try:
        while True:
            try:
                return launcher.wait()
            except KeyboardInterrupt:  # the ranks got it too: wait for their checkpoint
                continue
    finally:
        if forwarding:
            signal.signal(signal.SIGTERM, previous)


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def broadcast_error(world: World, error: BaseException | None) -> None:
    """Rank 0 tells every rank whether a step only it takes (opening the run directory) failed:
    the others then stop with its message instead of waiting for it in a collective."""
    box = [None if error is None else f"{type(error).__name__}: {error}"]
    dist.broadcast_object_list(box, src=0)
    if error is None and box[0] is not None:
        raise TaskDistillError(f"rank 0 failed: {box[0]}")


class StopRequested(Exception):
    """A signal reached some rank: every rank drops the meta-epoch it is in."""


class SignalFlag:
    """SIGINT/SIGTERM on this rank, noted for the next collective to carry to the others. While
    the rank collects its rollout (no collective in flight) the handler raises at once. A second
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
        main_thread = threading.current_thread() is threading.main_thread()
        if main_thread:  # signal.signal works only there
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


class DataParallelPPMO(PPMO):
    """:class:`PPMO` on one rank of a data-parallel world (the process group already joined).

    Each rank steps ``config.num_envs`` envs of its own and fits ``inits_per_epoch`` fresh
    initialisations of its own per meta-epoch: a world of W ranks collects W times the frames of
    one process per meta-epoch. Rank 0's dataset and critic are broadcast at the start, and the
    averaged gradients keep every rank's equal to it.

    Args:
        env: as :class:`PPMO`'s.

    Keyword Args:
        config: as :class:`PPMO`'s.
        world: this rank's place.
    """

    def __init__(self, env: str | EnvBase, *, config: DistillConfig, world: World, **overrides):
        super().__init__(env, config=config, stream=world.rank, **overrides)
        self.world = world
        self.signals = SignalFlag()
        with torch.no_grad():
            for module in (self.dataset, self.critic):
                for tensor in module.state_dict().values():
                    dist.broadcast(tensor, src=0)
        self._learned = [p for m in (self.dataset, self.critic) for p in m.parameters() if p.requires_grad]

    @property
    def total_frames(self) -> int:
        return self.frames * self.world.size

    # -- one meta-epoch, dropped as a whole when a signal arrives ---------------------------------
    def step(self) -> dict:
        started_from = copy.deepcopy(PPMO.state_dict(self))
        try:
            try:
                with self.signals.abortable_region():
                    rollout = self.collect()
            except StopRequested:
                self._announce_stop()  # the others wait for this rank in the first update's all-reduce
                raise
            return self.update(rollout)
        except StopRequested:
            PPMO.load_state_dict(self, started_from)  # the last completed state, for the checkpoint
            raise

    def _packet(self, finite: torch.Tensor) -> torch.Tensor:
        """The gradients flattened (zeros where a rank has none), then [non-finite, stop] flags,
        all on the run's device (no host read: ``finite`` is a device tensor)."""
        reference = self._learned[0]
        like = {"dtype": reference.dtype, "device": reference.device}
        parts = [
            p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel(), **like)
            for p in self._learned
        ]
        stop = torch.full((1,), float(self.signals.signum > 0), **like)
        return torch.cat([*parts, (~finite.reshape(1)).to(**like), stop])

    def _announce_stop(self) -> None:
        packet = torch.zeros_like(self._packet(torch.ones(1, dtype=torch.bool)))
        packet[-1] = 1.0
        dist.all_reduce(packet)

    def _reduce_gradients(self, finite: torch.Tensor) -> torch.Tensor:
        packet = self._packet(finite)
        dist.all_reduce(packet)
        packet /= self.world.size
        offset = 0
        for p in self._learned:
            if p.grad is not None:
                p.grad.copy_(packet[offset : offset + p.numel()].view_as(p.grad))
            offset += p.numel()
        return torch.stack([packet[-2] == 0, packet[-1] > 0])

    def _check_flags(self, flags: list[bool]) -> None:
        if flags[1]:  # a signal on some rank: every rank drops this meta-epoch
            raise StopRequested

    def _update_obs_statistics(self, observations: torch.Tensor) -> None:
        """Every rank's rollout statistics merged in rank order (the parallel mean/variance merge)."""
        from taskdistill_rl.obs_norm import merge_moments

        mean = self.dataset.obs_mean
        batch = observations.reshape(-1, *mean.shape).to(torch.float64)
        local = torch.stack([batch.mean(0), batch.var(0, unbiased=False)])
        gathered = [torch.empty_like(local) for _ in range(self.world.size)]
        dist.all_gather(gathered, local)
        for moments in gathered:  # every rank's batch has the same size
            merge_moments(
                mean, self.dataset.obs_var, self.dataset.obs_count, moments[0], moments[1], len(batch)
            )

    def update(self, rollout) -> dict:
        metrics = super().update(rollout)
        returns = rollout.episode_returns
        episodes = torch.tensor([sum(returns), len(returns)], dtype=torch.float64)
        dist.all_reduce(episodes)
        metrics["train/episode_return_mean"] = float(episodes[0] / episodes[1]) if episodes[1] else math.nan
        metrics["train/episodes"] = int(episodes[1])
        metrics["time/frames"] = self.total_frames
        return metrics

    def evaluate(self, *, n_learners: int, episodes: int, seed: int) -> torch.Tensor:
        """Rank 0 evaluates; every rank receives its returns."""
        box = [
            super().evaluate(n_learners=n_learners, episodes=episodes, seed=seed)
            if self.world.is_main
            else None
        ]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    # -- state: shared tensors once, every rank's stream ------------------------------------------
    def state_dict(self) -> dict:
        """Collective: every rank calls it; rank 0's result holds every rank's stream state."""
        state = PPMO.state_dict(self)  # CPU tensors: nothing of another rank's GPU is pickled
        own = {key: state.pop(key) for key in _STREAM_KEYS if key in state}
        streams = [None] * self.world.size if self.world.is_main else None
        dist.gather_object(own, streams, dst=0)
        return {**state, "world_size": self.world.size, "streams": streams}

    def load_state_dict(self, state: dict) -> None:
        """A checkpoint of a world of this size (:meth:`DistributedRunLoop.check_resumable`)."""
        shared = {k: v for k, v in state.items() if k not in ("streams", "world_size")}
        PPMO.load_state_dict(self, {**shared, **state["streams"][self.world.rank]})


class DistributedRunLoop(RunLoop):
    """:class:`RunLoop` for a :class:`DataParallelPPMO`: every stop decision is agreed on by all
    ranks, signals stop every rank, and checkpoints are gathered to rank 0, which alone writes.

    Callbacks must be the same, in the same order, on every rank (they may decide differently:
    the loop stops when any rank's callbacks say stop). Callbacks that take part in collectives
    (evaluation, checkpoints) must come before any that can stop the run at the end of a
    meta-epoch, since those skip the callbacks after them.
    """

    def __init__(self, algo: DataParallelPPMO, callbacks=(), *, checkpoint_path=None):
        super().__init__(algo, callbacks, checkpoint_path=checkpoint_path)
        self.world = algo.world
        self.world_size = self.world.size

    def run(self) -> DistributedRunLoop:
        with self.algo.signals.installed():
            try:
                return super().run()
            except StopRequested:
                self._interrupt()
                raise AssertionError("unreachable") from None

    def _proceed(self, local: bool) -> bool:
        """One all-reduce: [rank 0's clock, stop votes, signals]; every rank reads rank 0's clock."""
        votes = torch.tensor(
            [
                self.wall_seconds if self.world.is_main else 0.0,
                float(not local),
                float(self.algo.signals.signum),
            ],
            dtype=torch.float64,
        )
        dist.all_reduce(votes)
        if not self.world.is_main and self._started is not None:
            self._wall_before += float(votes[0]) - self.wall_seconds
        if votes[2] > 0:
            self._interrupt()
        return votes[1] == 0

    def _interrupt(self) -> None:
        """Every rank is here: checkpoint the last completed meta-epoch, stop."""
        signum = self.algo.signals.signum or signal.SIGTERM  # 0: the signal was on another rank
        name = signal.Signals(signum).name
        epoch = self.algo.meta_epoch
        if self.checkpoint_path is None:
            raise Interrupted(f"stopped by {name} (on some rank) after meta-epoch {epoch}", signum=signum)
        self.save_checkpoint()
        raise Interrupted(
            f"stopped by {name} (on some rank) after meta-epoch {epoch}; checkpoint saved to "
            f"{self.checkpoint_path}; continue with the same command and --resume",
            signum=signum,
        )

    def config_hash(self) -> str:
        """The config's hash and the world size: a run resumes only in a world of its size."""
        base = super().config_hash()
        return hashlib.sha256(f"{base}/world{self.world.size}".encode()).hexdigest()[:16]

    def save_checkpoint(self, path: str | Path | None = None) -> Path:
        """Collective: every rank's stream state is gathered; rank 0 writes."""
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None:
            raise ValueError("no checkpoint path: give one, or construct the loop with checkpoint_path")
        state = self.state_dict()
        if self.world.is_main:
            atomic_write(path, lambda f: torch.save(state, f))
        return path

    def load_checkpoint(self, path: str | Path | None = None) -> None:
        """Rank 0 reads the checkpoint (other nodes need not see the file) and broadcasts it."""
        path = Path(path) if path is not None else self.checkpoint_path
        box: list = [None, None]
        if self.world.is_main:
            try:
                box[0] = self.read_checkpoint(path)
            except (CheckpointError, FileNotFoundError) as err:
                box[1] = err
        dist.broadcast_object_list(box, src=0)
        if box[1] is not None:
            raise box[1]
        self.load_state_dict(box[0])


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "DataParallelPPMO",
    "DistributedRunLoop",
    "World",
    "broadcast_error",
    "join",
    "launch_local",
    "launched_world",
    "leave",
]
