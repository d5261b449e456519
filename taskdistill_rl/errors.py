"""Library errors. The CLI prints any of these as one line and exits with code 1."""

from __future__ import annotations


class TaskDistillError(Exception):
    """Base class of errors that come from user input rather than from a bug."""


class UnknownEnvError(TaskDistillError, ValueError):
    """An environment id that neither gymnasium nor taskdistill_rl knows."""


class DivergenceError(TaskDistillError):
    """Training kept producing non-finite losses or gradients; the last good state was kept."""


class Interrupted(TaskDistillError):
    """SIGINT/SIGTERM stopped a run after a checkpoint was saved."""
