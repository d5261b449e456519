"""Cart-pole physics shared by the scalar (gymnasium) and batched (torch) ND cart-pole.

The constants and the Euler update are gymnasium ``CartPole-v1``'s, written once so that both
implementations integrate exactly the same expressions in the same order (float64 in the
gymnasium env, float32 or float64 in the batched env).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from taskdistill_rl.errors import InvalidInputError, InvalidInputTypeError

T = TypeVar("T")


@dataclass(frozen=True)
class CartPolePhysics:
    """Physical constants of one cart-pole axis (gymnasium ``CartPoleEnv``'s values)."""

    gravity: float = 9.8  # m/s^2
    masscart: float = 1.0  # kg
    masspole: float = 0.1  # kg
    length: float = 0.5  # m, half the pole's length
    force_mag: float = 10.0  # N, magnitude of a push
    tau: float = 0.02  # seconds between state updates
    theta_threshold_radians: float = 12 * 2 * math.pi / 360  # rad, pole angle at failure
    x_threshold: float = 2.4  # m, cart position at failure
    reset_bound: float = 0.05  # initial state ~ U(-bound, bound) per component
    max_episode_steps: int = 500  # truncation, as CartPole-v1's registration

    @property
    def total_mass(self) -> float:
        return self.masspole + self.masscart

    @property
    def polemass_length(self) -> float:
        return self.masspole * self.length


PHYSICS = CartPolePhysics()


def euler_step(
    x: T,
    x_dot: T,
    theta: T,
    theta_dot: T,
    force: T | float,
    *,
    sin: Callable,
    cos: Callable,
    physics: CartPolePhysics = PHYSICS,
) -> tuple[T, T, T, T]:
    """One explicit-Euler step of the cart-pole equations of motion.

    Works elementwise on numpy float64 scalars or torch tensors (``sin``/``cos`` from the same
    library). The expression order is gymnasium's, which is what makes ``n_dims=1`` bit-exact.
    """
    p = physics
    costheta = cos(theta)
    sintheta = sin(theta)
    temp = (force + p.polemass_length * (theta_dot * theta_dot) * sintheta) / p.total_mass
    thetaacc = (p.gravity * sintheta - costheta * temp) / (
        p.length * (4.0 / 3.0 - p.masspole * (costheta * costheta) / p.total_mass)
    )
    xacc = temp - p.polemass_length * thetaacc * costheta / p.total_mass
    return (
        x + p.tau * x_dot,
        x_dot + p.tau * xacc,
        theta + p.tau * theta_dot,
        theta_dot + p.tau * thetaacc,
    )


def force_table(n_dims: int, physics: CartPolePhysics = PHYSICS) -> list[list[float]]:
    """Row ``a``: the force of action ``a`` on each axis. Axis ``a // 2`` is pushed by ``+force_mag``
    if ``a`` is odd, else ``-force_mag``: the action space of every batched ND cart-pole here."""
    table = [[0.0] * n_dims for _ in range(2 * n_dims)]
    for action in range(2 * n_dims):
        table[action][action // 2] = physics.force_mag if action % 2 else -physics.force_mag
    return table


def axes_failed(x: T, theta: T, physics: CartPolePhysics = PHYSICS) -> T:
    """Which axes end the episode: the cart or the pole beyond its threshold (elementwise; a
    float32 tensor is compared with the float32-rounded threshold)."""
    return (x.abs() > physics.x_threshold) | (theta.abs() > physics.theta_threshold_radians)


def validate_n_dims(n_dims: object) -> int:
    """Return ``n_dims`` if it is a positive int, else raise a clear error."""
    if isinstance(n_dims, bool) or not isinstance(n_dims, numbers.Integral):
        raise InvalidInputTypeError(
            f"n_dims must be a positive int (the number of cart-pole axes), got {n_dims!r} "
            f"of type {type(n_dims).__name__}"
        )
    if n_dims < 1:
        raise InvalidInputError(f"n_dims must be >= 1 (the number of cart-pole axes), got {n_dims}")
    return int(n_dims)
