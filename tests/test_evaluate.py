"""Population training (vmap) and batched k-shot evaluation."""

import pytest
import torch
from torch.distributions import Categorical
from torch.func import functional_call

from taskdistill_rl import load_distilled
from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.envs import make_env
from taskdistill_rl.evaluate import evaluate_dataset, evaluate_distributions
from taskdistill_rl.learners import make_learners
from taskdistill_rl.population import fit_population
from taskdistill_rl.rollouts import episode_returns


def learner_params(population, i: int) -> dict:
    """The fitted parameters of learner ``i`` of a population."""
    for index, _, params in population.groups:
        hit = (index == i).nonzero()
        if len(hit):
            return {name: p[int(hit[0])] for name, p in params.items()}
    raise IndexError(i)


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
            worst = max(worst, (learner_params(population, i)[n] - p).abs().max().item())
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
            worst = max(worst, (learner_params(population, i)[n] - p).abs().max().item())
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
    params = learner_params(population, 2)
    torch.testing.assert_close(out[2], functional_call(ds.fit(learners[2]), params, (obs[2],)))


def _hand_evaluation(ds, *, n_learners, episodes, seed, deterministic, normalise=True):
    """The evaluation protocol written out: Λ's learners drawn from ``seed``, fitted one by one
    with ``ds.fit``, learner i acting in sub-envs ``i*episodes ... (i+1)*episodes - 1`` of one
    batched env seeded with ``seed``, sampled actions by inverse transform of one uniform per
    sub-env per step, drawn from a generator seeded with ``seed``; observations through the file's
    ``obs_norm`` (if it has one and ``normalise``) as ``clip((obs - mean) / sqrt(var + 1e-8), ±10)``."""
    dist = ds.learners()
    stacked = dist.sample_stacked(n_learners, torch.Generator().manual_seed(seed))
    fitted = []
    for i in range(n_learners):
        net = dist.build()
        net.load_state_dict({name: p[i] for name, p in stacked.items()})
        fitted.append(ds.fit(net))
    env = make_env(
        ds.meta["env_id"], num_envs=n_learners * episodes, seed=seed, **ds.meta.get("env_kwargs", {})
    )
    noise = torch.Generator().manual_seed(seed)

    def act(obs):
        if ds.obs_norm is not None and normalise:
            obs = ((obs - ds.obs_norm["mean"]) / torch.sqrt(ds.obs_norm["var"] + 1e-8)).clamp(-10, 10)
        logits = torch.cat([net(obs[i * episodes : (i + 1) * episodes]) for i, net in enumerate(fitted)])
        if deterministic:
            return logits.argmax(-1)
        u = torch.rand(len(obs), generator=noise)
        cdf = Categorical(logits=logits).probs.cumsum(-1)
        return (u.unsqueeze(-1) >= cdf[:, :-1]).sum(-1)  # the first action whose cdf passes u

    with torch.no_grad():
        return episode_returns(env, act).reshape(n_learners, episodes)


@pytest.mark.parametrize(
    ("file", "deterministic"),
    [("untrained", True), ("untrained", False), ("zoo:ndcartpole-1d", True), ("zoo:ndcartpole-1d", False)],
    ids=["untrained-argmax", "untrained-sampled", "zoo-1d-argmax", "zoo-1d-sampled"],
)
def test_evaluate_dataset_equals_the_protocol_written_out_by_hand(file, deterministic):
    """Batched sampling, population fitting and the learner -> sub-env layout equal a plain loop
    over learners fitted one by one (the untrained file's returns differ per learner, so a
    shuffled or shared learner would show; the zoo file's are near 500, so a missing step would)."""
    ds = _dataset() if file == "untrained" else load_distilled(file)
    kwargs = {"n_learners": 4, "episodes": 3, "seed": 11, "deterministic": deterministic}
    returns = evaluate_dataset(ds, **kwargs)
    expected = _hand_evaluation(ds, **kwargs)
    assert torch.equal(returns, expected), (returns, expected)
    if file == "untrained" and deterministic:
        assert len({tuple(r.tolist()) for r in returns}) > 1  # learners really differ
    if file != "untrained":
        assert returns.mean() >= 475  # fitted in one step: the step is applied


