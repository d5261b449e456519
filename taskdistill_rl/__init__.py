"""taskdistill_rl: distil a reinforcement-learning environment into one tiny batch of data.

Public names are imported on first use (PEP 562), so ``import taskdistill_rl`` needs only
gymnasium and numpy: a spawned gymnasium worker that builds ``NDCartPole-v0`` never imports
torch, torchrl or tensordict (issue 12).
"""

from __future__ import annotations

from taskdistill_rl._lazy import lazy_exports
from taskdistill_rl.envs.registration import register_envs

__version__ = "0.1.0"

# Public name -> the module that defines it; imported on first attribute access.
_EXPORTS: dict[str, str] = {
    "BatchedNDCartPole": "taskdistill_rl.envs.batched",
    "Callback": "taskdistill_rl.callbacks",
    "CheckpointEvery": "taskdistill_rl.callbacks",
    "CheckpointError": "taskdistill_rl.errors",
    "DistillConfig": "taskdistill_rl.config",
    "DistilledDataset": "taskdistill_rl.dataset",
    "DistilledFileError": "taskdistill_rl.errors",
    "Distiller": "taskdistill_rl.distill",
    "DivergenceError": "taskdistill_rl.errors",
    "Interrupted": "taskdistill_rl.errors",
    "InvalidInputError": "taskdistill_rl.errors",
    "InvalidInputTypeError": "taskdistill_rl.errors",
    "LearnerDistribution": "taskdistill_rl.learners",
    "MetricsLogger": "taskdistill_rl.callbacks",
    "NDCartPoleEnv": "taskdistill_rl.envs.ndcartpole",
    "PPMO": "taskdistill_rl.algorithms.ppmo",
    "Algorithm": "taskdistill_rl.algorithms.base",
    "ALGORITHMS": "taskdistill_rl.algorithms",
    "PPMOLoss": "taskdistill_rl.objectives",
    "PeriodicEvaluation": "taskdistill_rl.callbacks",
    "ProgressBar": "taskdistill_rl.callbacks",
    "Rollout": "taskdistill_rl.algorithms.ppmo",
    "RunLoop": "taskdistill_rl.run",
    "StopAfterEpochs": "taskdistill_rl.callbacks",
    "StopAfterSeconds": "taskdistill_rl.callbacks",
    "StopAtReturn": "taskdistill_rl.callbacks",
    "TaskDistillError": "taskdistill_rl.errors",
    "UnknownEnvError": "taskdistill_rl.errors",
    "evaluate_dataset": "taskdistill_rl.evaluate",
    "evaluate_distributions": "taskdistill_rl.evaluate",
    "load_distilled": "taskdistill_rl.dataset",
    "make_actor": "taskdistill_rl.actors",
    "make_critic": "taskdistill_rl.actors",
    "make_env": "taskdistill_rl.envs.factory",
    "make_learners": "taskdistill_rl.learners",
}

__all__ = ["__version__", *_EXPORTS]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

register_envs()
