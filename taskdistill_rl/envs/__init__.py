"""Environments: ND cart-pole (gymnasium and batched torch), the env families, and :func:`make_env`
for any id.

Names are imported on first use (PEP 562): gymnasium's string entry point
``taskdistill_rl.envs.ndcartpole:NDCartPoleEnv`` imports this package, and building the
gymnasium env must not import torch (issue 12).
"""

from __future__ import annotations

from taskdistill_rl._lazy import lazy_exports

# Public name -> the module that defines it; imported on first attribute access.
_EXPORTS: dict[str, str] = {
    "NDCARTPOLE_ID": "taskdistill_rl.envs.registration",
    "PHYSICS": "taskdistill_rl.envs.physics",
    "BatchedNDCartPole": "taskdistill_rl.envs.batched",
    "CartPolePhysics": "taskdistill_rl.envs.physics",
    "EnvFamily": "taskdistill_rl.envs.families",
    "family_of": "taskdistill_rl.envs.families",
    "register_family": "taskdistill_rl.envs.families",
    "NDCartPoleEnv": "taskdistill_rl.envs.ndcartpole",
    "make_env": "taskdistill_rl.envs.factory",
    "register_envs": "taskdistill_rl.envs.registration",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
