"""Each learner distribution builds what it claims: layers, widths, activations and init std."""

import math

import pytest
import torch
from torch import nn

from taskdistill_rl.learners import LEARNERS, grid_names, make_learners, weight_std


def _linears(net):
    return [m for m in net if isinstance(m, nn.Linear)]


def _layer_stds(name, n=200, in_features=8, out_features=4):
    """Per-layer std of weights pooled over n samples (all of one architecture), and the sizes."""
    dist = make_learners(name, in_features=in_features, out_features=out_features)
    g = torch.Generator().manual_seed(0)
    nets = [dist.sample(g) for _ in range(n)]
    layers = list(zip(*(_linears(net) for net in nets), strict=True))
    stds = [torch.stack([lin.weight for lin in layer]).std().item() for layer in layers]
    sizes = [(layer[0].in_features, layer[0].out_features) for layer in layers]
    assert all(torch.all(lin.bias == 0) for layer in layers for lin in layer)
    return stds, sizes, nets[0]


@pytest.mark.parametrize(
    ("name", "init", "hidden_gain", "output_gain"),
    [
        ("lambda", "orthogonal", math.sqrt(2), 0.01),
        ("ortho-std1", "orthogonal", 1.0, 1.0),
        ("xavier", "xavier_normal", math.sqrt(2), 0.01),
        ("xavier-std1", "xavier_normal", 1.0, 1.0),
    ],
)
def test_fixed_architecture_distributions_have_alpha_c_and_their_init_std(
    name, init, hidden_gain, output_gain
):
    stds, sizes, net = _layer_stds(name)
    assert sizes == [(8, 64), (64, 64), (64, 4)]  # α_c: obs -> 64 -> 64 -> actions
    assert [type(m) for m in net] == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    for (fan_in, fan_out), std, gain in zip(
        sizes, stds, (hidden_gain, hidden_gain, output_gain), strict=True
    ):
        expected = weight_std(init, gain, fan_in, fan_out)
        # 200 samples pool >= 6,400 weights a layer: 3% is > 5 standard errors of a std estimate
        assert std == pytest.approx(expected, rel=0.03), (name, fan_in, fan_out)


def test_lambda_layer_std_values_written_in_the_docs():
    stds, _, _ = _layer_stds("lambda", n=50, in_features=4, out_features=2)
    assert stds[0] == pytest.approx(math.sqrt(2) / 8, rel=0.02)  # √2/√max(4, 64)
    assert stds[1] == pytest.approx(math.sqrt(2) / 8, rel=0.02)  # √2/√64
    assert stds[2] == pytest.approx(0.01 / 8, rel=0.02)  # 0.01/√64


def test_random_h_draws_one_width_for_both_hidden_layers_in_32_to_256():
    dist = make_learners("random-h", in_features=4, out_features=2)
    g = torch.Generator().manual_seed(0)
    widths = []
    for _ in range(400):
        sizes = [lin.out_features for lin in _linears(dist.sample(g))]
        assert len(sizes) == 3 and sizes[0] == sizes[1] and sizes[2] == 2
        widths.append(sizes[0])
    assert min(widths) >= 32 and max(widths) <= 256
    assert min(widths) < 40 and max(widths) > 248  # uniform over the whole range
    assert sum(widths) / len(widths) == pytest.approx(144, rel=0.06)


def test_random_l_draws_1_to_6_hidden_layers_of_64():
    dist = make_learners("random-l", in_features=4, out_features=2)
    g = torch.Generator().manual_seed(0)
    depths = set()
    for _ in range(200):
        net = dist.sample(g)
        sizes = [lin.out_features for lin in _linears(net)]
        assert sizes[:-1] == [64] * (len(sizes) - 1) and sizes[-1] == 2
        assert sum(isinstance(m, nn.Tanh) for m in net) == len(sizes) - 1
        depths.add(len(sizes) - 1)
    assert depths == {1, 2, 3, 4, 5, 6}


def test_grid_names_build_l_hidden_layers_of_width_h():
    assert len(grid_names()) == 24 and grid_names()[0] == "0x32" and grid_names()[-1] == "5x256"
    net = make_learners("3x128", in_features=4, out_features=2).sample(torch.Generator().manual_seed(0))
    assert [lin.out_features for lin in _linears(net)] == [128, 128, 128, 2]
    linear = make_learners("0x64", in_features=4, out_features=2).sample()
    assert [type(m) for m in linear] == [nn.Linear]


def test_unknown_distribution_is_refused_with_the_list():
    with pytest.raises(ValueError, match="available: lambda, ortho-std1"):
        make_learners("kaiming", in_features=4, out_features=2)
    assert set(LEARNERS) == {
        "lambda",
        "ortho-std1",
        "xavier",
        "xavier-std1",
        "random-h",
        "random-l",
        "nature-cnn",
        "minatar-cnn",
    }


def test_sampling_is_reproducible_and_leaves_the_global_rng_alone():
    dist = make_learners("random-h", in_features=4, out_features=2)
    state = torch.get_rng_state()
    a = dist.sample(torch.Generator().manual_seed(3))
    b = dist.sample(torch.Generator().manual_seed(3))
    assert torch.equal(state, torch.get_rng_state())
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    c = dist.sample(torch.Generator().manual_seed(4))  # the generator, not a constant, decides
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters(), strict=False))
