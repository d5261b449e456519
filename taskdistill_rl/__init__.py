"""taskdistill_rl: distil a reinforcement-learning environment into one tiny batch of data."""

from taskdistill_rl.envs import BatchedNDCartPole, NDCartPoleEnv, make_env
from taskdistill_rl.envs.factory import register_envs
from taskdistill_rl.errors import TaskDistillError, UnknownEnvError

__version__ = "0.1.0"

register_envs()

__all__ = [
    "BatchedNDCartPole",
    "NDCartPoleEnv",
    "TaskDistillError",
    "UnknownEnvError",
    "__version__",
    "make_env",
]
