"""PPMOLoss: ratio 1 gives the plain policy gradient; clipping on both sides; θ⁰ explicit, stacked
initialisations average, an encoder/head split; critic and dataset get separate gradients."""

import pytest
import torch
from tensordict import TensorDict
from torchrl.objectives import ValueEstimators
from torchrl.objectives.value import GAE, TD0Estimator

from taskdistill_rl.actors import make_critic
from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.learners import split_learner
from taskdistill_rl.objectives import PPMOLoss


def head_params(module, encoder_layers: int) -> dict:
    """θ⁰ for the inner step: the detached parameters of the head (everything after the encoder)."""
    _, head = split_learner(module, encoder_layers)
    return {name: p.detach() for name, p in head.named_parameters()}


def _setup(seed=0, *, encoder_layers=0, dtype=torch.float32, n=64):
    torch.manual_seed(seed)
    ds = DistilledDataset(
        k=2,
        obs_shape=(4,),
        out_features=2,
        encoder_layers=encoder_layers,
        generator=torch.Generator().manual_seed(seed),
    ).to(dtype)
    with torch.no_grad():
        ds.log_inner_lr.fill_(0.0)  # lr 1: a visible inner step
    learners = ds.learners()
    _, head = split_learner(learners.build().to(dtype), encoder_layers)
    theta0 = {
        k: v.to(dtype)
        for k, v in head_params(
            learners.sample(torch.Generator().manual_seed(seed + 1)), encoder_layers
        ).items()
    }
    loss = PPMOLoss(head, ds, make_critic((4,)).to(dtype))
    obs = torch.randn(n, 4, dtype=dtype)
    with torch.no_grad():
        dist = torch.distributions.Categorical(logits=loss.act(loss.adapted_params(theta0), obs))
        action = dist.sample()
        lp = dist.log_prob(action)  # π^0 = the current one-step learner
    td = TensorDict(
        observation=obs,
        action=action,
        action_log_prob=lp,
        advantage=torch.randn(n, 1, dtype=dtype),
        value_target=torch.randn(n, 1, dtype=dtype),
        batch_size=[n],
    )
    return loss, ds, td, theta0


def _normalised(adv):
    adv = adv.squeeze(-1)
    return (adv - adv.mean()) / (adv.std() + 1e-8)


