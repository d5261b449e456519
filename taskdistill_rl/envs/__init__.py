"""Environments: ND cart-pole (gymnasium and batched torch) and :func:`make_env` for any id."""

from taskdistill_rl.envs.batched import BatchedNDCartPole
from taskdistill_rl.envs.factory import make_env
from taskdistill_rl.envs.ndcartpole import NDCartPoleEnv
from taskdistill_rl.envs.physics import PHYSICS, CartPolePhysics

__all__ = ["PHYSICS", "BatchedNDCartPole", "CartPolePhysics", "NDCartPoleEnv", "make_env"]
