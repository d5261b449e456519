"""The differentiable inner step: hand SGD, direction, and meta-gradients vs finite differences."""

import pytest
import torch
from torch import nn

from taskdistill_rl.inner import inner_step, mse_to_labels
from taskdistill_rl.learners import MLPLearners


def _tiny(dtype=torch.float32):
    torch.manual_seed(0)
    net = (
        MLPLearners(in_features=3, out_features=2, hidden=(5,))
        .sample(torch.Generator().manual_seed(0))
        .to(dtype)
    )
    params = {n: p.detach().clone() for n, p in net.named_parameters()}
    X = torch.randn(4, 3, dtype=dtype)
    Y = torch.randn(4, 2, dtype=dtype)
    return net, params, X, Y


def test_inner_step_equals_hand_sgd():
    net, params, X, Y = _tiny()
    lr = torch.tensor(0.3)
    new = inner_step(net, params, X, Y, lr)
    ref = {n: p.clone().requires_grad_(True) for n, p in params.items()}
    loss = ((torch.func.functional_call(net, ref, (X,)) - Y) ** 2).mean()
    grads = torch.autograd.grad(loss, list(ref.values()))
    for (name, p), g in zip(ref.items(), grads, strict=True):
        torch.testing.assert_close(new[name], p.detach() - 0.3 * g, rtol=0, atol=1e-7)


def test_inner_step_moves_outputs_toward_labels():
    net, params, X, Y = _tiny()
    before = mse_to_labels(net, params, X, Y)
    after = mse_to_labels(net, inner_step(net, params, X, Y, torch.tensor(0.05)), X, Y)
    assert after < before
    several = mse_to_labels(net, inner_step(net, params, X, Y, torch.tensor(0.05), steps=5), X, Y)
    assert several < after


def test_meta_gradient_matches_finite_differences():
    """d/d(X, Y, log_lr) of a function of θ1 = inner_step(θ0): autograd vs central differences."""
    net, params, X, Y = _tiny(torch.float64)
    probe = torch.randn(6, 3, dtype=torch.float64)
    weights = torch.randn(6, 2, dtype=torch.float64)

    def outer(X, Y, log_lr):
        theta1 = inner_step(net, params, X, Y, log_lr.exp())
        return (torch.func.functional_call(net, theta1, (probe,)) * weights).sum()

    X, Y = X.requires_grad_(True), Y.requires_grad_(True)
    log_lr = torch.tensor(0.5, dtype=torch.float64).log().requires_grad_(True)
    gX, gY, glr = torch.autograd.grad(outer(X, Y, log_lr), (X, Y, log_lr))
    eps = 1e-6
    with torch.no_grad():
        for tensor, grad in ((X, gX), (Y, gY), (log_lr, glr)):
            flat, gflat = tensor.view(-1), grad.reshape(-1)
            for i in range(flat.numel()):
                old = flat[i].item()
                flat[i] = old + eps
                up = outer(X, Y, log_lr)
                flat[i] = old - eps
                down = outer(X, Y, log_lr)
                flat[i] = old
                assert abs((up - down).item() / (2 * eps) - gflat[i].item()) < 1e-6
    assert gX.abs().sum() > 0 and gY.abs().sum() > 0 and glr.abs() > 0


def test_learner_parameters_are_untouched():
    net, params, X, Y = _tiny()
    snapshot = {n: p.detach().clone() for n, p in net.named_parameters()}
    new = inner_step(net, params, X, Y, torch.tensor(1.0))
    assert all(torch.equal(p, snapshot[n]) for n, p in net.named_parameters())
    assert all(torch.equal(params[n], snapshot[n]) for n in params)  # nor the θ0 passed in
    assert all(not torch.equal(new[n], snapshot[n]) for n in params)  # while θ1 moved
    assert isinstance(net, nn.Sequential)


def _assert_equal_with_meta_gradients(a: torch.Tensor, b: torch.Tensor, wrt: tuple) -> None:
    """``a`` equals ``b``, and so do their sums' gradients with respect to ``wrt``."""
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    for ga, gb in zip(torch.autograd.grad(a.sum(), wrt), torch.autograd.grad(b.sum(), wrt), strict=True):
        torch.testing.assert_close(ga, gb, rtol=0, atol=1e-12)


