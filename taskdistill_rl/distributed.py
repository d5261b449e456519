"""Data parallelism for any outer algorithm, across processes and nodes on ``torch.distributed``
(gloo on CPU, NCCL on CUDA): :class:`DataParallel` wraps an
:class:`~taskdistill_rl.algorithms.base.Algorithm` and hands it a :class:`ProcessGroup`.

Every rank runs the same meta-epochs on its own random stream (``Algo(stream=rank)``:
initialisations, env states, actions, minibatch order). What the algorithm learns
(:meth:`~taskdistill_rl.algorithms.base.Algorithm.learned_modules`) starts as rank 0's; what keeps it
equal on every rank, bit for bit, is the algorithm's own use of the group: PPMO averages its
gradients before every optimiser step (:meth:`ProcessGroup.mean_gradients`; its objective is then
the mean of the PPMO loss over all ranks' pairs), an algorithm without gradients all-reduces or
gathers whatever statistic it decides from (:meth:`ProcessGroup.sum`, :meth:`ProcessGroup.gather`).

No rank may leave the others waiting in a collective, so every decision that changes what runs
next is collective: stopping and signals (:class:`taskdistill_rl.run.RunLoop`, the one place for
both), a divergence (the gradient all-reduce carries a non-finite flag: every rank rolls back), a
signal while a rank still collects its rollout (it drops it at once instead of finishing an Atari
meta-epoch), an evaluation (rank 0's, broadcast). Only rank 0 writes; a checkpoint gathers every
rank's stream state (the algorithm's ``stream_keys``), so a run resumes with the same world size.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

from taskdistill_rl.devices import check_device
from taskdistill_rl.errors import TaskDistillError
from taskdistill_rl.run import SignalFlag, StopRequested

if TYPE_CHECKING:
    from torch import nn

    from taskdistill_rl.algorithms.base import Algorithm

DEFAULT_TIMEOUT_S = 1800.0  # a collective waits this long for a rank (rank 0 may be evaluating Atari)


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


class ProcessGroup:
    """The ranks of a data-parallel run, as an algorithm sees them (the collectives of
    :class:`~taskdistill_rl.algorithms.base.SingleProcess`, for real). ``learned``: the parameters
    whose gradients :meth:`mean_gradients` averages."""

    def __init__(self, world: World, learned: list[nn.Parameter]):
        self.world, self.rank, self.size, self.is_main = world, world.rank, world.size, world.is_main
        self.learned = learned
        self.signals = SignalFlag()

    def _packet(self, finite: torch.Tensor) -> torch.Tensor:
        """The gradients flattened (zeros where a rank has none), then [non-finite, stop] flags,
        all on the run's device (no host read: ``finite`` is a device tensor)."""
        reference = self.learned[0]
        like = {"dtype": reference.dtype, "device": reference.device}
        parts = [
            p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel(), **like) for p in self.learned
        ]
        stop = torch.full((1,), float(self.signals.signum > 0), **like)
        return torch.cat([*parts, (~finite.reshape(1)).to(**like), stop])

    def mean_gradients(self, finite: torch.Tensor) -> torch.Tensor:
        """One all-reduce: every learned gradient averaged, with [finite everywhere, stop] flags."""
        packet = self._packet(finite)
        dist.all_reduce(packet)
        packet /= self.size
        offset = 0
        for p in self.learned:
            if p.grad is not None:
                p.grad.copy_(packet[offset : offset + p.numel()].view_as(p.grad))
            offset += p.numel()
        return torch.stack([packet[-2] == 0, packet[-1] > 0])

    def check(self, flags: list[bool]) -> None:
        if flags[1]:  # a signal on some rank: every rank drops this meta-epoch
            raise StopRequested

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    def gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        gathered = [torch.empty_like(tensor) for _ in range(self.size)]
        dist.all_gather(gathered, tensor)
        return gathered

    def broadcast_object(self, obj):
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    @contextmanager
    def abortable(self):
        """A signal here drops the stretch at once; the others, waiting in the next
        :meth:`mean_gradients`, hear of it from the stop flag of this rank's empty packet."""
        try:
            with self.signals.abortable_region():
                yield
        except StopRequested:
            packet = torch.zeros_like(self._packet(torch.ones(1, dtype=torch.bool)))
            packet[-1] = 1.0
            dist.all_reduce(packet)
            raise


class DataParallel:
    """``algo`` on one rank of a data-parallel world (the process group already joined).

    Each rank runs ``algo`` on its own stream (construct it with ``stream=world.rank``): with
    PPMO, each steps ``config.num_envs`` envs and fits ``inits_per_epoch`` initialisations of its
    own, so a world of W ranks collects W times the frames of one process per meta-epoch. Rank 0's
    learned modules are broadcast at the start. Everything not overridden here is ``algo``'s.

    Args:
        algo: the algorithm of this rank.
        world: this rank's place.
    """

    def __init__(self, algo: Algorithm, world: World):
        self.__dict__["algo"] = algo  # before anything reaches __getattr__
        self.world = world
        modules = algo.learned_modules()
        learned = [p for m in modules for p in m.parameters() if p.requires_grad]
        self.group = algo.group = ProcessGroup(world, learned)
        with torch.no_grad():
            for module in modules:
                for tensor in module.state_dict().values():
                    dist.broadcast(tensor, src=0)

    def __getattr__(self, name: str):
        return getattr(self.__dict__["algo"], name)

    def step(self) -> dict:
        """The algorithm's meta-epoch, dropped as a whole when a signal stops every rank in it."""
        started_from = copy.deepcopy(self.algo.state_dict())
        try:
            return self.algo.step()
        except StopRequested:
            self.algo.load_state_dict(started_from)  # the last completed state, for the checkpoint
            raise

    def evaluate(self, *, n_learners: int, episodes: int, seed: int) -> torch.Tensor:
        """Rank 0 evaluates; every rank receives its returns."""
        returns = (
            self.algo.evaluate(n_learners=n_learners, episodes=episodes, seed=seed)
            if self.world.is_main
            else None
        )
        return self.group.broadcast_object(returns)

    def state_dict(self) -> dict:
        """Collective: every rank calls it; rank 0's result holds every rank's stream state."""
        state = self.algo.state_dict()  # CPU tensors: nothing of another rank's GPU is pickled
        own = {key: state.pop(key) for key in self.algo.stream_keys if key in state}
        streams = [None] * self.world.size if self.world.is_main else None
        dist.gather_object(own, streams, dst=0)
        return {**state, "world_size": self.world.size, "streams": streams}

    def load_state_dict(self, state: dict) -> None:
        """A checkpoint of a world of this size (:meth:`RunLoop.check_resumable`)."""
        shared = {k: v for k, v in state.items() if k not in ("streams", "world_size")}
        self.algo.load_state_dict({**shared, **state["streams"][self.world.rank]})


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "DataParallel",
    "ProcessGroup",
    "World",
    "broadcast_error",
    "join",
    "launch_local",
    "launched_world",
    "leave",
]
