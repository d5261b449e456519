"""Outer algorithms: what learns a dataset. ``ALGORITHMS`` maps ``--algo`` names to them.

An algorithm is a subclass of :class:`~taskdistill_rl.algorithms.base.Algorithm`. One of the
package's is named (``--algo ppmo``); one of yours is either registered with
:func:`register_algorithm` in a module you import, or named by its import path, ``--algo
package.module:ClassName`` (imported on every rank of a torchrun world: each parses the same
command line). Nothing else in the tool needs to change to run it: the run loop, callbacks,
checkpoints, evaluation, data parallelism and the run directory know only the interface.
"""

from __future__ import annotations

from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.plugins import import_named

# name -> "module:Class", imported on first use (a CLI run that needs PPMO alone imports PPMO alone)
ALGORITHMS: dict[str, str | type] = {"ppmo": "taskdistill_rl.algorithms.ppmo:PPMO"}


def register_algorithm(name: str):
    """Class decorator: ``--algo NAME`` and ``Distiller(algo=NAME)`` run the class."""

    def register(cls: type) -> type:
        ALGORITHMS[name] = cls
        return cls

    return register


def algorithm_class(name: str) -> type:
    """The class ``name`` stands for: a key of ``ALGORITHMS`` or ``module.path:ClassName``.
    A module path is imported from the working directory too (as ``python -m`` would), so
    ``--algo examples.own_algorithm:RandomSearch`` works from a project's root."""
    from taskdistill_rl.algorithms.base import Algorithm

    target = ALGORITHMS.get(name, name)
    if isinstance(target, type):
        return target
    if ":" not in target:
        raise InvalidInputError(
            f"unknown algorithm {name!r}: expected one of {sorted(ALGORITHMS)} or module.path:ClassName"
        )
    return import_named(
        target,
        lambda cls: isinstance(cls, type) and issubclass(cls, Algorithm),
        option="--algo",
        expected="Algorithm subclass",
        where="taskdistill_rl.algorithms.base.Algorithm",
    )


__all__ = ["ALGORITHMS", "algorithm_class", "register_algorithm"]
