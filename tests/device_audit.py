"""Test-only tools that prove the device rule on a machine without a GPU (issue 23).

- :class:`StrictDevices` rejects every op whose tensor operands live on different devices, except
  the copies between them. CUDA itself accepts 0-dim CPU operands in most ops and CPU indices into
  CUDA tensors; the rule does not (a CPU clip bound fails CUDA's ``clamp``), so this is stricter.
  Run on the ``meta`` device, it sees a CPU tensor meet a run's tensors where CUDA would crash.
- :class:`HostReads` counts the values a computation reads back to the host (``item``, ``bool``,
  ``float``, ``tolist``): on a GPU each is a synchronisation.
- :func:`fake_cuda` gives a module CUDA tensors (``FakeTensorMode``, no GPU needed), to check that
  what is saved is copied to the CPU.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.experimental import _config as fx_config
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

aten = torch.ops.aten
_COPIES = {aten._to_copy.default, aten.copy_.default, aten._copy_from.default, aten.lift_fresh.default}
_READS = {aten._local_scalar_dense.default, aten.is_nonzero.default, aten.equal.default}


class MixedDevices(RuntimeError):
    """An op took tensors of several devices."""


class StrictDevices(TorchDispatchMode):
    """A host read of a meta tensor (the inner lr as a Python float, once per evaluated population)
    answers 1.0, and ``torch.equal`` of meta tensors False: meta tensors hold no values, and the
    audit is about where tensors live, not what they hold."""

    def __enter__(self):
        # meta's nonzero (index lists of rows) needs a size: assume every row, as the audit only
        # cares where the result lives
        self._nonzero = fx_config.patch(meta_nonzero_assume_all_nonzero=True)
        self._nonzero.__enter__()
        return super().__enter__()

    def __exit__(self, *exc):
        super().__exit__(*exc)
        self._nonzero.__exit__(*exc)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is aten._local_scalar_dense.default and args[0].device.type == "meta":
            return 1.0
        if func is aten.equal.default and args[0].device.type == "meta":
            return False  # "these differ": the caller takes its general path
        if func not in _COPIES:
            devices = {t.device for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
            if len(devices) > 1:
                raise MixedDevices(f"{func} got tensors on {sorted(map(str, devices))}")
        return func(*args, **kwargs)


class HostReads(TorchDispatchMode):
    """Counts host reads: scalar reads dispatch ``_local_scalar_dense``; ``tolist`` and ``numpy``
    do not dispatch, so they are counted by wrapping them for the duration."""

    def __init__(self):
        super().__init__()
        self.count = 0
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in _READS:
            self.count += 1
            self.ops.append(str(func))
        return func(*args, **(kwargs or {}))

    @contextmanager
    def counting(self):
        originals = {name: getattr(torch.Tensor, name) for name in ("tolist", "numpy")}

        def wrap(name):
            def read(tensor, *args, **kwargs):
                self.count += 1
                self.ops.append(name)
                return originals[name](tensor, *args, **kwargs)

            return read

        try:
            for name in originals:
                setattr(torch.Tensor, name, wrap(name))
            with self:
                yield self
        finally:
            for name, original in originals.items():
                setattr(torch.Tensor, name, original)


def tensors_of(obj) -> list[torch.Tensor]:
    """Every tensor in nested dicts, lists and tuples."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        return [t for value in obj.values() for t in tensors_of(value)]
    if isinstance(obj, (list, tuple)):
        return [t for value in obj for t in tensors_of(value)]
    return []


def module_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return {**dict(module.named_parameters()), **dict(module.named_buffers())}


@contextmanager
def fake_cuda(*modules: nn.Module):
    """Inside the block, ``modules``' parameters and buffers are (fake) CUDA tensors of the same
    shapes and dtypes: no GPU needed, and ``.cpu()`` of them gives (fake) CPU tensors."""
    with FakeTensorMode(allow_non_fake_inputs=True) as mode:
        for module in modules:
            for sub in module.modules():
                for name, p in list(sub.named_parameters(recurse=False)):
                    if p.dim() == 0:  # scalars stay: fake CUDA arithmetic on them aborts a CPU build
                        continue
                    cuda = torch.empty(p.shape, dtype=p.dtype, device="cuda")
                    setattr(sub, name, nn.Parameter(cuda, requires_grad=p.requires_grad))
                for name, b in list(sub.named_buffers(recurse=False)):
                    setattr(sub, name, torch.empty(b.shape, dtype=b.dtype, device="cuda"))
        yield mode
