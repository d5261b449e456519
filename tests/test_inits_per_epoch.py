"""M initialisations per meta-epoch: each env group acts with its own one-step learner, every
minibatch holds every initialisation's own frames, and the config keeps the groups equal."""

import pytest
import torch

from taskdistill_rl.algorithms.ppmo import PPMO
from taskdistill_rl.config import DistillConfig
from taskdistill_rl.errors import InvalidInputError


@pytest.fixture(scope="module")
def algo():
    algo = PPMO(
        "NDCartPole-v0", k=2, seed=3, num_envs=8, steps_per_env=6, inits_per_epoch=4, minibatch_size=16
    )
    yield algo
    algo.close()


def test_each_env_group_acts_with_its_own_initialisation(algo):
    rollout = algo.collect()
    theta0 = rollout.theta0
    assert all(p.shape[0] == 4 for p in theta0.values())
    assert not torch.allclose(theta0["0.weight"][0], theta0["0.weight"][1])  # fresh draws
    data = rollout.data  # [8 envs, 6 steps]
    for m in range(4):
        with torch.no_grad():
            theta1 = algo.loss.adapted_params({k: v[m] for k, v in theta0.items()})
        for env in (2 * m, 2 * m + 1):  # envs 2m and 2m+1 are group m's
            obs, action = data["observation"][env], data["action"][env]
            with torch.no_grad():
                logits = algo.loss.act(theta1, obs)
            expected = torch.distributions.Categorical(logits=logits).log_prob(action)
            torch.testing.assert_close(data["action_log_prob"][env], expected, rtol=1e-5, atol=1e-5)
        if m:  # another group's learner would have given other probabilities
            with torch.no_grad():
                other = algo.loss.act(algo.loss.adapted_params({k: v[0] for k, v in theta0.items()}), obs)
            assert not torch.allclose(
                torch.distributions.Categorical(logits=other).log_prob(action), expected
            )


def test_every_minibatch_holds_every_initialisation_on_its_own_frames(algo, monkeypatch):
    rollout = algo.collect()
    seen = []
    forward = algo.loss.forward

    def spy(td, theta0):
        seen.append((tuple(td.batch_size), {p.shape[0] for p in theta0.values()}, td["observation"].clone()))
        return forward(td, theta0)

    monkeypatch.setattr(algo.loss, "forward", spy)
    before = algo.dataset.observation.detach().clone()
    algo.update(rollout)
    assert len(seen) == algo.config.policy_epochs * 3  # 12 frames per group, 4 per minibatch
    assert all(shape == (4, 4) and inits == {4} for shape, inits, _ in seen)
    group_obs = rollout.data["observation"].reshape(4, 12, -1)
    for _, _, obs in seen:  # row m: frames of group m's envs only
        for m in range(4):
            assert all((group_obs[m] == row).all(-1).any() for row in obs[m])
    assert not torch.equal(before, algo.dataset.observation)


def test_the_preset_shrinks_m_to_fit_the_envs_and_explicit_values_are_checked():
    assert DistillConfig(preset="fast").inits_per_epoch == 16
    assert DistillConfig(preset="fast", num_envs=12).inits_per_epoch == 4
    assert DistillConfig(preset="paper").inits_per_epoch == 1
    assert DistillConfig(env="ALE/Pong-v5").resolved().inits_per_epoch == 1
    with pytest.raises(InvalidInputError, match="multiple of inits_per_epoch"):
        DistillConfig(preset="fast", num_envs=12, inits_per_epoch=8)
    with pytest.raises(InvalidInputError, match="minibatch_size"):
        DistillConfig(preset="fast", inits_per_epoch=16, minibatch_size=8)
    with pytest.raises(InvalidInputError, match="inits_per_epoch must be >= 1"):
        DistillConfig(preset="fast", inits_per_epoch=0)


def test_each_minibatch_row_is_scored_with_the_initialisation_that_collected_it(algo):
    """Before any update π^i is π^0 on every frame, so the importance ratio is exactly 1 when row
    m's frames meet initialisation m's θ⁰; another group's θ⁰ (e.g. initialisation 0's for every
    row) acts with other probabilities there (log-ratios ~1e-3 on this run, kl ~2e-7)."""
    rollout = algo.collect()
    batches = list(algo._minibatches(rollout))
    assert len(batches) == 3
    with torch.no_grad():
        for minibatch, theta0 in batches:
            theta1 = torch.vmap(algo.loss.adapted_params)(theta0)  # [M, ...]: row m's learner
            logits = algo.loss.act(theta1, minibatch["observation"])  # [M, B / M, actions]
            log_prob = torch.distributions.Categorical(logits=logits).log_prob(minibatch["action"])
            log_ratio = (log_prob - minibatch["action_log_prob"]).abs().max()
            assert log_ratio < 1e-6, f"π^i/π^0 differs from 1 before any update: {log_ratio}"
            out = algo.loss(minibatch, theta0)
            assert float(out["kl_approx"]) < 1e-10
            assert float(out["ESS"]) == pytest.approx(1.0, abs=1e-6)
            assert float(out["clip_fraction"]) == 0.0


def test_training_rollouts_act_on_normalised_observations():
    """With ``normalize_obs`` the collecting learners see ``clip((obs - mean) / sqrt(var + 1e-8))``
    like the loss and every fitted learner: each frame's recorded log-probability is θ¹'s on the
    normalised observation (written out here), which the raw observation would not give."""
    algo = PPMO(
        "NDCartPole-v0", k=2, seed=4, num_envs=4, steps_per_env=8, inits_per_epoch=2, normalize_obs=True
    )
    try:
        ds = algo.dataset
        with torch.no_grad():
            ds.obs_mean.copy_(torch.tensor([0.02, -0.3, 0.01, 0.4], dtype=ds.obs_mean.dtype))
            ds.obs_var.copy_(torch.tensor([1e-3, 0.05, 1e-4, 0.2], dtype=ds.obs_var.dtype))
            ds.log_inner_lr.fill_(0.0)  # lr 1: θ¹ far from θ⁰, its outputs depend on the input
        rollout = algo.collect()
        mean, std = ds.obs_mean.float(), torch.sqrt(ds.obs_var.float() + 1e-8)
        for m in range(2):
            with torch.no_grad():
                theta1 = algo.loss.adapted_params({k: v[m] for k, v in rollout.theta0.items()})
            for env in (2 * m, 2 * m + 1):
                obs, action = rollout.data["observation"][env], rollout.data["action"][env]
                recorded = rollout.data["action_log_prob"][env]
                with torch.no_grad():
                    logits = torch.func.functional_call(
                        algo.head, theta1, (((obs - mean) / std).clamp(-10, 10),)
                    )
                    raw = torch.func.functional_call(algo.head, theta1, (obs,))
                expected = torch.distributions.Categorical(logits=logits).log_prob(action)
                torch.testing.assert_close(recorded, expected, rtol=1e-5, atol=1e-5)
                unnormalised = torch.distributions.Categorical(logits=raw).log_prob(action)
                assert (unnormalised - expected).abs().max() > 1e-3  # the check can fail
    finally:
        algo.close()
