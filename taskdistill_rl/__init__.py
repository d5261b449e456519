"""taskdistill_rl: distil a reinforcement-learning environment into one tiny batch of data."""

from taskdistill_rl.config import DistillConfig
from taskdistill_rl.dataset import DistilledDataset, DistilledFileError, load_distilled
from taskdistill_rl.distill import Callback, Distiller
from taskdistill_rl.envs import BatchedNDCartPole, NDCartPoleEnv, make_env
from taskdistill_rl.envs.factory import register_envs
from taskdistill_rl.errors import TaskDistillError, UnknownEnvError
from taskdistill_rl.objectives import PPMOLoss

__version__ = "0.1.0"

register_envs()

__all__ = [
    "BatchedNDCartPole",
    "Callback",
    "DistillConfig",
    "DistilledDataset",
    "DistilledFileError",
    "Distiller",
    "NDCartPoleEnv",
    "PPMOLoss",
    "TaskDistillError",
    "UnknownEnvError",
    "__version__",
    "load_distilled",
    "make_env",
]
