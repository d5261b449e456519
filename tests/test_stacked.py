"""StackedMLPs: padded, stacked acting equals every learner's own forward, for any rows."""

import pytest
import torch
from torch import nn

from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.learners import make_learners
from taskdistill_rl.population import fit_population
from taskdistill_rl.stacked import StackedMLPs


def _dataset(obs=4, out=2):
    ds = DistilledDataset(k=2, obs_shape=(obs,), out_features=out, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ds.log_inner_lr.fill_(0.0)  # lr 1: the step changes every learner a lot
    return ds


def _odd_mlp(generator, width):
    """ReLU, a hidden layer with no activation and a tanh output: every layer kind stacking handles."""
    net = nn.Sequential(
        nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 40),
        nn.Linear(40, 30), nn.Tanh(), nn.Linear(30, 2), nn.Tanh(),
    )  # fmt: skip
    for p in net.parameters():
        nn.init.normal_(p, std=0.3, generator=generator)
    return net


@pytest.mark.parametrize("name", ["lambda", "random-h", "random-l", "odd"])
def test_stacked_acting_equals_each_fitted_learners_own_forward(name):
    """Rows in shuffled order, several per learner, some learners without rows and some rows with
    no learner (-1, output 0): each row gets its own learner's output, to float32 rounding."""
    ds = _dataset()
    g = torch.Generator().manual_seed(3)
    if name == "odd":
        learners = [_odd_mlp(g, width) for width in (48, 48, 40, 33, 64, 60)]
    else:
        dist = make_learners(name, in_features=4, out_features=2)
        learners = [dist.sample(g) for _ in range(40)]
    population = fit_population(ds, learners)
    stacked = StackedMLPs(population)
    if name == "random-h":  # ~40 widths in 32..256, padded to multiples of 32: at most 8 stacks
        assert len(population.groups) > 20 and len(stacked.stacks) <= 8
    n = len(learners)
    learner = torch.cat([torch.arange(n).repeat_interleave(3)[3:], torch.full((4,), -1)])  # learner 0: none
    learner = learner[torch.randperm(len(learner), generator=g)]
    obs = torch.randn(len(learner), 4, generator=g) * 2
    stacked.arrange(learner)
    out = stacked(obs)
    fitted = [ds.fit(net) for net in learners]
    with torch.no_grad():
        expected = torch.stack(
            [fitted[i](o) if i >= 0 else torch.zeros(2) for i, o in zip(learner.tolist(), obs, strict=True)]
        )
    assert expected.abs().max() > 0.1  # outputs are not all tiny, so errors would show
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=2e-5)


def test_rearranging_follows_the_rows_and_keeps_the_same_outputs():
    """The same observation gets the same output whichever other rows are arranged with it (the
    shed-episode rollout re-arranges as episodes end)."""
    ds = _dataset()
    dist = make_learners("lambda", in_features=4, out_features=2)
    g = torch.Generator().manual_seed(4)
    population = fit_population(ds, [dist.sample(g) for _ in range(5)])
    stacked = StackedMLPs(population)
    obs = torch.randn(15, 4, generator=g)
    full = torch.arange(15) // 3
    stacked.arrange(full)
    everything = stacked(obs)
    keep = torch.tensor([1, 2, 7, 14])
    stacked.arrange(full[keep])
    torch.testing.assert_close(stacked(obs[keep]), everything[keep], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="arranged for 4 rows"):
        stacked(obs)


def test_modules_other_than_plain_mlps_are_refused():
    ds = _dataset()
    g = torch.Generator().manual_seed(5)
    learners = [
        nn.Sequential(nn.Identity(), *make_learners("lambda", in_features=4, out_features=2).sample(g))
    ]
    population = fit_population(ds, learners)
    assert not StackedMLPs.supports(population)
    with pytest.raises(ValueError, match="StackedMLPs takes MLP learners"):
        StackedMLPs(population)
