"""Outer algorithms: what learns a dataset. ``ALGORITHMS`` maps ``--algo`` names to them.

An algorithm is a subclass of :class:`~taskdistill_rl.algorithms.base.Algorithm`. One of the
package's is named (``--algo ppmo``); one of yours is either registered with
:func:`register_algorithm` in a module you import, or named by its import path, ``--algo
package.module:ClassName`` (imported on every rank of a torchrun world: each parses the same
command line). Nothing else in the tool needs to change to run it: the run loop, callbacks,
checkpoints, evaluation, data parallelism and the run directory know only the interface.
"""

from __future__ import annotations

import importlib
import os
import sys

from taskdistill_rl.errors import InvalidInputError

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
    module_name, _, attr = target.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise InvalidInputError(f"--algo {name}: cannot import {module_name!r} ({err})") from err
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Algorithm)):
        raise InvalidInputError(
            f"--algo {name}: {module_name} has no Algorithm subclass named {attr!r} "
            "(taskdistill_rl.algorithms.base.Algorithm)"
        )
    return cls


__all__ = ["ALGORITHMS", "algorithm_class", "register_algorithm"]
