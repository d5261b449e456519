"""Library errors. The CLI prints any of these as one line and exits with code 1; any other
exception is a bug and keeps its traceback."""

from __future__ import annotations


class TaskDistillError(Exception):
    """Base class of errors that come from user input rather than from a bug."""


class InvalidInputError(TaskDistillError, ValueError):
    """A bad argument, option or value given by the user (also a ``ValueError``)."""


class InvalidInputTypeError(InvalidInputError, TypeError):
    """A user argument of the wrong type or an unexpected keyword (also a ``TypeError``)."""


class UnknownEnvError(TaskDistillError, ValueError):
    """An environment id that neither gymnasium nor taskdistill_rl knows."""


class DistilledFileError(TaskDistillError):
    """A ``.pt`` file that is not a valid distilled dataset (names the file and the problem)."""


class CheckpointError(TaskDistillError):
    """A checkpoint that cannot be resumed from (unreadable, other config, older layout)."""


class DivergenceError(TaskDistillError):
    """Training kept producing non-finite losses or gradients; the last good state was kept."""


class Interrupted(TaskDistillError):
    """SIGINT/SIGTERM stopped a run after a checkpoint was saved (``signum`` names the signal)."""

    def __init__(self, message: str, *, signum: int | None = None):
        super().__init__(message)
        self.signum = signum


class RunDirError(TaskDistillError):
    """An output directory or file that cannot be written: in use by another run, locked by a run
    that was killed, or holding outputs that only ``--resume`` or ``--overwrite`` may touch."""
