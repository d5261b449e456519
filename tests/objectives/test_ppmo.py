"""PPMOLoss: ratio 1 gives the plain policy gradient; critic and dataset get separate gradients."""

import torch
from tensordict import TensorDict
from torch import nn
from torchrl.modules import ValueOperator

from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.objectives import PPMOLoss


def _setup(seed=0):
    torch.manual_seed(seed)
    ds = DistilledDataset(k=2, obs_shape=(4,), out_features=2, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ds.log_inner_lr.fill_(0.0)  # lr 1: a visible inner step
    learners = ds.learners()
    learner = learners.sample(torch.Generator().manual_seed(seed + 1))
    critic = ValueOperator(
        nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)), in_keys=["observation"]
    )
    loss = PPMOLoss(learners.build(), ds, critic)
    loss.set_initialisation(learner)
    n = 64
    obs = torch.randn(n, 4)
    with torch.no_grad():
        logits = torch.func.functional_call(loss.learner, loss.current_params(), (obs,))
        dist = torch.distributions.Categorical(logits=logits)
        action = dist.sample()
        lp = dist.log_prob(action)  # π^0 = the current one-step learner
    td = TensorDict(
        observation=obs,
        action=action,
        action_log_prob=lp,
        advantage=torch.randn(n, 1),
        value_target=torch.randn(n, 1),
        batch_size=[n],
    )
    return loss, ds, td


def test_ratio_one_gives_the_plain_policy_gradient():
    loss, ds, td = _setup()
    out = loss(td)
    assert out["clip_fraction"] == 0 and abs(out["ESS"].item() - 1) < 1e-6
    params = [ds.observation, ds.label, ds.log_inner_lr]
    g_ppmo = torch.autograd.grad(out["loss_objective"], params)
    adv = td["advantage"].squeeze(-1)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    logits = torch.func.functional_call(loss.learner, loss.current_params(), (td["observation"],))
    logp = torch.distributions.Categorical(logits=logits).log_prob(td["action"])
    g_pg = torch.autograd.grad(-(adv * logp).mean(), params)
    for a, b in zip(g_ppmo, g_pg, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert any(g.abs().sum() > 0 for g in g_ppmo)


def test_critic_loss_trains_only_the_critic():
    loss, ds, td = _setup(1)
    out = loss(td)
    out["loss_critic"].backward()
    assert ds.observation.grad is None and ds.label.grad is None
    assert all(p.grad is not None for p in loss.critic_network_params.values(True, True))
    ds.zero_grad()
    loss.zero_grad()
    loss(td)["loss_objective"].backward()
    assert ds.observation.grad is not None
    assert all(
        p.grad is None or p.grad.abs().sum() == 0 for p in loss.critic_network_params.values(True, True)
    )


def test_clipping_stops_the_gradient_outside_the_trust_region():
    loss, ds, td = _setup(2)
    loss.normalize_advantage = False  # keep every advantage positive: all ratios clip from above
    td["action_log_prob"] = td["action_log_prob"] - 1.0  # ratio e > 1.2 everywhere
    td["advantage"] = torch.ones_like(td["advantage"]) + torch.rand_like(td["advantage"])
    out = loss(td)
    assert out["clip_fraction"] == 1.0
    grads = torch.autograd.grad(out["loss_objective"], [ds.observation, ds.label], allow_unused=True)
    assert all(g is None or g.abs().max() < 1e-6 for g in grads)


def test_set_keys():
    loss, _, td = _setup(3)
    loss.set_keys(advantage="adv2")
    assert loss.tensor_keys.advantage == "adv2"
    td["adv2"] = td.pop("advantage")
    assert torch.isfinite(loss(td)["loss_objective"])