@pytest.mark.parametrize("deterministic", [True, False], ids=["argmax", "sampled"])
def test_evaluation_normalises_observations_with_the_files_statistics(deterministic):
    """A file with ``obs_norm`` (every MuJoCo file) is evaluated on normalised observations: the
    protocol written out by hand with the normalisation, which raw observations would not give."""
    ds = DistilledDataset(
        k=2,
        obs_shape=(4,),
        out_features=2,
        normalize_obs=True,
        meta={"env_id": "NDCartPole-v0"},
        generator=torch.Generator().manual_seed(0),
    )
    with torch.no_grad():
        ds.log_inner_lr.fill_(0.0)
        ds.obs_mean.copy_(torch.tensor([0.02, -0.3, 0.01, 0.4], dtype=ds.obs_mean.dtype))
        ds.obs_var.copy_(torch.tensor([1e-3, 0.05, 1e-4, 0.2], dtype=ds.obs_var.dtype))
    kwargs = {"n_learners": 4, "episodes": 3, "seed": 11, "deterministic": deterministic}
    returns = evaluate_dataset(ds, **kwargs)
    expected = _hand_evaluation(ds, **kwargs)
    assert torch.equal(returns, expected), (returns, expected)
    raw = _hand_evaluation(ds, **kwargs, normalise=False)
    assert not torch.equal(raw, expected)  # skipping the normalisation would show


def test_distributions_evaluated_in_chunks_equal_each_evaluated_alone():
    """``max_envs`` of one distribution's episodes: every distribution gets its own rollout, which
    must equal evaluating it alone with ``evaluate_dataset(learners=name)``. Argmax actions of the
    untrained file differ per learner, so evaluating the wrong distribution would show."""
    ds = _dataset()
    names = ["lambda", "xavier", "random-l"]
    kwargs = {"n_learners": 3, "episodes": 2, "seed": 5, "deterministic": True}
    chunked = evaluate_distributions(ds, names, max_envs=6, **kwargs)
    assert list(chunked) == names
    for name in names:
        assert torch.equal(chunked[name], evaluate_dataset(ds, learners=name, **kwargs)), name
    assert len({tuple(r.reshape(-1).tolist()) for r in chunked.values()}) == 3
    table = evaluate_distributions(ds, names, **kwargs)  # one rollout of all three
    assert list(table) == names and all(r.shape == (3, 2) for r in table.values())


def test_bad_requests_are_refused():
    ds = _dataset()
    with pytest.raises(ValueError, match="unknown learner distribution"):
        evaluate_distributions(ds, ["kaiming"], n_learners=1, episodes=1)
    with pytest.raises(ValueError, match=">= 1"):
        evaluate_dataset(ds, n_learners=0, episodes=1)
    with pytest.raises(ValueError, match=r"observes \(8,\) but the dataset's observations are \(4,\)"):
        evaluate_dataset(ds, env_kwargs={"n_dims": 2}, n_learners=1, episodes=1)
    with pytest.raises(
        ValueError,
        match=r"InvertedPendulum-v5 \{\} has continuous actions of size 1 but the dataset teaches discrete "
        r"actions of size 2",
    ):
        evaluate_dataset(ds, env_id="InvertedPendulum-v5", env_kwargs={}, n_learners=1, episodes=1)


def _obs_policy(noise: torch.Generator, num_envs: int):
    """Sampled actions of a fixed logistic policy of the observations: one uniform per sub-env
    per step, the rows' own (``index``) when only some sub-envs still play."""
    w = torch.linspace(-1.0, 2.0, 12)

    def act(obs, index=None):
        u = torch.rand(num_envs, generator=noise)
        u = u if index is None else u[index]
        logits = torch.stack([torch.zeros(len(obs)), obs @ w[: obs.shape[1]] * 3], -1)
        return torch.distributions.Categorical(logits=logits).probs.cumsum(-1)[:, 0].le(u).long()

    return act


