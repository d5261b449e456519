"""Environments: ND cart-pole (gymnasium and batched torch) and :func:`make_env` for any id.

Names are imported on first use (PEP 562): gymnasium's string entry point
``taskdistill_rl.envs.ndcartpole:NDCartPoleEnv`` imports this package, and building the
gymnasium env must not import torch (issue 12).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and the API docs (mkdocstrings); runtime imports are lazy
    from taskdistill_rl.envs.batched import BatchedNDCartPole
    from taskdistill_rl.envs.factory import make_env
    from taskdistill_rl.envs.ndcartpole import NDCartPoleEnv
    from taskdistill_rl.envs.physics import PHYSICS, CartPolePhysics
    from taskdistill_rl.envs.registration import NDCARTPOLE_ID, register_envs

# Public name -> the module that defines it; imported on first attribute access.
_EXPORTS: dict[str, str] = {
    "NDCARTPOLE_ID": "taskdistill_rl.envs.registration",
    "PHYSICS": "taskdistill_rl.envs.physics",
    "BatchedNDCartPole": "taskdistill_rl.envs.batched",
    "CartPolePhysics": "taskdistill_rl.envs.physics",
    "NDCartPoleEnv": "taskdistill_rl.envs.ndcartpole",
    "make_env": "taskdistill_rl.envs.factory",
    "register_envs": "taskdistill_rl.envs.registration",
}

__all__ = [  # literal, for linters and the docs; tests/test_package.py checks it equals _EXPORTS
    "NDCARTPOLE_ID",
    "PHYSICS",
    "BatchedNDCartPole",
    "CartPolePhysics",
    "NDCartPoleEnv",
    "make_env",
    "register_envs",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
