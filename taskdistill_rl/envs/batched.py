"""Batched ND cart-pole in torch: thousands of environments stepped as one TorchRL ``EnvBase``.

This is what distillation and evaluation step. Same physics as :class:`NDCartPoleEnv`
(``envs/physics.py``), integrated in ``dtype`` (float32 by default, float64 on request).

Speed (issue 15): at 4,096 envs a step is ~50 small array operations, and their per-call cost, not
the arithmetic, is most of its time. So a step allocates only its outputs, builds each output
TensorDict once, and on CPU does its arithmetic and bookkeeping through numpy views of the same
memory (a numpy call costs about a third of a torch call). ``sin``/``cos`` and the random initial
states stay torch's, so every step is bit-identical to the torch-only path used on other devices
(``tests/envs/test_batched.py``); ``benchmarks/bench_env_throughput.py`` measures it against
gymnasium's vectorised ``CartPole-v1``.
"""

from __future__ import annotations

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Categorical, Composite, Unbounded
from torchrl.envs import EnvBase

from taskdistill_rl.envs.physics import PHYSICS, axes_failed, euler_step, force_table, validate_n_dims
from taskdistill_rl.envs.physics_inplace import InplaceEulerStep, numpy_scalar_type
from taskdistill_rl.errors import InvalidInputError

_ENV_KEYS = ("observation", "step_count", "done", "terminated", "truncated")


# |component| > limit fails an axis; velocities have no limit. Compared in the state dtype, as
# `x.abs() > x_threshold` compares a float32 tensor with the float32-rounded threshold.
_LIMITS = [PHYSICS.x_threshold, float("inf"), PHYSICS.theta_threshold_radians, float("inf")]