def test_closed_form_mlp_gradient_equals_torch_func_with_its_meta_gradients():
    """The layer-by-layer MLP path and the generic torch.func path agree, in θ1 and in d/d(X, Y, lr),
    for tanh and ReLU MLPs; modules that are not plain MLPs take the generic path."""
    from taskdistill_rl.inner import mlp_layers

    torch.manual_seed(1)
    for act in (nn.Tanh, nn.ReLU):
        net = nn.Sequential(nn.Linear(3, 7), act(), nn.Linear(7, 5), act(), nn.Linear(5, 2)).double()
        wrapped = nn.Sequential(nn.Identity(), *net)  # not a plain MLP: the torch.func path
        assert mlp_layers(net) is not None and mlp_layers(wrapped) is None
        params = {n: p.detach() for n, p in net.named_parameters()}
        shifted = {f"{int(n.split('.')[0]) + 1}.{n.split('.')[1]}": p for n, p in params.items()}
        X = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
        Y = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
        lr = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
        probe = torch.randn(6, 3, dtype=torch.float64)
        fast = torch.func.functional_call(net, inner_step(net, params, X, Y, lr, steps=2), (probe,))
        generic = torch.func.functional_call(
            wrapped, inner_step(wrapped, shifted, X, Y, lr, steps=2), (probe,)
        )
        _assert_equal_with_meta_gradients(fast, generic, (X, Y, lr))


def test_mlp_on_frames_takes_the_explicit_path_and_equals_torch_func():
    """An MLP after ``Flatten(-3)`` (the ``LxH`` learners on MinAtar frames) is a plain MLP to the
    explicit paths: its inner step, meta-gradients and stacked acting equal torch.func's; a
    Flatten that would merge the batch dimension is not."""
    from taskdistill_rl.inner import mlp_forward, mlp_layers

    torch.manual_seed(2)
    net = nn.Sequential(nn.Flatten(-3), nn.Linear(12, 7), nn.Tanh(), nn.Linear(7, 3)).double()
    layers = mlp_layers(net)
    assert layers is not None and layers.flatten_dims == 3
    assert mlp_layers(nn.Sequential(nn.Flatten(), nn.Linear(12, 3))) is None  # start_dim 1
    wrapped = nn.Sequential(nn.Identity(), *net)
    params = {n: p.detach() for n, p in net.named_parameters()}
    shifted = {f"{int(n.split('.')[0]) + 1}.{n.split('.')[1]}": p for n, p in params.items()}
    X = torch.randn(4, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    Y = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    lr = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    probe = torch.randn(6, 3, 2, 2, dtype=torch.float64)
    fast_params = inner_step(net, params, X, Y, lr)
    fast = mlp_forward(layers, fast_params, probe)
    generic = torch.func.functional_call(wrapped, inner_step(wrapped, shifted, X, Y, lr), (probe,))
    _assert_equal_with_meta_gradients(fast, generic, (X, Y, lr))
    stacked = {n: torch.stack([p, p + 0.1]) for n, p in params.items()}  # M = 2 on [M, B, *in]
    both = mlp_forward(layers, stacked, probe.expand(2, *probe.shape))
    torch.testing.assert_close(both[0], net(probe), rtol=0, atol=1e-12)


@pytest.mark.parametrize("frames", [False, True])
def test_stepped_forward_equals_the_formed_step_in_values_and_meta_gradients(frames):
    """``mlp_stepped_forward`` (θ1 never formed) gives what the one step's θ1 gives, for one
    learner and for M stacked ones on their own or shared inputs, and the same d/d(X, Y, lr)."""
    from taskdistill_rl.inner import mlp_forward, mlp_layers, mlp_stepped_forward

    torch.manual_seed(3)
    obs_shape = (3, 2, 2) if frames else (12,)
    head = [nn.Flatten(-3)] if frames else []
    net = nn.Sequential(*head, nn.Linear(12, 7), nn.Tanh(), nn.Linear(7, 5), nn.ReLU(), nn.Linear(5, 3))
    layers = mlp_layers(net.double())
    one = {n: p.detach() for n, p in net.named_parameters()}
    stacked = {n: torch.stack([p, 2 * p, -p]) for n, p in one.items()}
    X = torch.randn(4, *obs_shape, dtype=torch.float64, requires_grad=True)
    Y = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    lr = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    for params, x in (
        (one, torch.randn(6, *obs_shape, dtype=torch.float64)),
        (stacked, torch.randn(3, 6, *obs_shape, dtype=torch.float64)),
        (stacked, torch.randn(6, *obs_shape, dtype=torch.float64)),
    ):
        formed = mlp_forward(layers, inner_step(net, params, X, Y, lr), x) if params is one else None
        if formed is None:  # stacked: each learner's own step, then its outputs on its inputs
            rows = [
                mlp_forward(
                    layers,
                    inner_step(net, {n: p[m] for n, p in params.items()}, X, Y, lr),
                    x[m] if x.dim() > len(obs_shape) + 1 else x,
                )
                for m in range(3)
            ]
            formed = torch.stack(rows)
        stepped = mlp_stepped_forward(layers, params, X, Y, lr, x)
        torch.testing.assert_close(stepped, formed, rtol=0, atol=1e-12)
        weights = torch.randn_like(formed)
        for a, b in zip(
            torch.autograd.grad((stepped * weights).sum(), (X, Y, lr)),
            torch.autograd.grad((formed * weights).sum(), (X, Y, lr)),
            strict=True,
        ):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-11)
