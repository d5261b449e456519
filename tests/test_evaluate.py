"""Population training (vmap) and batched k-shot evaluation."""

import pytest
import torch
from torch.func import functional_call

from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.evaluate import evaluate_dataset, evaluate_distributions, fit_population
from taskdistill_rl.learners import make_learners


def _dataset(k=2, obs=4, out=2):
    g = torch.Generator().manual_seed(0)
    ds = DistilledDataset(
        k=k, obs_shape=(obs,), out_features=out, meta={"env_id": "NDCartPole-v0"}, generator=g
    )
    with torch.no_grad():
        ds.log_inner_lr.fill_(0.0)  # lr 1: a large step, so differences would show
    return ds


@pytest.mark.parametrize("name", ["lambda", "random-h", "random-l"])
def test_vmapped_population_training_equals_fitting_one_by_one(name):
    ds = _dataset()
    dist = make_learners(name, in_features=4, out_features=2)
    g = torch.Generator().manual_seed(1)
    learners = [dist.sample(g) for _ in range(64 if name == "lambda" else 40)]
    population = fit_population(ds, learners)
    if name == "lambda":
        assert len(population.groups) == 1
    else:
        assert 1 < len(population.groups) <= 40  # grouped by architecture
    worst = 0.0
    probe = torch.randn(len(learners), 7, 4)
    out = population(probe)
    for i, learner in enumerate(learners):
        fitted = ds.fit(learner)
        for n, p in fitted.named_parameters():
            worst = max(worst, (population.learner_params(i)[n] - p).abs().max().item())
        torch.testing.assert_close(out[i], fitted(probe[i]), rtol=0, atol=1e-5)
    assert worst <= 1e-6, worst


def test_generic_vmap_path_equals_fitting_one_by_one():
    """Modules that are not plain MLPs are fitted by torch.func.vmap over the generic inner step."""
    from torch import nn

    ds = _dataset()
    g = torch.Generator().manual_seed(2)
    learners = [
        nn.Sequential(nn.Identity(), *make_learners("lambda", in_features=4, out_features=2).sample(g))
        for _ in range(32)
    ]
    population = fit_population(ds, learners)
    worst = 0.0
    for i, learner in enumerate(learners):
        for n, p in ds.fit(learner).named_parameters():
            worst = max(worst, (population.learner_params(i)[n] - p).abs().max().item())
    assert worst <= 1e-6, worst


def test_stacked_sampling_draws_lambdas_distribution():
    """sample_stacked (the evaluation's fast path) builds orthogonal layers with Λ's gains."""
    params = make_learners("lambda", in_features=4, out_features=2).sample_stacked(
        50, torch.Generator().manual_seed(0)
    )
    assert [tuple(p.shape) for p in params.values()] == [
        (50, 64, 4),
        (50, 64),
        (50, 64, 64),
        (50, 64),
        (50, 2, 64),
        (50, 2),
    ]
    eye = torch.eye(4).expand(50, 4, 4)
    torch.testing.assert_close(
        params["0.weight"].mT @ params["0.weight"], 2 * eye, rtol=0, atol=1e-5
    )  # gain √2
    torch.testing.assert_close(
        params["2.weight"] @ params["2.weight"].mT, 2 * torch.eye(64).expand(50, 64, 64), rtol=0, atol=1e-5
    )
    torch.testing.assert_close(
        params["4.weight"] @ params["4.weight"].mT, 1e-4 * torch.eye(2).expand(50, 2, 2), rtol=0, atol=1e-9
    )
    assert all(torch.all(params[f"{i}.bias"] == 0) for i in (0, 2, 4))
    assert params["2.weight"][0].std().item() != params["2.weight"][1].std().item()  # 50 different learners


def test_population_forward_uses_each_learners_own_parameters():
    ds = _dataset()
    learners = [
        make_learners("lambda", in_features=4, out_features=2).sample(torch.Generator().manual_seed(i))
        for i in range(3)
    ]
    population = fit_population(ds, learners)
    obs = torch.randn(1, 5, 4).expand(3, 5, 4)
    out = population(obs)
    assert not torch.allclose(out[0], out[1])
    params = population.learner_params(2)
    torch.testing.assert_close(out[2], functional_call(ds.fit(learners[2]), params, (obs[2],)))


def test_evaluate_distributions_shapes_and_lambda_equals_evaluate_dataset():
    ds = _dataset()
    results = evaluate_distributions(ds, ["lambda", "xavier", "random-l"], n_learners=3, episodes=2, seed=5)
    assert list(results) == ["lambda", "xavier", "random-l"]
    assert all(r.shape == (3, 2) and (r >= 1).all() for r in results.values())
    alone = evaluate_dataset(ds, n_learners=3, episodes=2, seed=5)
    chunked = evaluate_distributions(ds, ["lambda", "xavier"], n_learners=3, episodes=2, seed=5, max_envs=6)
    assert alone.shape == (3, 2) and chunked["lambda"].shape == (3, 2)


def test_bad_requests_are_refused():
    ds = _dataset()
    with pytest.raises(ValueError, match="unknown learner distribution"):
        evaluate_distributions(ds, ["kaiming"], n_learners=1, episodes=1)
    with pytest.raises(ValueError, match=">= 1"):
        evaluate_dataset(ds, n_learners=0, episodes=1)
    with pytest.raises(ValueError, match="do not match"):
        evaluate_dataset(ds, env_kwargs={"n_dims": 2}, n_learners=1, episodes=1)
    with pytest.raises(ValueError, match="teaches discrete actions of size 2 but InvertedPendulum-v5"):
        evaluate_dataset(ds, env_id="InvertedPendulum-v5", env_kwargs={}, n_learners=1, episodes=1)
