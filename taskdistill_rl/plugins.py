"""Your own code by name: ``module.path:NAME`` on the command line (``--algo``, ``--env-family``)
imports ``module.path`` (from the working directory too, as ``python -m`` would, so a project's
own modules work from its root) and takes its ``NAME``."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from taskdistill_rl.errors import InvalidInputError


def import_named(
    spec: str, accepts: Callable[[Any], bool], *, option: str, expected: str, where: str = ""
) -> Any:
    """The object ``spec`` (``module.path:NAME``) names, if ``accepts`` it.

    Raises:
        InvalidInputError: ``spec`` is not of that form, the module does not import, or it has no
            such name or the name is not ``expected``.
    """
    module_name, _, attr = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    if not module_name or not attr:
        raise InvalidInputError(f"{option} {spec}: expected module.path:NAME")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise InvalidInputError(f"{option} {spec}: cannot import {module_name!r} ({err})") from err
    value = getattr(module, attr, None)
    if not accepts(value):
        hint = f" ({where})" if where else ""
        raise InvalidInputError(f"{option} {spec}: {module_name} has no {expected} named {attr!r}{hint}")
    return value
