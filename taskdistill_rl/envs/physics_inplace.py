"""``InplaceEulerStep``: :func:`~taskdistill_rl.envs.physics.euler_step` in place, the batched
env's hot path. Apart from ``physics.py`` because it needs torch, and the gymnasium env must import
without it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from taskdistill_rl.envs.physics import PHYSICS, CartPolePhysics, euler_step  # noqa: F401 -- used by the doctest
from taskdistill_rl.errors import InvalidInputError


def _out_positional(op: Callable) -> Callable:
    def call(a: Any, b: Any, out: Any) -> Any:
        return op(a, b, out=out)

    return call


# multiply, add, subtract, divide with `out` as the third positional argument (numpy ufuncs take it so,
# a little faster than the keyword).
_NUMPY_OPS = (np.multiply, np.add, np.subtract, np.divide)
_TORCH_OPS = tuple(_out_positional(op) for op in (torch.mul, torch.add, torch.sub, torch.div))


def numpy_scalar_type(dtype: torch.dtype) -> type:
    """The numpy scalar type of a torch dtype (``torch.float32`` -> ``np.float32``)."""
    return torch.empty(0, dtype=dtype).numpy().dtype.type


class InplaceEulerStep:
    """:func:`euler_step` in place and without allocating: the batched env's hot path.

    The same expressions, evaluated operation by operation in the same order and the same dtype, so
    the result is bit-identical to :func:`euler_step` (``tests/envs/test_batched.py``). Only the
    bookkeeping differs, because at thousands of envs each call costs more than its arithmetic:

    * every intermediate goes into a preallocated buffer, and the views into the buffers are made once;
    * on CPU the arithmetic runs on numpy views of the same memory (a numpy call costs about a third of
      a torch call; IEEE float32/float64 ``* + - /`` round identically in both), while ``sin``/``cos``
      stay torch's, whose last bit numpy's need not share. Elsewhere every call is torch's;
    * the constants are scalars / 0-dim tensors of the state dtype (a Python float operand is wrapped
      into a new tensor on every torch call; the value is the same);
    * independent operations of the same kind share one call on stacked buffers: ``[td^2, c^2] *
      [polemass_length, masspole]``, ``/ total_mass`` on both, ``[s, c] * [gravity, temp]``;
    * the four component updates are one multiply and one add over the whole state: the time
      derivatives are gathered into a buffer laid out like the state, ``[x_dot, xacc, theta_dot,
      thetaacc]`` per axis.

    Args:
        shape: the state's shape, ``(*batch, 4)`` with the components ``x, x_dot, theta, theta_dot``
            last, e.g. ``(num_envs, n_dims, 4)``.

    Keyword Args:
        dtype: float dtype of the state.
        device: device of the state.
        use_numpy: run the arithmetic through numpy (default: on CPU).
        physics: the constants.

    Examples:
        >>> step = InplaceEulerStep((3, 2, 4), dtype=torch.float64, device="cpu")
        >>> state = torch.full((3, 2, 4), 0.01, dtype=torch.float64)
        >>> force = torch.full((3, 2), 10.0, dtype=torch.float64)
        >>> expected = torch.stack(euler_step(*state.unbind(-1), force, sin=torch.sin, cos=torch.cos), -1)
        >>> step(state, step.as_array(force))
        >>> torch.equal(state, expected)
        True
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        *,
        dtype: torch.dtype,
        device: torch.device | str,
        use_numpy: bool | None = None,
        physics: CartPolePhysics = PHYSICS,
    ):
        shape, device = tuple(shape), torch.device(device)
        if not shape or shape[-1] != 4:
            raise InvalidInputError(f"shape must end with the 4 state components, got {shape}")
        self.use_numpy = device.type == "cpu" if use_numpy is None else use_numpy
        if self.use_numpy and device.type != "cpu":
            raise InvalidInputError(f"use_numpy needs a CPU state, got device {device}")
        batch = shape[:-1]
        self._ops = _NUMPY_OPS if self.use_numpy else _TORCH_OPS
        self._copy = np.copyto if self.use_numpy else torch.Tensor.copy_

        def const(value: float | list[float]) -> Any:
            if self.use_numpy:  # a 0-dim array: numpy converts a scalar object on every call
                return np.asarray(value, dtype=numpy_scalar_type(dtype))
            return torch.tensor(value, dtype=dtype, device=device)

        def empty(*lead: int) -> tuple[torch.Tensor, Any]:
            tensor = torch.empty(*lead, *batch, dtype=dtype, device=device)
            return tensor, self.as_array(tensor)

        p = physics
        self.length, self.total_mass, self.tau = const(p.length), const(p.total_mass), const(p.tau)
        self.polemass_length, self.four_thirds = const(p.polemass_length), const(4.0 / 3.0)
        self._pml_mp = const([p.polemass_length, p.masspole]).reshape(2, *[1] * len(batch))
        # Rows [theta, theta_dot, sintheta, costheta]: the angles gathered from the state (contiguous rows
        # make sin/cos and the products several times cheaper than the state's stride-4 components);
        # torch writes sin/cos, the arithmetic reads them. The row order lets single calls square
        # [theta_dot, costheta] (rows 1 and 3) and multiply [sintheta, costheta] (rows 2:4).
        angles, self._angles = empty(4)
        self._theta, self._sin_out, self._cos_out = angles[0], angles[2], angles[3]
        self._theta_rows, self._sin_cos, self._theta_dot_cos = (
            self._angles[:2],
            self._angles[2:],
            self._angles[1::2],
        )
        self._sin, self._cos = self._sin_cos
        # Rows [gravity (constant), temp, cos2 = masspole * costheta^2 / total_mass (later the denominator)]
        _, work = empty(3)
        work[0] = p.gravity
        self._temp, self._cos2 = work[1], work[2]
        self._gravity_temp, self._temp_cos2 = work[:2], work[1:]
        # Rows [gravity * sintheta, costheta * temp], then [num, scratch]
        _, self._products = empty(2)
        self._num, self._scratch = self._products
        self._deriv = self.as_array(torch.empty(shape, dtype=dtype, device=device))  # d(state)/dt
        self._xacc, self._thetaacc = self._deriv[..., 1], self._deriv[..., 3]
        self._deriv_of_positions = self._deriv[..., 0::2]
        self._state: torch.Tensor | None = None  # the state whose views are cached below

    def as_array(self, tensor: torch.Tensor) -> Any:
        """``tensor`` as the arithmetic sees it: a numpy view of the same memory, or itself."""
        return tensor.numpy() if self.use_numpy else tensor

    def _views(self, state: torch.Tensor) -> tuple[Any, Any, Any]:
        if state is not self._state:
            self._state = state
            array = self.as_array(state)
            angles = np.moveaxis(array[..., 2:4], -1, 0) if self.use_numpy else array[..., 2:4].movedim(-1, 0)
            self._state_views = angles, array[..., 1::2], array
        return self._state_views

    def __call__(self, state: torch.Tensor, force: Any) -> None:
        """Advance ``state`` (``[*batch, 4]``) one step in place.

        ``force`` (``[*batch]``, the push on each axis) is an array of the arithmetic's kind (see
        :meth:`as_array`).
        """
        angles, velocities, array = self._views(state)
        mul, add, sub, div = self._ops
        sintheta, costheta, temp, cos2, num, scratch = (
            self._sin,
            self._cos,
            self._temp,
            self._cos2,
            self._num,
            self._scratch,
        )
        self._copy(self._theta_rows, angles)
        torch.sin(self._theta, out=self._sin_out)
        torch.cos(self._theta, out=self._cos_out)
        # temp = (force + polemass_length * (theta_dot * theta_dot) * sintheta) / total_mass, and the
        # denominator's cos2 = masspole * (costheta * costheta) / total_mass beside it
        mul(self._theta_dot_cos, self._theta_dot_cos, self._temp_cos2)
        mul(self._temp_cos2, self._pml_mp, self._temp_cos2)
        mul(temp, sintheta, temp)
        add(force, temp, temp)
        div(self._temp_cos2, self.total_mass, self._temp_cos2)
        # thetaacc = (gravity * sintheta - costheta * temp) / (length * (4/3 - cos2))
        mul(self._sin_cos, self._gravity_temp, self._products)
        sub(num, scratch, num)
        den = sub(self.four_thirds, cos2, cos2)
        mul(den, self.length, den)
        div(num, den, self._thetaacc)
        # xacc = temp - polemass_length * thetaacc * costheta / total_mass
        mul(self._thetaacc, self.polemass_length, scratch)
        mul(scratch, costheta, scratch)
        div(scratch, self.total_mass, scratch)
        sub(temp, scratch, self._xacc)
        # Explicit Euler, every component from the old state: x + tau * x_dot, x_dot + tau * xacc, ...
        self._copy(self._deriv_of_positions, velocities)
        mul(self._deriv, self.tau, self._deriv)
        add(array, self._deriv, array)
