"""Baselines the paper compares against: a uniform-random agent and direct-RL PPO (stable-baselines3),
and ours: k real states from a PPO teacher's rollouts, labelled with its logits (teacher-states)."""

from taskdistill_rl.baselines.random_agent import random_agent_returns
from taskdistill_rl.baselines.teacher_states import TeacherStatesConfig, run_teacher_states

__all__ = ["TeacherStatesConfig", "random_agent_returns", "run_teacher_states"]
