"""Outer objectives of distillation."""

from taskdistill_rl.objectives.ppmo import PPMOLoss

__all__ = ["PPMOLoss"]