def test_ratio_one_gives_the_plain_policy_gradient():
    loss, ds, td, theta0 = _setup()
    out = loss(td, theta0)
    assert out["clip_fraction"] == 0 and abs(out["ESS"].item() - 1) < 1e-6
    params = [ds.observation, ds.label, ds.log_inner_lr]
    g_ppmo = torch.autograd.grad(out["loss_objective"], params)
    logits = loss.act(loss.adapted_params(theta0), td["observation"])
    logp = torch.distributions.Categorical(logits=logits).log_prob(td["action"])
    g_pg = torch.autograd.grad(-(_normalised(td["advantage"]) * logp).mean(), params)
    for a, b in zip(g_ppmo, g_pg, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert all(g.abs().sum() > 0 for g in g_ppmo)


def test_ess_is_the_effective_sample_size_of_the_importance_weights():
    loss, _, td, theta0 = _setup(4)
    td["action_log_prob"] = td["action_log_prob"] + torch.linspace(-1, 1, td.shape[0])
    w = (loss.act(loss.adapted_params(theta0), td["observation"]).log_softmax(-1).gather(
        -1, td["action"][:, None]).squeeze(-1) - td["action_log_prob"]).exp().detach()  # fmt: skip
    expected = w.sum() ** 2 / (w**2).sum() / w.numel()
    assert loss(td, theta0)["ESS"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert expected < 0.95  # unequal weights: the check is not 1 == 1


def test_critic_loss_trains_only_the_critic():
    loss, ds, td, theta0 = _setup(1)
    out = loss(td, theta0)
    out["loss_critic"].backward()
    assert ds.observation.grad is None and ds.label.grad is None
    assert all(p.grad is not None for p in loss.critic_network_params.values(True, True))
    value = loss.critic_network(td.select("observation"))["state_value"]
    expected = (value - td["value_target"]).pow(2).mean()
    assert out["loss_critic"].item() == pytest.approx(expected.item(), rel=1e-6)
    ds.zero_grad()
    loss.zero_grad()
    loss(td, theta0)["loss_objective"].backward()
    assert ds.observation.grad is not None
    assert all(
        p.grad is None or p.grad.abs().sum() == 0 for p in loss.critic_network_params.values(True, True)
    )


def test_the_entropy_bonus_reaches_the_dataset_only_when_it_has_a_weight():
    loss, ds, td, theta0 = _setup(2)
    out = loss(td, theta0)
    assert not out["loss_entropy"].requires_grad and out["entropy"] > 0  # a diagnostic only
    bonus = PPMOLoss(loss.learner, ds, loss.critic_network, entropy_coeff=0.01)
    out = bonus(td, theta0)
    logits = loss.act(loss.adapted_params(theta0), td["observation"])
    expected = -0.01 * torch.distributions.Categorical(logits=logits).entropy().mean()
    params = [ds.observation, ds.label, ds.log_inner_lr]
    got, want = torch.autograd.grad(out["loss_entropy"], params), torch.autograd.grad(expected, params)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)
        assert a.abs().sum() > 0


@pytest.mark.parametrize(("shift", "sign"), [(-1.0, 1.0), (1.0, -1.0)], ids=["above-1+eps", "below-1-eps"])
def test_clipping_stops_the_gradient_outside_the_trust_region_on_both_sides(shift, sign):
    """ratio e > 1.2 with positive advantages, and ratio 1/e < 0.8 with negative ones: both are
    clipped (no gradient). With the signs swapped the same ratios are NOT clipped (gradient flows)."""
    loss, ds, td, theta0 = _setup(2)
    loss.normalize_advantage = False
    td["action_log_prob"] = td["action_log_prob"] + shift
    magnitude = torch.ones_like(td["advantage"]) + torch.rand_like(td["advantage"])
    td["advantage"] = sign * magnitude
    out = loss(td, theta0)
    assert out["clip_fraction"] == 1.0
    grads = torch.autograd.grad(out["loss_objective"], [ds.observation, ds.label], allow_unused=True)
    assert all(g is None or g.abs().max() < 1e-6 for g in grads)
    td["advantage"] = -sign * magnitude  # the pessimistic bound is now the unclipped term
    grads = torch.autograd.grad(loss(td, theta0)["loss_objective"], [ds.observation, ds.label])
    assert all(g.abs().max() > 1e-6 for g in grads)


def test_stacked_initialisations_average_the_per_initialisation_losses():
    loss, ds, td, theta0 = _setup(5, dtype=torch.float64)
    inits, stacked = _stacked_inits(ds, theta0)
    params = [ds.observation, ds.label, ds.log_inner_lr]
    batched = loss(td, stacked)["loss_objective"]
    singles = torch.stack([loss(td, t)["loss_objective"] for t in inits])
    torch.testing.assert_close(batched, singles.mean(), rtol=1e-10, atol=1e-12)
    g_batched = torch.autograd.grad(batched, params)
    g_mean = torch.autograd.grad(singles.mean(), params)
    for a, b in zip(g_batched, g_mean, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-12)
    assert not torch.allclose(singles[0], singles[1])  # the initialisations differ
    per_pair = PPMOLoss(loss.learner, ds, loss.critic_network, reduction="none")(td, stacked)
    assert per_pair["loss_objective"].shape == (3, td.shape[0])
    torch.testing.assert_close(per_pair["loss_objective"].mean(), batched)


def test_an_encoder_split_meta_learns_the_encoder_and_steps_only_the_head():
    loss, ds, td, theta0 = _setup(6, encoder_layers=1)
    assert sorted(theta0) == ["2.bias", "2.weight", "4.bias", "4.weight"]  # layers [1, 3)
    assert [name for name, _ in ds.encoder.named_parameters()] == ["0.weight", "0.bias"]
    out = loss(td, theta0)
    grads = torch.autograd.grad(out["loss_objective"], [ds.encoder[0].weight, ds.observation])
    assert all(g.abs().sum() > 0 for g in grads)
    learner = ds.fit(ds.make_learner(seed=3))
    assert torch.equal(learner[0].weight, ds.encoder[0].weight)  # the file's encoder, unchanged
    expected = loss.act(ds.fitted_params(ds.make_learner(seed=3)), td["observation"])
    torch.testing.assert_close(learner(td["observation"]), expected)


def test_theta0_must_match_the_learner():
    loss, _, td, theta0 = _setup(7)
    with pytest.raises(InvalidInputError, match="theta0 must hold"):
        loss(td, {k: v for k, v in theta0.items() if k != "0.weight"})
    with pytest.raises(InvalidInputError, match="reduction"):
        PPMOLoss(loss.learner, loss.dataset, loss.critic_network, reduction="max")


def test_value_estimator_through_make_value_estimator():
    loss, _, td, theta0 = _setup(8)
    loss.make_value_estimator(ValueEstimators.GAE, gamma=0.9, lmbda=0.8)
    assert isinstance(loss.value_estimator, GAE) and loss.value_estimator.gamma == 0.9
    loss.make_value_estimator(ValueEstimators.TD0, gamma=0.5)
    assert isinstance(loss.value_estimator, TD0Estimator)
    n = td.shape[0]
    rollout = td.exclude("advantage", "value_target")
    rollout["next"] = TensorDict(
        observation=torch.randn(n, 4),
        reward=torch.ones(n, 1),
        done=torch.zeros(n, 1, dtype=torch.bool),
        terminated=torch.zeros(n, 1, dtype=torch.bool),
        batch_size=[n],
    )
    out = loss(rollout, theta0)  # advantages estimated inside, the input left alone
    assert "advantage" not in rollout.keys() and torch.isfinite(out["loss_objective"])
    with torch.no_grad():
        value = loss.critic_network(rollout.select("observation"))["state_value"]
        next_value = loss.critic_network(rollout["next"].select("observation"))["state_value"]
    expected = loss.value_estimator(rollout.copy())
    torch.testing.assert_close(expected["value_target"], 1 + 0.5 * next_value)
    torch.testing.assert_close(expected["advantage"], 1 + 0.5 * next_value - value)


def test_set_keys():
    loss, _, td, theta0 = _setup(3)
    loss.set_keys(advantage="adv2")
    assert loss.tensor_keys.advantage == "adv2"
    td["adv2"] = td.pop("advantage")
    reference = _setup(3)
    assert loss(td, theta0)["loss_objective"] == reference[0](reference[2], reference[3])["loss_objective"]


def _stacked_inits(ds, theta0, seeds=(11, 12)):
    others = [
        {
            k: v.to(theta0["0.weight"].dtype)
            for k, v in head_params(ds.learners().sample(torch.Generator().manual_seed(s)), 0).items()
        }
        for s in seeds
    ]
    inits = [theta0, *others]
    return inits, {k: torch.stack([t[k] for t in inits]) for k in theta0}


def test_paired_frames_average_each_initialisation_on_its_own_rows():
    """A ``[M, B]`` minibatch: row m is scored with initialisation m only (its own frames)."""
    loss, ds, td, theta0 = _setup(9, dtype=torch.float64, n=60)
    loss = PPMOLoss(loss.learner, ds, loss.critic_network, normalize_advantage=False)
    inits, stacked = _stacked_inits(ds, theta0)
    paired = td.reshape(3, 20)
    batched = loss(paired, stacked)["loss_objective"]
    singles = torch.stack([loss(paired[m], inits[m])["loss_objective"] for m in range(3)])
    torch.testing.assert_close(batched, singles.mean(), rtol=1e-10, atol=1e-12)
    shared = loss(paired, {k: v[:1].expand(3, *v.shape[1:]) for k, v in stacked.items()})
    assert not torch.allclose(shared["loss_objective"], batched)  # the pairing matters
    g_batched = torch.autograd.grad(batched, [ds.observation, ds.label])
    g_mean = torch.autograd.grad(singles.mean(), [ds.observation, ds.label])
    for a, b in zip(g_batched, g_mean, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("paired", [False, True])
def test_mlp_broadcast_path_equals_the_vmap_path(paired):
    """Λ's M initialisations go through batched matmuls; any other learner through ``vmap``:
    the same loss and the same dataset gradient."""
    loss, ds, td, theta0 = _setup(10, dtype=torch.float64, n=60)
    _, stacked = _stacked_inits(ds, theta0)
    data = td.reshape(3, 20) if paired else td
    generic = PPMOLoss(loss.learner, ds, loss.critic_network)
    generic._acting.layers = None  # as for a learner that is not a plain MLP
    a, b = loss(data, stacked)["loss_objective"], generic(data, stacked)["loss_objective"]
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    for ga, gb in zip(
        torch.autograd.grad(a, [ds.observation, ds.label, ds.log_inner_lr]),
        torch.autograd.grad(b, [ds.observation, ds.label, ds.log_inner_lr]),
        strict=True,
    ):
        torch.testing.assert_close(ga, gb, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("paired", [False, True])
def test_the_stepped_forward_gives_the_formed_steps_loss_and_dataset_gradient(paired, monkeypatch):
    """Whether PPMO's loss applies the one step without forming θ1 (every MLP when no saving is
    asked) or forms it (never stepping), the loss and the dataset's gradient are the same."""
    from taskdistill_rl import inner
    from taskdistill_rl.objectives import ppmo as objective

    loss, ds, td, theta0 = _setup(10, dtype=torch.float64, n=60)
    _, stacked = _stacked_inits(ds, theta0)
    data = td.reshape(3, 20) if paired else td
    calls = []
    stepped_forward = objective.mlp_stepped_forward
    monkeypatch.setattr(objective, "mlp_stepped_forward", lambda *a: calls.append(1) or stepped_forward(*a))
    results = []
    for saving, steps in ((0, True), (float("inf"), False)):  # always step, never step
        monkeypatch.setattr(inner, "STEPPING_SAVING", saving)
        calls.clear()
        value = loss(data, stacked)["loss_objective"]
        assert bool(calls) is steps  # the path asked for is the path taken
        results.append((value, torch.autograd.grad(value, [ds.observation, ds.label, ds.log_inner_lr])))
    (stepped, g_stepped), (formed, g_formed) = results
    torch.testing.assert_close(stepped, formed, rtol=1e-10, atol=1e-12)
    for a, b in zip(g_stepped, g_formed, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-12)


def test_wide_learners_on_few_rows_step_and_the_paper_learners_form_theta1():
    """The choice the reference runs rely on: 2x512 on a MinAtar frame steps at the `fast`
    preset's 32 rows per initialisation; Λ on cart-pole forms θ1 there."""
    from taskdistill_rl.inner import mlp_layers, stepping_is_cheaper
    from taskdistill_rl.learners import make_learners

    for name, obs_shape, steps in (("2x512", (4, 10, 10), True), ("lambda", (4,), False)):
        net = make_learners(name, obs_shape=obs_shape, out_features=3).sample(
            torch.Generator().manual_seed(0)
        )
        params = dict(net.named_parameters())
        assert stepping_is_cheaper(mlp_layers(net), params, rows=32) is steps, name


def _reference_objective(ds, enc, theta0, td, *, through_inner_step=True):
    """PPMO's clipped objective written out by hand (autograd inner step, no torch.func): the
    encoder ``enc`` (a parameter dict) acts on the dataset's states for the inner step and on the
    minibatch's observations for acting; ``through_inner_step=False`` detaches it in the former."""
    from torch.func import functional_call

    def encode(params, x):
        return functional_call(ds.encoder, params, (x,))

    def head(params, features):
        h = torch.tanh(features @ params["2.weight"].T + params["2.bias"])
        return h @ params["4.weight"].T + params["4.bias"]

    inner_enc = enc if through_inner_step else {n: p.detach() for n, p in enc.items()}
    features = encode(inner_enc, ds.observation)
    theta0 = {n: p.detach().requires_grad_() for n, p in theta0.items()}
    mse = ((head(theta0, features) - ds.label) ** 2).mean()
    grads = torch.autograd.grad(mse, list(theta0.values()), create_graph=True)
    theta1 = {n: p - ds.inner_lr * g for (n, p), g in zip(theta0.items(), grads, strict=True)}
    logits = head(theta1, encode(enc, td["observation"]))
    log_prob = torch.distributions.Categorical(logits=logits).log_prob(td["action"])
    ratio = (log_prob - td["action_log_prob"]).exp()
    adv = _normalised(td["advantage"])
    gain = torch.minimum(ratio * adv, ratio.clamp(0.8, 1.2) * adv)
    return -gain.mean()


def test_the_encoder_gradient_flows_through_the_inner_step_as_well_as_through_acting():
    """With encoder rollback the encoder shapes both the features the head is fitted on and the
    features it acts on: its meta-gradient is the full graph's (a hand-built autograd reference),
    not the acting path's alone."""
    loss, ds, td, theta0 = _setup(8, encoder_layers=1, dtype=torch.float64)
    enc = dict(ds.encoder.named_parameters())
    got = torch.autograd.grad(loss(td, theta0)["loss_objective"], list(enc.values()))
    want = torch.autograd.grad(_reference_objective(ds, enc, theta0, td), list(enc.values()))
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-10)
    acting_only = torch.autograd.grad(
        _reference_objective(ds, enc, theta0, td, through_inner_step=False), list(enc.values())
    )
    assert (want[0] - acting_only[0]).abs().max() > 1e-3 * want[0].abs().max()  # the check can fail
