"""A model fitted by ``fit_sb3`` from a file with normalised observations keeps acting as fitted
through what SB3 users do (issue 24, item 3): ``evaluate_policy`` on a raw ``gym.make`` env,
``model.save`` / ``PPO.load``, ``model.learn``. The normalisation lives inside the policy."""

from pathlib import Path

import gymnasium as gym
import pytest
import torch

from taskdistill_rl import load_distilled
from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.errors import InvalidInputError

pytest.importorskip("stable_baselines3")
pytest.importorskip("mujoco")

ENV_ID = "InvertedPendulum-v5"  # observations (4,), actions Box(-3, 3, (1,))
IP_FILE = Path(__file__).parent / "data" / "ip_v5_norm.pt"  # see tests/test_interop_torchrl.py


def _model(**kwargs):
    from stable_baselines3 import PPO

    return PPO("MlpPolicy", ENV_ID, seed=0, device="cpu", **kwargs)


def _evaluate_raw(model, episodes: int = 3) -> float:
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor

    env = Monitor(gym.make(ENV_ID))  # raw observations (Monitor only counts returns)
    env.reset(seed=123)
    mean, _ = evaluate_policy(model, env, n_eval_episodes=episodes, deterministic=False)
    env.close()
    return mean


def _normalised_file() -> DistilledDataset:
    """A random file whose statistics move every observation, and clip some (|z| > 10)."""
    generator = torch.Generator().manual_seed(0)
    ds = DistilledDataset(
        k=8, obs_shape=(4,), out_features=1, continuous=True, normalize_obs=True, generator=generator
    )
    with torch.no_grad():
        ds.log_std.fill_(-0.5)
        ds.obs_mean.copy_(torch.tensor([0.5, -0.2, 1.0, 0.0]))
        ds.obs_var.copy_(torch.tensor([0.01, 4.0, 0.25, 0.04]))
        ds.label.mul_(5)
        ds.log_inner_lr.fill_(torch.tensor(0.1).log())
    return ds


def _actor_copy(policy) -> torch.nn.Sequential:
    """SB3's actor path (FlattenExtractor, policy_net, action_net) as a plain module for ``ds.fit``."""
    import copy

    return copy.deepcopy(torch.nn.Sequential(*policy.mlp_extractor.policy_net, policy.action_net))


@pytest.mark.parametrize("share", [True, False], ids=["shared-extractor", "own-extractors"])
def test_sb3_policy_on_raw_observations_equals_the_fitted_learner(share, tmp_path):
    """Same action distribution as the library's one step on the same network, before and after
    ``save`` / ``load``, on raw observations, clipping included."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.policies import ActorCriticPolicy

    ds = _normalised_file()
    model = _model(policy_kwargs={"share_features_extractor": share})
    reference = ds.fit(_actor_copy(model.policy))
    ds.fit_sb3(model)
    obs = torch.tensor([[0.5, -0.2, 1.0, 0.0], [0.7, 3.0, -2.0, 0.5], [2.0, 0.0, 0.0, -3.0]])
    z = ds.normalize(obs)
    assert (z - obs).abs().max() > 1 and z.abs().max() == 10  # skipping it, or its clip, would show
    expected = reference(z).detach()

    def check(policy):
        with torch.no_grad():
            dist = policy.get_distribution(obs).distribution
        torch.testing.assert_close(dist.mean, expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(dist.stddev, ds.log_std.detach().exp().expand(3, 1))

    check(model.policy)
    model.save(tmp_path / "model.zip")
    check(PPO.load(tmp_path / "model.zip", device="cpu").policy)
    model.policy.save(tmp_path / "policy.pt")
    check(ActorCriticPolicy.load(tmp_path / "policy.pt", device="cpu"))


def test_evaluate_policy_on_a_fresh_raw_env():
    model = _model()
    load_distilled(IP_FILE).fit_sb3(model)
    assert _evaluate_raw(model) >= 900


def test_saved_and_loaded_model_on_a_raw_env(tmp_path):
    from stable_baselines3 import PPO

    model = _model()
    load_distilled(IP_FILE).fit_sb3(model)
    model.save(tmp_path / "ip.zip")
    assert _evaluate_raw(PPO.load(tmp_path / "ip.zip", device="cpu")) >= 900


def test_learn_after_fitting_starts_from_the_fitted_policy():
    """PPO updates from the fitted behaviour on the model's raw env, and still acts on raw obs."""
    model = _model(n_steps=256, batch_size=64, n_epochs=1)
    load_distilled(IP_FILE).fit_sb3(model)
    model.learn(256)
    assert model.num_timesteps == 256
    assert _evaluate_raw(model, episodes=2) >= 900


def test_a_model_on_an_observation_normalising_env_is_refused():
    """The policy normalises by itself; a VecNormalize would normalise a second time."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    ds = load_distilled(IP_FILE)
    model = PPO("MlpPolicy", VecNormalize(make_vec_env(ENV_ID)), device="cpu")
    with pytest.raises(InvalidInputError, match=r"VecNormalize\(env, norm_obs=False\)"):
        ds.fit_sb3(model)
    ds.fit_sb3(PPO("MlpPolicy", VecNormalize(make_vec_env(ENV_ID), norm_obs=False), device="cpu"))
