"""Batched ND cart-pole in torch: thousands of environments stepped as one TorchRL ``EnvBase``.

This is what distillation and evaluation step. Same physics as :class:`NDCartPoleEnv`
(``envs/physics.py``), integrated in ``dtype`` (float32 by default, float64 on request).
"""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Categorical, Composite, Unbounded
from torchrl.envs import EnvBase

from taskdistill_rl.envs.physics import PHYSICS, euler_step, validate_n_dims
from taskdistill_rl.errors import InvalidInputError

_ENV_KEYS = ("observation", "step_count", "done", "terminated", "truncated")


def _advance_kernel(
    state: torch.Tensor, step_count: torch.Tensor, action: torch.Tensor, force_table: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pure step function (``torch.compile``-able): new state, step count, terminated, truncated."""
    force = force_table[action]  # [num_envs, N]
    x, x_dot, theta, theta_dot = euler_step(
        state[..., 0], state[..., 1], state[..., 2], state[..., 3], force, sin=torch.sin, cos=torch.cos
    )
    failed = (x.abs() > PHYSICS.x_threshold) | (theta.abs() > PHYSICS.theta_threshold_radians)
    step_count = step_count + 1
    return (
        torch.stack((x, x_dot, theta, theta_dot), dim=-1),
        step_count,
        failed.any(-1, keepdim=True),
        step_count >= PHYSICS.max_episode_steps,
    )


class BatchedNDCartPole(EnvBase):
    """``num_envs`` ND cart-poles with auto-reset, as a TorchRL environment.

    Keys: ``observation [num_envs, 4 * n_dims]``, ``action [num_envs]`` (int64 in ``[0, 2N)``),
    ``("next", "reward") [num_envs, 1]``, ``done``/``terminated``/``truncated [num_envs, 1]``,
    ``step_count [num_envs, 1]``. The physical state is the public ``state`` tensor
    (``[num_envs, n_dims, 4]``); assign to it to start from chosen states.

    Keyword Args:
        num_envs: number of independent environments (the batch size).
        n_dims: number of cart-pole axes N.
        device: torch device the state lives and is stepped on.
        dtype: float dtype of the integration (float32 is within 1e-5 per step of float64).
        seed: seed of the env's own generator (initial states).
        compile_physics: fuse the physics into one kernel with ``torch.compile`` (about 3x faster per
            step at thousands of envs; the first step then pays a one-off compilation).

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
        self._kernel = torch.compile(_advance_kernel, dynamic=False) if compile_physics else _advance_kernel
        self._generator = torch.Generator(device=device)
        self._generator.manual_seed(
            int(torch.empty((), dtype=torch.int64).random_().item()) if seed is None else seed
        )
        # Per-action force table: row a = force vector of action a ([2N, N]).
        self._force_table = torch.zeros(2 * self.n_dims, self.n_dims, dtype=dtype, device=device)
        axes = torch.arange(2 * self.n_dims, device=device) // 2
        signs = (torch.arange(2 * self.n_dims, device=device) % 2).to(dtype) * 2 - 1
        self._force_table[torch.arange(2 * self.n_dims, device=device), axes] = signs * PHYSICS.force_mag

    # -- TorchRL hooks -------------------------------------------------------------------------
    def _set_seed(self, seed: int | None) -> None:
        if seed is not None:
            self._generator.manual_seed(seed)

    def _reset_where(self, mask: torch.Tensor) -> None:
        """Draw fresh initial states for the envs in ``mask`` (``[num_envs]`` bool), in env order."""
        n = int(mask.sum())
        if n:
            bound = self.physics.reset_bound
            u = torch.rand(
                n, self.n_dims, 4, generator=self._generator, dtype=self.state_dtype, device=self.device
            )
            self.state[mask] = u * (2 * bound) - bound
            self.step_count[mask] = 0

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDictBase:
        mask = None if tensordict is None else tensordict.get("_reset", None)
        if mask is None:
            mask = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        self._reset_where(mask.reshape(self.num_envs))
        return self._output(reset=True)

    def _advance(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Integrate one step in place; return ``terminated``, ``truncated``, ``done`` ([num_envs, 1])."""
        self.state, self.step_count, terminated, truncated = self._kernel(
            self.state, self.step_count, action.reshape(self.num_envs), self._force_table
        )
        return terminated, truncated, terminated | truncated

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        terminated, truncated, done = self._advance(tensordict.get("action"))
        out = self._output(reset=False)
        out.update({"reward": self._reward(), "terminated": terminated, "truncated": truncated, "done": done})
        return out

    def _step_and_maybe_reset(self, tensordict: TensorDictBase) -> tuple[TensorDictBase, TensorDictBase]:
        """Step, then reset finished envs, in one pass (same result as ``EnvBase``'s generic path).

        The generic path re-validates specs and rebuilds tensordicts for the partial reset; at
        4,096 envs that bookkeeping costs several times the physics itself (``benchmarks/``).
        """
        if tensordict.device != self.device:
            tensordict = tensordict.to(self.device)
        terminated, truncated, done = self._advance(tensordict.get("action"))
        next_td = self._new_td(
            observation=self._observation(),
            step_count=self.step_count.clone(),
            reward=self._reward(),
            done=done,
            terminated=terminated,
            truncated=truncated,
        )
        tensordict.set("next", next_td)
        # Keys the policy wrote (logits, log-probs, ...) carry over, as in EnvBase.step_mdp ...
        carried = tensordict.exclude("next", *_ENV_KEYS)
        if done.any():
            mask = done.reshape(self.num_envs)
            self._reset_where(mask)
            root = self._output(reset=True)
            # ... and, as in EnvBase.maybe_reset, are zeroed in the envs that were reset.
            carried = carried.apply(lambda t: t.masked_fill(mask.view(-1, *[1] * (t.dim() - 1)), 0))
        else:
            # Nothing finished: the next root is the "next" entry without the reward.
            root = next_td.exclude("reward")
        return tensordict, carried.update(root)

    def _reward(self) -> torch.Tensor:
        return torch.ones(self.num_envs, 1, dtype=torch.float32, device=self.device)

    def _observation(self) -> torch.Tensor:
        # A copy: a later in-place reset of self.state must not change an emitted observation.
        return self.state.reshape(self.num_envs, 4 * self.n_dims).to(torch.float32, copy=True)

    def _new_td(self, **entries: torch.Tensor) -> TensorDictBase:
        # Hot path: the entries are built here with the right shapes, so skip re-validation.
        return TensorDict._new_unsafe(entries, batch_size=self.batch_size, device=self.device)

    def _output(self, *, reset: bool) -> TensorDictBase:
        entries = {"observation": self._observation(), "step_count": self.step_count.clone()}
        if reset:
            zeros = torch.zeros(3, self.num_envs, 1, dtype=torch.bool, device=self.device)
            entries.update(done=zeros[0], terminated=zeros[1], truncated=zeros[2])
        return self._new_td(**entries)
