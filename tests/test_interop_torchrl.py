"""``to_torchrl_actor`` acts in TorchRL envs as users build them (issue 24, item 2): ``GymEnv`` of
MuJoCo (float64 observations), discrete envs with one-hot or categorical actions, ``SerialEnv``."""

from pathlib import Path

import pytest
import torch
from tensordict import TensorDict
from torchrl.envs import GymEnv, SerialEnv
from torchrl.envs.utils import ExplorationType, set_exploration_type

from taskdistill_rl import load_distilled
from taskdistill_rl.errors import InvalidInputError

# InvertedPendulum-v5, k = 64, normalised observations, 4.5 kB; made at 26b7fb1 by
#   taskdistill distill --config results/mujoco/ip-v5-norm/config.toml --epochs 20 --out OUT
# (final evaluation: 20 fresh learners x 10 sampled episodes, all 1000)
IP_FILE = Path(__file__).parent / "data" / "ip_v5_norm.pt"


@pytest.mark.parametrize("categorical", [False, True], ids=["one-hot", "categorical"])
def test_discrete_actor_solves_cartpole_in_either_action_encoding(categorical):
    """The 1D zoo file acts in CartPole-v1 (its 1D env is CartPole-v1), sampling as the paper does."""
    ds = load_distilled("zoo:ndcartpole-1d")
    env = GymEnv("CartPole-v1", categorical_action_encoding=categorical)
    env.set_seed(0)
    actor = ds.to_torchrl_actor(seed=0, env=env)
    lengths = []
    with set_exploration_type(ExplorationType.RANDOM), torch.no_grad():
        for _ in range(3):
            rollout = env.rollout(1000, actor)
            assert env.action_spec.is_in(rollout["action"][0])  # one-hot [2] or an index []
            lengths.append(rollout["next", "reward"].sum().item())
    env.close()
    assert min(lengths) >= 400, lengths


def test_discrete_actor_acts_in_a_serial_env():
    ds = load_distilled("zoo:ndcartpole-1d")
    env = SerialEnv(2, lambda: GymEnv("CartPole-v1"))  # one-hot actions, batch [2]
    env.set_seed(0)
    actor = ds.to_torchrl_actor(seed=0, env=env)
    with torch.no_grad():
        rollout = env.rollout(200, actor)  # stops when either env is done (~13 ms a step)
    env.close()
    assert rollout.shape == (2, 200), rollout.shape  # both poles up for 200 steps
    assert rollout["action"].shape == (2, 200, 2) and rollout["action"].dtype == torch.int64
    assert (rollout["action"].sum(-1) == 1).all()


def test_discrete_actor_without_the_envs_encoding_is_refused():
    """An integer action in a one-hot env is read as action 0, silently (9-step episodes)."""
    ds = load_distilled("zoo:ndcartpole-1d")
    with pytest.raises(InvalidInputError, match="categorical_action_encoding=True"):
        ds.to_torchrl_actor(seed=0)
    env = GymEnv("Pendulum-v1")  # 3 observations, continuous actions
    with pytest.raises(InvalidInputError, match=r"observes \(3,\) but the dataset's observations are \(4,\)"):
        ds.to_torchrl_actor(seed=0, env=env)
    env.close()


def test_continuous_actor_runs_a_plain_mujoco_gymenv():
    """Float64 MuJoCo observations, no DoubleToFloat; actions in the spec's dtype; a good return."""
    pytest.importorskip("mujoco")
    ds = load_distilled(IP_FILE)  # InvertedPendulum-v5, normalised observations
    env = GymEnv("InvertedPendulum-v5")
    env.set_seed(0)
    assert env.observation_spec["observation"].dtype == torch.float64
    actor = ds.to_torchrl_actor(seed=0)
    with torch.no_grad():
        rollout = env.rollout(1000, actor)
    env.close()
    assert rollout["action"].shape == (rollout.shape[0], 1)
    assert rollout["action"].dtype == env.action_spec.dtype
    assert rollout["next", "reward"].sum().item() >= 900, rollout.shape
    obs = rollout["observation"][:5]
    learner = ds.fit(ds.make_learner(0))
    torch.testing.assert_close(rollout["loc"][:5], learner(ds.normalize(obs.float())))

    float64_spec = env.action_spec.clone().to(torch.float64)
    out = ds.to_torchrl_actor(seed=0, action_spec=float64_spec)(TensorDict(observation=obs, batch_size=[5]))
    assert out["action"].dtype == torch.float64 and out["action_log_prob"].shape == (5,)
