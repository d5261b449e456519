"""Baselines the paper compares against: a uniform-random agent (and, later, direct-RL PPO)."""

from taskdistill_rl.baselines.random_agent import random_agent_returns

__all__ = ["random_agent_returns"]
