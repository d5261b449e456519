"""The device rule (docs/concepts.md#devices), in one place.

A run has one device. On it: the dataset (and its encoder, log-std and observation statistics),
every learner's parameters, the critic, every loss buffer, rollouts and evaluation populations.
On the CPU: env workers and what they return before the copy, RNG states, and everything saved
(files and checkpoints are written from CPU copies and loaded with ``map_location="cpu"``, then
moved), so that stock ``torch.load`` opens them on a machine without a GPU.

Learners are *sampled* on a CPU generator and then moved, so a CPU and a CUDA run of one seed
start from the same initialisations; their later arithmetic differs (other kernels), so each run
is reproducible on its own device only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torchrl.envs import Transform

from taskdistill_rl.errors import InvalidInputError

# Kinds a run may name. Others (mps, xpu, meta, ...) are refused: nothing here was ever run on them.
SUPPORTED_KINDS = ("cpu", "cuda")


def available_devices() -> list[str]:
    """``["cpu"]`` plus one ``"cuda:i"`` per visible GPU."""
    if not torch.cuda.is_available():
        return ["cpu"]
    return ["cpu", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))]


def check_device(device: str | torch.device) -> None:
    """Raise one clear `InvalidInputError` for a device this machine cannot run on, naming those
    it can: an unknown string, a kind other than cpu/cuda, CUDA without a GPU, or a GPU index
    past the visible ones (``cuda:1`` on a one-GPU machine)."""
    here = ", ".join(available_devices())
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise InvalidInputError(f"unknown device {device!r}; devices here: {here}") from err
    if parsed.type not in SUPPORTED_KINDS:
        raise InvalidInputError(
            f"device {device!r} is not supported (taskdistill_rl runs on cpu or cuda); devices here: {here}"
        )
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            build = "has no CUDA support (a CPU build)" if torch.version.cuda is None else "sees no CUDA GPU"
            raise InvalidInputError(
                f"device {device!r}: this torch {torch.__version__} {build}; devices here: cpu"
            )
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise InvalidInputError(
                f"device {device!r}: this machine has {count} visible GPU(s) (cuda:0 to cuda:{count - 1}); "
                f"devices here: {here}"
            )


def cpu_copy(obj: Any) -> Any:
    """``obj`` with every tensor in its nested dicts, lists and tuples copied to the CPU: what a
    file or checkpoint holds, and what crosses ranks as a pickled object."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu() if obj.device.type != "cpu" else obj
    if isinstance(obj, dict):
        return {key: cpu_copy(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(cpu_copy(value) for value in obj)
    return obj


def to_device(x: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``x`` on ``device``. A CPU tensor bound for a GPU travels from pinned memory with a
    ``non_blocking`` copy, so the host does not wait for the transfer (env worker output)."""
    device = torch.device(device)
    if x.device == device or (device.type == x.device.type and device.index is None):
        return x
    if device.type == "cuda" and x.device.type == "cpu":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


def pinned_outputs(env, device: torch.device | str):
    """``env`` (a TorchRL env on the CPU) with its step and reset outputs in pinned memory when a
    run on a GPU will copy them there, so the collector's ``non_blocking`` copy does not block
    the host. Unchanged on any other device."""
    if torch.device(device).type != "cuda" or env.device is None or env.device.type != "cpu":
        return env
    from taskdistill_rl.envs.builders import with_transform

    return with_transform(env, PinMemory())


class PinMemory(Transform):
    """Pins a CPU env's outputs: the source of the collector's ``non_blocking`` copy to the GPU."""

    def _step(self, tensordict, next_tensordict):
        return next_tensordict.pin_memory()

    def _reset(self, tensordict, tensordict_reset):
        return tensordict_reset.pin_memory()


def fused_adam_supported(device: torch.device | str) -> bool:
    """Whether ``torch.optim.Adam(fused=True)`` runs on ``device`` (one kernel per step on CPU and CUDA)."""
    return torch.device(device).type in SUPPORTED_KINDS


def configure_determinism(device: str | torch.device, *, cudnn_benchmark: bool = False) -> None:
    """CUDA's default here: cuDNN picks deterministic convolution algorithms and does not
    benchmark (``cudnn.deterministic = True``, ``cudnn.benchmark = False``), so one seed on one
    GPU, driver and torch gives the same run, except for ops whose CUDA kernels accumulate with
    atomics (the backward of advanced indexing, ``index_add``), which may differ in the last bits.
    ``cudnn_benchmark=True`` lets cuDNN time and pick the fastest convolutions instead: faster
    Nature-CNN steps, no promise of reproducibility. The CPU is deterministic for a fixed thread
    count either way."""
    if torch.device(device).type != "cuda":
        return
    torch.backends.cudnn.benchmark = cudnn_benchmark
    torch.backends.cudnn.deterministic = not cudnn_benchmark


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` intra-op CPU threads, then restore the caller's count.

    The count is a learning setting, not only a speed one: a CPU reduction (a matmul, a sum) splits
    its work by thread, so another count adds floats in another order and a run of one seed ends
    with other tensors. ``None`` leaves torch's count alone."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def rng_states(device: str | torch.device) -> dict:
    """The global RNG states a run draws from: the CPU's, and the GPU's on a CUDA run (rollout
    actions are sampled there). CPU byte tensors, as ``set_rng_state`` wants them."""
    states = {"torch_rng": torch.get_rng_state()}
    device = torch.device(device)
    if device.type == "cuda":
        states["cuda_rng"] = torch.cuda.get_rng_state(device)
    return states


def set_rng_states(states: dict, device: str | torch.device) -> None:
    """Restore :func:`rng_states`. A checkpoint of a CPU run resumed on CUDA carries no GPU state:
    the GPU generator then keeps its seeding."""
    torch.set_rng_state(states["torch_rng"].cpu())
    device = torch.device(device)
    if device.type == "cuda" and states.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(states["cuda_rng"].cpu(), device)


__all__ = [
    "SUPPORTED_KINDS",
    "PinMemory",
    "available_devices",
    "check_device",
    "configure_determinism",
    "cpu_copy",
    "fused_adam_supported",
    "pinned_outputs",
    "rng_states",
    "set_rng_states",
    "to_device",
    "torch_threads",
]
