"""Baselines the paper compares against: a uniform-random agent and direct-RL PPO (stable-baselines3),
and ours: k real states from a PPO teacher's rollouts, labelled with its logits (teacher-states)."""

from taskdistill_rl.baselines.random_agent import random_agent_returns
from taskdistill_rl.baselines.teacher_states import (
    TeacherStatesConfig,
    TeacherStatesRun,
    run_teacher_states,
    run_teacher_states_baseline,
)

__all__ = [
    "TeacherStatesConfig",
    "TeacherStatesRun",
    "random_agent_returns",
    "run_teacher_states",
    "run_teacher_states_baseline",
]
