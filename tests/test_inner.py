"""The differentiable inner step: hand SGD, direction, and meta-gradients vs finite differences."""

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
        torch.testing.assert_close(fast, generic, rtol=0, atol=1e-12)
        for a, b in zip(
            torch.autograd.grad(fast.sum(), (X, Y, lr)),
            torch.autograd.grad(generic.sum(), (X, Y, lr)),
            strict=True,
        ):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
