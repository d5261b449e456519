"""Baselines the paper compares against: a uniform-random agent and direct-RL PPO (stable-baselines3)."""

from taskdistill_rl.baselines.random_agent import random_agent_returns

__all__ = ["random_agent_returns"]
