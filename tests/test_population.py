"""Grouped acting (issue 26): M learners of one architecture act at once, each with its own
parameters on its own observations, as acting with them one by one does."""

import doctest

import pytest
import torch
from torch import nn
from torch.func import functional_call

from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.learners import make_learners
from taskdistill_rl.population import GroupedLearners, fit_population

M, B = 3, 2  # learners, observations per learner


def _learners(kind: str):
    """A distribution and the shape of one observation: a plain MLP (batched matmuls) or the
    Nature-CNN (vmap); output gain 1 so that different learners' outputs differ visibly."""
    if kind == "mlp":
        return make_learners("lambda", in_features=4, out_features=3, output_gain=1.0), (4,)
    obs_shape = (4, 36, 36)  # the smallest images a Nature-CNN takes
    return make_learners("nature-cnn", obs_shape=obs_shape, out_features=3, output_gain=1.0), obs_shape


def _one_by_one(skeleton: nn.Module, params: dict, obs: torch.Tensor) -> torch.Tensor:
    """Learner m (``params[m]``) on ``obs[m]``, one functional_call each."""
    return torch.stack(
        [functional_call(skeleton, {n: p[m] for n, p in params.items()}, (obs[m],)) for m in range(len(obs))]
    )


@pytest.mark.parametrize("kind", ["mlp", "nature-cnn"], ids=["mlp_forward", "vmap"])
def test_grouped_acting_equals_acting_learner_by_learner(kind):
    dist, obs_shape = _learners(kind)
    params = dist.sample_stacked(M, torch.Generator().manual_seed(0))
    obs = torch.rand(M, B, *obs_shape, generator=torch.Generator().manual_seed(1))
    skeleton = dist.build()
    learners = GroupedLearners(skeleton)
    assert (learners.layers is None) == (kind == "nature-cnn")

    expected = _one_by_one(skeleton, params, obs)  # [M, B, 3]
    out = learners(params, obs)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)
    # flat, in M equal consecutive shares: rows m*B .. m*B + B - 1 are learner m's
    flat = learners.shares(params, obs.reshape(M * B, *obs_shape))
    torch.testing.assert_close(flat, expected.reshape(M * B, 3), rtol=0, atol=1e-5)

    # the check has teeth: another learner's parameters, or another learner's observations, give
    # outputs far outside the tolerance
    rolled = {n: p.roll(1, 0) for n, p in params.items()}
    assert (_one_by_one(skeleton, rolled, obs) - expected).abs().amax((1, 2)).min() > 1e-2
    assert (_one_by_one(skeleton, params, obs.roll(1, 0)) - expected).abs().amax((1, 2)).min() > 1e-2


@pytest.mark.parametrize("kind", ["mlp", "nature-cnn"], ids=["mlp_forward", "vmap"])
def test_one_learner_acts_as_its_functional_call(kind):
    """One learner's parameters (as inside the loss's vmap), a stack of one, and a stack of one
    acting on a whole flat batch (PPMO's rollouts with one initialisation)."""
    dist, obs_shape = _learners(kind)
    params = dist.sample_stacked(1, torch.Generator().manual_seed(0))
    obs = torch.rand(1, B, *obs_shape, generator=torch.Generator().manual_seed(1))
    skeleton = dist.build()
    one = {n: p[0] for n, p in params.items()}
    expected = functional_call(skeleton, one, (obs[0],))
    learners = GroupedLearners(skeleton)
    torch.testing.assert_close(learners(one, obs[0]), expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(learners(params, obs), expected.unsqueeze(0), rtol=0, atol=1e-6)
    torch.testing.assert_close(learners.shares(params, obs[0]), expected, rtol=0, atol=1e-6)


def test_mlp_learners_broadcast_over_shared_observations():
    """The loss's case of M initialisations on one minibatch: every MLP learner on the same rows."""
    dist, _ = _learners("mlp")
    params = dist.sample_stacked(M, torch.Generator().manual_seed(0))
    obs = torch.randn(B, 4, generator=torch.Generator().manual_seed(1))
    skeleton = dist.build()
    out = GroupedLearners(skeleton)(params, obs)
    torch.testing.assert_close(out, _one_by_one(skeleton, params, obs.expand(M, B, 4)), rtol=0, atol=1e-6)


def test_a_population_of_two_architectures_acts_learner_by_learner():
    """Each group acts through its own GroupedLearners (an MLP's matmuls, a vmap for the other)
    and its outputs land at its learners' indices."""
    ds = DistilledDataset(k=2, obs_shape=(4,), out_features=2, generator=torch.Generator().manual_seed(0))
    mlps = make_learners("lambda", in_features=4, out_features=2, output_gain=1.0)
    g = torch.Generator().manual_seed(1)
    learners = [mlps.sample(g) if i % 2 else nn.Sequential(nn.Identity(), *mlps.sample(g)) for i in range(5)]
    population = fit_population(ds, learners)
    assert sorted(acting.layers is None for acting in population.acting) == [False, True]
    obs = torch.randn(5, B, 4, generator=g)
    out = population(obs)
    for i, learner in enumerate(learners):
        torch.testing.assert_close(out[i], ds.fit(learner)(obs[i]), rtol=0, atol=1e-5)
    assert (out[0] - out[1]).abs().max() > 1e-2


def test_the_grouped_learners_docstring_example_runs():
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    for test in finder.find(
        GroupedLearners, "GroupedLearners", globs={"torch": torch, "GroupedLearners": GroupedLearners}
    ):
        runner.run(test)
    assert runner.summarize(verbose=False) == (0, 6)
