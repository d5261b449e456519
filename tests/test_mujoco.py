"""Continuous control: a tiny Hopper-v5 distillation, log-std meta-gradient, frozen normalisation."""

import numpy as np
import pytest
import torch

from taskdistill_rl import load_distilled
from taskdistill_rl.distill import Distiller
from taskdistill_rl.evaluate import evaluate_dataset

pytest.importorskip("mujoco")


@pytest.fixture(scope="module")
def hopper(tmp_path_factory):
    """Two meta-epochs of Hopper-v5 on 4 envs x 16 steps: a valid (if useless) file."""
    out = tmp_path_factory.mktemp("hopper")
    d = Distiller("Hopper-v5", num_envs=4, steps_per_env=16, quiet=True, out_dir=out, final_learners=2)
    d.train(epochs=2)
    return d, load_distilled(out / "distilled.pt")


def test_tiny_hopper_run_writes_a_file_with_log_std_and_normalisation(hopper):
    d, ds = hopper
    assert ds.k == 64 and ds.continuous and ds.obs_shape == (11,) and ds.log_std.shape == (3,)
    assert ds.obs_norm is not None and ds.obs_norm["mean"].shape == (11,)
    assert not torch.equal(ds.obs_norm["var"], torch.ones(11))  # updated from 2 x 64 observed frames
    torch.testing.assert_close(ds.obs_norm["mean"], d.dataset.obs_mean.float(), rtol=0, atol=0)
    torch.testing.assert_close(ds.obs_norm["var"], d.dataset.obs_var.float(), rtol=0, atol=0)
    torch.testing.assert_close(ds.log_std.detach(), d.dataset.log_std.detach(), rtol=0, atol=0)
    assert d.config.normalize_obs is True
    returns = evaluate_dataset(ds, n_learners=2, episodes=1, seed=0)
    assert returns.shape == (2, 1) and torch.isfinite(returns).all()


def test_meta_gradient_reaches_log_std(hopper):
    d, _ = hopper
    rollout = d.algo.collect()
    d.dataset.zero_grad()
    d.algo.loss(rollout.data.reshape(-1)[:64], rollout.theta0)["loss_objective"].backward()
    grad = d.dataset.log_std.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_normalisation_equals_sb3_vecnormalize(hopper):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    _, ds = hopper
    venv = VecNormalize(make_vec_env("Hopper-v5", n_envs=1), training=False, norm_reward=False)
    venv.obs_rms.mean = ds.obs_norm["mean"].double().numpy()
    venv.obs_rms.var = ds.obs_norm["var"].double().numpy()
    obs = np.random.default_rng(0).normal(0, 3, size=(5, 11))
    expected = torch.as_tensor(venv.normalize_obs(obs), dtype=torch.float32)
    torch.testing.assert_close(
        ds.normalize(torch.as_tensor(obs, dtype=torch.float32)), expected, rtol=1e-5, atol=1e-5
    )


def test_fit_sb3_puts_the_files_normalisation_in_the_policy(hopper):
    """Issue 24: inside the policy (a model's env stays raw), for a model and a bare policy."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from taskdistill_rl.sb3_layers import NormalizedFlattenExtractor

    _, ds = hopper
    model = PPO("MlpPolicy", "Hopper-v5", device="cpu", seed=0)
    policy = PPO("MlpPolicy", "Hopper-v5", device="cpu").policy
    ds.fit_sb3(model)
    ds.fit_sb3(policy)
    assert not isinstance(model.get_env(), VecNormalize)
    assert model.policy_kwargs["features_extractor_class"] is NormalizedFlattenExtractor
    for extractor in (model.policy.features_extractor, policy.pi_features_extractor):
        assert isinstance(extractor, NormalizedFlattenExtractor)
        assert torch.equal(extractor.mean, ds.obs_norm["mean"])
        assert torch.equal(extractor.var, ds.obs_norm["var"])
    torch.testing.assert_close(model.policy.log_std.detach(), ds.log_std.detach())


def test_make_policy_normalises_raw_observations(hopper):
    _, ds = hopper
    policy = ds.make_policy(seed=3)
    obs = torch.randn(4, 11) * 5
    assert (ds.normalize(obs) - obs).abs().max() > 1  # so skipping the normalisation would show
    torch.testing.assert_close(policy.predict(obs, deterministic=True), policy.module(ds.normalize(obs)))


def test_actions_are_clipped_only_on_their_way_into_the_env():
    from taskdistill_rl.envs import make_env

    env = make_env("InvertedPendulum-v5", num_envs=4, seed=0)  # actions in [-3, 3]
    td = env.reset()
    td["action"] = torch.tensor([[5.0], [-7.0], [1.5], [-3.0]])  # above, below, inside, on the bound
    # what MuJoCo gets: clipped on both sides, unchanged inside
    assert env.transform.inv(td.clone())["action"].tolist() == [[3.0], [-3.0], [1.5], [-3.0]]
    out, _ = env.step_and_maybe_reset(td)
    assert out["action"].tolist() == [[5.0], [-7.0], [1.5], [-3.0]]  # what the log-probability sees


def test_torchrl_actor_normalises_too(hopper):
    _, ds = hopper
    actor = ds.to_torchrl_actor(seed=0)
    from tensordict import TensorDict

    obs = torch.randn(3, 11) * 5
    assert (ds.normalize(obs) - obs).abs().max() > 1  # so skipping the normalisation would show
    out = actor(TensorDict({"observation": obs}, batch_size=[3]))
    torch.testing.assert_close(out["loc"], ds.fit(ds.make_learner(0))(ds.normalize(obs)))


MUJOCO_V5 = [
    "Ant-v5",
    "HalfCheetah-v5",
    "Hopper-v5",
    "Humanoid-v5",
    "HumanoidStandup-v5",
    "InvertedDoublePendulum-v5",
    "InvertedPendulum-v5",
    "Pusher-v5",
    "Reacher-v5",
    "Swimmer-v5",
    "Walker2d-v5",
]


@pytest.mark.parametrize("env_id", MUJOCO_V5)
def test_every_mujoco_v5_env_is_vectorised_with_float32_observations_and_box_actions(env_id):
    from taskdistill_rl.envs import make_env

    env = make_env(env_id, num_envs=2, seed=0)
    td = env.rollout(3, break_when_any_done=False)
    assert td["observation"].dtype == torch.float32 and td.batch_size[0] == 2
    assert not hasattr(env.action_spec.space, "n") and td["action"].shape[-1] == env.action_spec.shape[-1]


def test_mujoco_evaluation_on_forked_workers_equals_one_process(hopper):
    """The queued sub-envs are split over worker processes (one per core by default); sub-env i
    is seeded seed + i either way, so the split does not change the returns."""
    from taskdistill_rl.evaluate import evaluate_distributions

    _, ds = hopper
    kwargs = {"n_learners": 4, "episodes": 8, "seed": 1}
    one = evaluate_distributions(ds, ["lambda"], processes=1, **kwargs)
    two = evaluate_distributions(ds, ["lambda"], processes=2, **kwargs)
    assert torch.equal(one["lambda"], two["lambda"]) and one["lambda"].shape == (4, 8)
    assert one.capped is None  # MuJoCo's 1,000-step limit ends episodes; nothing is cut


def test_evaluate_uses_the_mujoco_defaults(hopper, tmp_path):
    import json

    from taskdistill_rl.cli import main

    d, _ = hopper
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(d.out_dir / "distilled.pt"), "--out", str(out), "-q"]) == 0
    entry = json.loads(out.read_text())["results"]["lambda"]
    assert (entry["n_learners"], entry["episodes"]) == (20, 10)
