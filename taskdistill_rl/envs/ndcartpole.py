"""``NDCartPole-v0``: the paper's N-dimensional cart-pole as a gymnasium environment."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import logger, spaces
from gymnasium.envs.classic_control import utils

from taskdistill_rl.envs.physics import PHYSICS, euler_step, validate_n_dims
from taskdistill_rl.errors import InvalidInputError


class NDCartPoleEnv(gym.Env[np.ndarray, int]):
    """N independent cart-poles driven by one push per step (paper appendix B).

    ## Description
    The cart and pole have ``n_dims`` degrees of freedom. Each step the agent pushes the cart
    along exactly one axis; the other axes get no force. With ``n_dims=1`` this is gymnasium's
    ``CartPole-v1``, bit for bit (same seeds, same observations, rewards and episode ends).

    ## Action Space
    ``Discrete(2 * n_dims)``: action ``a`` pushes axis ``a // 2`` with force ``+10 N`` if
    ``a % 2 == 1`` else ``-10 N``.

    ## Observation Space
    ``Box(shape=(4 * n_dims,), float32)``: the N quadruples ``[x_i, x_dot_i, theta_i, theta_dot_i]``
    concatenated, with CartPole-v1's bounds per quadruple.

    ## Rewards
    ``+1`` for every step, including the step on which the episode terminates (as CartPole-v1).

    ## Starting State
    Every state component ~ ``U(-0.05, 0.05)``, drawn from the env's ``np_random`` in axis order.

    ## Episode End
    Terminates when **any** axis fails (``|x_i| > 2.4`` or ``|theta_i| > 12 deg``); truncates
    after 500 steps (the ``TimeLimit`` from the registration, as CartPole-v1).

    ## Arguments
    ``gymnasium.make("NDCartPole-v0", n_dims=2, render_mode="rgb_array")``. ``n_dims`` (default 1)
    is the number of axes. ``reset(options={"low": .., "high": ..})`` changes the start bounds.

    ## Version History
    * v0: initial version (physics, thresholds and truncation of CartPole-v1).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}  # noqa: RUF012  (gymnasium API)

    def __init__(self, n_dims: int = 1, render_mode: str | None = None):
        self.n_dims = validate_n_dims(n_dims)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise InvalidInputError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}"
            )
        self.render_mode = render_mode
        self.physics = PHYSICS
        self.x_threshold = PHYSICS.x_threshold
        self.theta_threshold_radians = PHYSICS.theta_threshold_radians
        high = np.array(
            [self.x_threshold * 2, np.inf, self.theta_threshold_radians * 2, np.inf] * self.n_dims,
            dtype=np.float32,
        )
        self.action_space = spaces.Discrete(2 * self.n_dims)
        self.observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.state: np.ndarray | None = None  # [n_dims, 4] float64
        self.steps_beyond_terminated: int | None = None
        self._renderer = None

    def step(self, action: int):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an int in [0, {2 * self.n_dims}), got {action!r}")
        if self.state is None:
            raise RuntimeError("Call reset before using step.")
        axis, push = divmod(int(action), 2)
        new_state = np.empty_like(self.state)
        for i in range(self.n_dims):
            # Unpacking yields numpy float64 scalars, exactly as CartPoleEnv.step does.
            x, x_dot, theta, theta_dot = self.state[i]
            force = (self.physics.force_mag if push == 1 else -self.physics.force_mag) if i == axis else 0.0
            new_state[i] = euler_step(x, x_dot, theta, theta_dot, force, sin=np.sin, cos=np.cos)
        self.state = new_state
        x, theta = new_state[:, 0], new_state[:, 2]
        terminated = bool(
            np.any(x < -self.x_threshold)
            or np.any(x > self.x_threshold)
            or np.any(theta < -self.theta_threshold_radians)
            or np.any(theta > self.theta_threshold_radians)
        )
        if not terminated:
            reward = 1.0
        elif self.steps_beyond_terminated is None:
            self.steps_beyond_terminated = 0
            reward = 1.0
        else:
            if self.steps_beyond_terminated == 0:
                logger.warn(
                    "You are calling 'step()' even though this environment has already returned "
                    "terminated = True. Call 'reset()' first; further steps are undefined behaviour."
                )
            self.steps_beyond_terminated += 1
            reward = 0.0
        return self._observation(), reward, terminated, False, {}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        bound = self.physics.reset_bound
        low, high = utils.maybe_parse_reset_bounds(options, -bound, bound)
        # size (n_dims, 4) draws the same stream as CartPole-v1's size (4,) when n_dims == 1.
        self.state = self.np_random.uniform(low=low, high=high, size=(self.n_dims, 4))
        self.steps_beyond_terminated = None
        return self._observation(), {}

    def _observation(self) -> np.ndarray:
        return np.array(self.state.reshape(-1), dtype=np.float32)

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            logger.warn("render() called without a render_mode; pass render_mode='rgb_array' to make().")
            return None
        if self.state is None:
            raise RuntimeError("Call reset before rendering.")
        from taskdistill_rl.envs.render import render_ndcartpole

        return render_ndcartpole(
            self.state, x_threshold=self.x_threshold, pole_length=2 * self.physics.length
        )

    def close(self) -> None:
        self.state = None