@pytest.mark.parametrize(
    ("n_dims", "dtype"),
    [(1, torch.float32), (2, torch.float32), (3, torch.float64)],
    ids=["1d", "2d", "3d-float64"],
)
def test_stepping_the_physics_with_shed_episodes_equals_stepping_the_env(n_dims, dtype):
    """``cartpole_episode_returns`` (the evaluation's ND cart-pole path: physics stepped directly,
    ended episodes cut from the batch) gives exactly the returns of ``episode_returns`` on the
    TorchRL env: same initial states, same termination and truncation. Episodes end from a few
    steps to 500, so the batch is compacted many times."""
    from taskdistill_rl.rollouts import cartpole_episode_returns

    n = 300
    kwargs = {"n_dims": n_dims, "dtype": dtype}
    fast = cartpole_episode_returns(
        make_env("NDCartPole-v0", num_envs=n, seed=7, **kwargs),
        _obs_policy(torch.Generator().manual_seed(1), n),
    )
    reference = episode_returns(
        make_env("NDCartPole-v0", num_envs=n, seed=7, **kwargs),
        _obs_policy(torch.Generator().manual_seed(1), n),
    )
    assert torch.equal(fast, reference)
    assert fast.dtype == torch.float64 and len(fast.unique()) > 20 and fast.min() < 30


def test_sampled_actions_follow_the_action_distribution():
    from taskdistill_rl.evaluate import sample_actions

    g = torch.Generator().manual_seed(0)
    n = 200_000
    logits = torch.tensor([0.5, -1.0, 2.0]).expand(n, 3)
    counts = torch.bincount(sample_actions(logits, None, torch.rand(n, generator=g)), minlength=3)
    torch.testing.assert_close(counts / n, logits[0].softmax(-1), rtol=0, atol=0.005)
    two = torch.tensor([0.3, -0.4]).expand(n, 2)
    share = sample_actions(two, None, torch.rand(n, generator=g)).float().mean()
    assert abs(share - two[0].softmax(-1)[1]) < 0.005
    mean, log_std = torch.tensor([[1.0, -2.0]]).expand(n, 2), torch.tensor([0.0, -1.0])
    actions = sample_actions(mean, log_std, torch.randn(n, 2, generator=g))
    torch.testing.assert_close(actions.mean(0), mean[0], rtol=0, atol=0.01)
    torch.testing.assert_close(actions.std(0), log_std.exp(), rtol=0, atol=0.01)


def test_a_seeded_evaluation_is_reproducible_and_leaves_the_global_random_state_alone():
    ds = load_distilled("zoo:ndcartpole-1d")
    names = ["xavier-std1", "random-l"]  # returns vary: a changed stream would show
    state = torch.random.get_rng_state()
    first = evaluate_distributions(ds, names, n_learners=6, episodes=4, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    again = evaluate_distributions(ds, names, n_learners=6, episodes=4, seed=3)
    other = evaluate_distributions(ds, names, n_learners=6, episodes=4, seed=4)
    assert all(torch.equal(first[name], again[name]) for name in names)
    assert not all(torch.equal(first[name], other[name]) for name in names)
    assert first["xavier-std1"].std() > 0


def test_a_table_row_agrees_with_the_papers_protocol_run_learner_by_learner():
    """Stacked acting (padding, sigmoid form, shed episodes) keeps the evaluation statistically the
    same: mixed-architecture distributions evaluated together match each learner fitted and
    stepped on its own in the TorchRL env, within the sampling noise of the means."""
    ds = load_distilled("zoo:ndcartpole-1d")
    table = evaluate_distributions(ds, ["xavier-std1", "random-h"], n_learners=12, episodes=8, seed=2)
    for name in ("xavier-std1", "random-h"):
        dist = make_learners(name, in_features=4, out_features=2)
        g = torch.Generator().manual_seed(9)
        learners = [ds.fit(dist.sample(g)) for _ in range(12)]
        env = make_env("NDCartPole-v0", num_envs=12 * 8, seed=5)
        noise = torch.Generator().manual_seed(5)

        def act(obs, learners=learners, noise=noise):
            logits = torch.cat([net(obs[i * 8 : (i + 1) * 8]) for i, net in enumerate(learners)])
            u = torch.rand(len(obs), generator=noise)
            return (u.unsqueeze(-1) >= logits.softmax(-1).cumsum(-1)[:, :-1]).sum(-1)

        with torch.no_grad():
            reference = episode_returns(env, act)
        spread = (table[name].double().std() + reference.std()) / (96**0.5)
        assert abs(table[name].double().mean() - reference.mean()) < 4 * spread + 1, name