class _TorchStep:
    """One step's buffers and bookkeeping in torch (any device; ``compile_physics`` uses its constants).

    ``advance`` steps ``state``/``step_count`` in place and returns new ``terminated``, ``truncated``
    and ``done`` tensors; ``finished`` lists the envs to reset; ``reset_rows`` resets them.
    """

    def __init__(self, num_envs: int, n_dims: int, *, dtype: torch.dtype, device: torch.device):
        shape, self.num_envs = (num_envs, n_dims, 4), num_envs
        self.euler = InplaceEulerStep(shape, dtype=dtype, device=device, use_numpy=False)
        self.force_rows = torch.tensor(force_table(n_dims), dtype=dtype, device=device)  # [2N, N]
        # Full-size limits and a float comparison (1.0 = beyond) keep it one vectorised loop, several
        # times faster than a broadcast or a bool output; a matmul with ones counts the failures.
        self.limits = torch.tensor(_LIMITS, dtype=dtype, device=device).expand(shape).contiguous()
        self.magnitude = torch.empty(shape, dtype=dtype, device=device)
        self.beyond = torch.empty(shape, dtype=dtype, device=device)
        self.beyond_rows = self.beyond.view(num_envs, 4 * n_dims)
        self.ones = torch.ones(4 * n_dims, 1, dtype=dtype, device=device)
        self.failures = torch.empty(num_envs, 1, dtype=dtype, device=device)
        self.max_steps = torch.tensor(PHYSICS.max_episode_steps, device=device)
        self.reset_scale = torch.tensor(2 * PHYSICS.reset_bound, dtype=dtype, device=device)
        self.reset_bound = torch.tensor(PHYSICS.reset_bound, dtype=dtype, device=device)

    def advance(
        self, state: torch.Tensor, step_count: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        self.euler(state, self.force_rows[action.reshape(self.num_envs)])
        torch.gt(torch.abs(state, out=self.magnitude), self.limits, out=self.beyond)
        terminated = torch.matmul(self.beyond_rows, self.ones, out=self.failures).bool()  # any axis failed
        step_count.add_(1)
        truncated = torch.ge(step_count, self.max_steps)
        return terminated, truncated, terminated | truncated

    def finished(self, done: torch.Tensor) -> torch.Tensor:
        return torch.where(done.view(-1))[0]

    def reset_rows(
        self, state: torch.Tensor, step_count: torch.Tensor, rows: torch.Tensor | None, noise: torch.Tensor
    ) -> None:
        """Start the envs ``rows`` (all if ``None``) from ``noise`` ~ U[0, 1) scaled to U[-bound, bound)."""
        noise.mul_(self.reset_scale).sub_(self.reset_bound)
        if rows is None:
            state.copy_(noise)
            step_count.zero_()
        else:
            state.index_copy_(0, rows, noise)
            step_count.index_fill_(0, rows, 0)

    def not_done(self, num_envs: int, device: torch.device) -> tuple[torch.Tensor, ...]:
        """Fresh all-false ``done``, ``terminated``, ``truncated``."""
        return torch.zeros(3, num_envs, 1, dtype=torch.bool, device=device).unbind(0)


class _NumpyStep:
    """:class:`_TorchStep` on CPU through numpy views of the same memory (a numpy call costs about a
    third of a torch call, and calls, not arithmetic, are most of a step at 4,096 envs).

    The results are the same bits: the arithmetic is IEEE ``* + - /`` and comparisons, and
    ``sin``/``cos`` (in :class:`InplaceEulerStep`) and the random draws stay torch's.
    """

    def __init__(self, num_envs: int, n_dims: int, *, dtype: torch.dtype):
        shape, self.num_envs = (num_envs, n_dims, 4), num_envs
        scalar = numpy_scalar_type(dtype)
        self.euler = InplaceEulerStep(shape, dtype=dtype, device="cpu", use_numpy=True)
        self.force_table = np.asarray(force_table(n_dims), dtype=scalar)  # [2N, N]
        self.force_rows = torch.from_numpy(self.force_table)  # for compile_physics
        self.limits = np.broadcast_to(np.asarray(_LIMITS, dtype=scalar), shape).copy()  # full-size: one loop
        self.magnitude = np.empty(shape, dtype=scalar)
        self.beyond = np.empty(shape, dtype=np.bool_)
        # The 4 bools of an axis as one 32-bit word: non-zero iff the axis failed (numpy's `any` over
        # a short axis is a slow reduction).
        self.beyond_words = self.beyond.view(np.uint32).reshape(num_envs, n_dims)
        self.failed_words = np.empty(num_envs, dtype=np.uint32)
        self.max_steps = PHYSICS.max_episode_steps
        self.reset_scale = np.asarray(2 * PHYSICS.reset_bound, dtype=scalar)
        self.reset_bound = np.asarray(PHYSICS.reset_bound, dtype=scalar)
        self._tensors: tuple[torch.Tensor, torch.Tensor] | None = None  # whose arrays are cached below
        # The last `done` and `finished` rows, as tensors and as the arrays under them.
        self._done: tuple[torch.Tensor | None, np.ndarray | None] = None, None
        self._rows: tuple[torch.Tensor | None, np.ndarray | None] = None, None

    def _arrays(self, state: torch.Tensor, step_count: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        if self._tensors is None or state is not self._tensors[0] or step_count is not self._tensors[1]:
            self._tensors, self._numpy = (state, step_count), (state.numpy(), step_count.numpy())
        return self._numpy

    def advance(
        self, state: torch.Tensor, step_count: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        array, count = self._arrays(state, step_count)
        # As indexing: IndexError beyond 2N, a negative action counts from the end.
        self.euler(state, self.force_table.take(action.numpy().reshape(self.num_envs), axis=0))
        np.abs(array, self.magnitude)
        np.greater(self.magnitude, self.limits, self.beyond)
        words = self.beyond_words
        if words.shape[1] == 1:
            terminated = words != 0
        else:
            failed = np.bitwise_or(words[:, 0], words[:, 1], self.failed_words)
            for axis in range(2, words.shape[1]):
                np.bitwise_or(failed, words[:, axis], failed)
            terminated = (failed != 0).reshape(-1, 1)
        np.add(count, 1, count)
        truncated = count >= self.max_steps
        done = terminated | truncated
        outputs = torch.from_numpy(terminated), torch.from_numpy(truncated), torch.from_numpy(done)
        self._done = outputs[2], done
        return outputs

    def finished(self, done: torch.Tensor) -> torch.Tensor:
        array = self._done[1] if done is self._done[0] else done.numpy()
        rows = array.reshape(-1).nonzero()[0]
        self._rows = torch.from_numpy(rows), rows
        return self._rows[0]

    def reset_rows(
        self, state: torch.Tensor, step_count: torch.Tensor, rows: torch.Tensor | None, noise: torch.Tensor
    ) -> None:
        """Start the envs ``rows`` (all if ``None``) from ``noise`` ~ U[0, 1) scaled to U[-bound, bound)."""
        array, count = self._arrays(state, step_count)
        initial = noise.numpy()
        np.multiply(initial, self.reset_scale, initial)
        np.subtract(initial, self.reset_bound, initial)
        index = slice(None) if rows is None else self._rows[1] if rows is self._rows[0] else rows.numpy()
        array[index] = initial
        count[index] = 0

    def not_done(self, num_envs: int, device: torch.device) -> tuple[torch.Tensor, ...]:
        """Fresh all-false ``done``, ``terminated``, ``truncated``."""
        flags = np.zeros((3, num_envs, 1), dtype=np.bool_)
        return torch.from_numpy(flags[0]), torch.from_numpy(flags[1]), torch.from_numpy(flags[2])


def _fused_advance_kernel(
    state: torch.Tensor, step_count: torch.Tensor, action: torch.Tensor, step: _TorchStep | _NumpyStep
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`_advance_kernel` as one expression for ``torch.compile`` (``compile_physics``).

    Inductor fuses it into a single loop; the preallocated buffers of the eager path would only add
    memory traffic there.
    """
    x, x_dot, theta, theta_dot = euler_step(
        *state.unbind(-1), step.force_rows[action.reshape(step.num_envs)], sin=torch.sin, cos=torch.cos
    )
    state.copy_(torch.stack((x, x_dot, theta, theta_dot), dim=-1))
    terminated = axes_failed(x, theta).any(-1, keepdim=True)
    step_count.add_(1)
    truncated = step_count >= PHYSICS.max_episode_steps
    return terminated, truncated, terminated | truncated


def _advance_kernel(
    state: torch.Tensor, step_count: torch.Tensor, action: torch.Tensor, step: _TorchStep | _NumpyStep
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step in place on ``state`` ``[E, N, 4]`` and ``step_count`` ``[E, 1]``.

    Returns new ``terminated``, ``truncated`` and ``done`` tensors (``[E, 1]`` bool).
    """
    return step.advance(state, step_count, action)


class BatchedNDCartPole(EnvBase):
    """``num_envs`` ND cart-poles with auto-reset, as a TorchRL environment.

    Keys: ``observation [num_envs, 4 * n_dims]``, ``action [num_envs]`` (int64 in ``[0, 2N)``),
    ``("next", "reward") [num_envs, 1]``, ``done``/``terminated``/``truncated [num_envs, 1]``,
    ``step_count [num_envs, 1]``. The physical state is the public ``state`` tensor
    (``[num_envs, n_dims, 4]``, stepped in place); write into it (``env.state[i] = ...``) to start
    from chosen states.

    Keyword Args:
        num_envs: number of independent environments (the batch size).
        n_dims: number of cart-pole axes N.
        device: torch device the state lives and is stepped on.
        dtype: float dtype of the integration (float32 is within 1e-5 per step of float64).
        seed: seed of the env's own generator (initial states).
        compile_physics: fuse the physics into one kernel with ``torch.compile`` (the first step
            then pays a one-off compilation). For devices where every eager operation is a kernel
            launch; on CPU the default eager step is faster (``benchmarks/bench_env_throughput.py``).

    Examples:
        >>> env = BatchedNDCartPole(num_envs=8, n_dims=2, seed=0)
        >>> td = env.rollout(3)
        >>> tuple(td["observation"].shape)
        (8, 3, 8)
    """

    def __init__(
        self,
        *,
        num_envs: int = 1,
        n_dims: int = 1,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
        seed: int | None = None,
        compile_physics: bool = False,
    ):
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise InvalidInputError(f"num_envs must be a positive int, got {num_envs!r}")
        self.n_dims = validate_n_dims(n_dims)
        self.num_envs = num_envs
        device = torch.device(device if device is not None else "cpu")
        super().__init__(batch_size=torch.Size([num_envs]), device=device)
        self.physics = PHYSICS
        # Plain attributes for the hot path (EnvBase's `device` and `batch_size` are Python properties).
        self._hot_device, self._batch_shape = self.device, self.batch_size
        self.state_dtype = dtype
        obs_dim = 4 * self.n_dims
        self.observation_spec = Composite(
            observation=Unbounded((num_envs, obs_dim), dtype=torch.float32, device=device),
            step_count=Unbounded((num_envs, 1), dtype=torch.int64, device=device),
            shape=(num_envs,),
            device=device,
        )
        self.action_spec = Categorical(2 * self.n_dims, shape=(num_envs,), device=device)
        self.reward_spec = Unbounded((num_envs, 1), dtype=torch.float32, device=device)
        flag = lambda: Categorical(2, (num_envs, 1), dtype=torch.bool, device=device)
        self.done_spec = Composite(
            done=flag(), terminated=flag(), truncated=flag(), shape=(num_envs,), device=device
        )
        self.state = torch.zeros(num_envs, self.n_dims, 4, dtype=dtype, device=device)
        self.step_count = torch.zeros(num_envs, 1, dtype=torch.int64, device=device)
        # numpy on CPU (the same bits, fewer microseconds per call); torch elsewhere and for dtypes
        # numpy lacks (bfloat16).
        if device.type != "cpu" or dtype not in (torch.float32, torch.float64):
            self._stepper: _TorchStep | _NumpyStep = _TorchStep(
                num_envs, self.n_dims, dtype=dtype, device=device
            )
        else:
            self._stepper = _NumpyStep(num_envs, self.n_dims, dtype=dtype)
        self._kernel = (
            torch.compile(_fused_advance_kernel, dynamic=False) if compile_physics else _advance_kernel
        )
        self._flat_of: torch.Tensor | None = None  # the state whose [num_envs, 4N] view is cached
        self._generator = torch.Generator(device=device)
        self._generator.manual_seed(
            int(torch.empty((), dtype=torch.int64).random_().item()) if seed is None else seed
        )

    # -- TorchRL hooks -------------------------------------------------------------------------
    def _set_seed(self, seed: int | None) -> None:
        if seed is not None:
            self._generator.manual_seed(seed)

    def _reset_rows(self, rows: torch.Tensor | None) -> None:
        """Draw fresh initial states for the envs ``rows`` (sorted indices; ``None``: all), in env order."""
        n = self.num_envs if rows is None else rows.numel()
        if n:
            noise = torch.rand(
                n, self.n_dims, 4, generator=self._generator, dtype=self.state_dtype, device=self._hot_device
            )
            self._stepper.reset_rows(self.state, self.step_count, rows, noise)

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDictBase:
        mask = None if tensordict is None else tensordict.get("_reset", None)
        self._reset_rows(None if mask is None else mask.reshape(self.num_envs).nonzero().view(-1))
        return self._root(self._observation(), self.step_count.clone())

    def _advance(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Integrate one step in place; return ``terminated``, ``truncated``, ``done`` ([num_envs, 1])."""
        return self._kernel(self.state, self.step_count, action, self._stepper)

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        terminated, truncated, done = self._advance(tensordict.get("action"))
        return self._new_td(
            {
                "observation": self._observation(),
                "step_count": self.step_count.clone(),
                "reward": self._reward(),
                "terminated": terminated,
                "truncated": truncated,
                "done": done,
            }
        )

    def _step_and_maybe_reset(self, tensordict: TensorDictBase) -> tuple[TensorDictBase, TensorDictBase]:
        """Step, then reset finished envs, in one pass (same result as ``EnvBase``'s generic path).

        The generic path re-validates specs and rebuilds tensordicts for the partial reset; at
        4,096 envs that bookkeeping costs several times the physics itself (``benchmarks/``). Here
        the two output tensordicts are built once, from tensors made for them.
        """
        if tensordict.device != self._hot_device:
            tensordict = tensordict.to(self._hot_device)
        terminated, truncated, done = self._advance(tensordict.get("action"))
        observation, step_count = self._observation(), self.step_count.clone()
        next_td = self._new_td(
            {
                "observation": observation,
                "step_count": step_count,
                "reward": self._reward(),
                "done": done,
                "terminated": terminated,
                "truncated": truncated,
            }
        )
        # What EnvBase.step does, without re-validating what was built here (TorchRL's step_mdp sets
        # its outputs the same way).
        tensordict._set_str("next", next_td, validated=True, inplace=False)
        # Keys the policy wrote (logits, log-probs, ...) carry over, as in EnvBase.step_mdp ...
        carried = {key: value for key, value in tensordict.items() if key != "next" and key not in _ENV_KEYS}
        rows = self._stepper.finished(done)
        if not rows.numel():
            # Nothing finished: the next root is the "next" entry without the reward.
            carried.update(
                observation=observation,
                step_count=step_count,
                done=done,
                terminated=terminated,
                truncated=truncated,
            )
            return tensordict, self._new_td(carried)
        self._reset_rows(rows)

        # ... and, as in EnvBase.maybe_reset, are zeroed in the envs that were reset.
        def zero_reset(value: torch.Tensor) -> torch.Tensor:
            return value.index_fill(0, rows, 0)

        for key, value in carried.items():
            carried[key] = zero_reset(value) if isinstance(value, torch.Tensor) else value.apply(zero_reset)
        return tensordict, self._root(self._observation(), self.step_count.clone(), carried)

    def _reward(self) -> torch.Tensor:
        return torch.ones(self.num_envs, 1, dtype=torch.float32, device=self._hot_device)

    def _observation(self) -> torch.Tensor:
        # A copy: the state is stepped and reset in place, and an emitted observation must not change.
        state = self.state
        if state is not self._flat_of:  # the view is made once (again if `state` is reassigned)
            self._flat_of = state
            self._flat = state.view(self.num_envs, -1) if state.is_contiguous() else None
        flat = self._flat if self._flat is not None else state.reshape(self.num_envs, -1)
        return flat.clone() if flat.dtype == torch.float32 else flat.to(torch.float32)

    def _new_td(self, entries: dict) -> TensorDictBase:
        # Hot path: the entries are built here with the right shapes, so skip re-validation.
        return TensorDict._new_unsafe(entries, batch_size=self._batch_shape, device=self._hot_device)

    def _root(
        self, observation: torch.Tensor, step_count: torch.Tensor, carried: dict | None = None
    ) -> TensorDictBase:
        """The root of a freshly reset step: ``carried`` entries, then the env's, no env done."""
        done, terminated, truncated = self._stepper.not_done(self.num_envs, self._hot_device)
        entries = {"observation": observation, "step_count": step_count}
        entries.update(done=done, terminated=terminated, truncated=truncated)
        return self._new_td({**carried, **entries} if carried else entries)
