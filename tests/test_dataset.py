"""DistilledDataset: one-step fit, exact save/load round trip, and refusal of bad or hostile files."""

import doctest
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from tensordict import TensorDict

from taskdistill_rl.dataset import DistilledDataset, DistilledFileError, load_distilled
from taskdistill_rl.errors import InvalidInputError


def _ds(k=2, seed=0):
    return DistilledDataset(
        k=k,
        obs_shape=(4,),
        out_features=2,
        generator=torch.Generator().manual_seed(seed),
        meta={"env_id": "NDCartPole-v0", "env_kwargs": {"n_dims": 1}, "preset": "fast"},
    )


def test_save_load_round_trips_exactly(tmp_path):
    ds = _ds()
    with torch.no_grad():
        ds.log_inner_lr.fill_(0.37)
    path = ds.save(tmp_path / "d.pt")
    back = load_distilled(path)
    a, b = ds.to_payload(), back.to_payload()
    for key in ("observation", "label", "inner_lr"):
        assert torch.equal(a[key], b[key])
    assert a["meta"] == b["meta"] and back.meta["env_kwargs"] == {"n_dims": 1}
    back.save(tmp_path / "e.pt")
    assert torch.equal(load_distilled(tmp_path / "e.pt").to_payload()["inner_lr"], a["inner_lr"])


def test_stock_torch_load_gives_the_tensors_and_a_tensordict(tmp_path):
    ds = _ds()
    path = ds.save(tmp_path / "d.pt")
    raw = torch.load(path)  # PyTorch's safe default, no allow-list
    assert raw["meta"]["format_version"] == 2 and raw["meta"]["obs_shape"] == [4]
    td = TensorDict({k: v for k, v in raw.items() if k != "meta"}, batch_size=[])
    assert torch.equal(td["observation"], ds.observation.detach()) and td["inner_lr"].shape == ()
    assert set(ds.to_tensordict().keys()) == {"observation", "label", "inner_lr"}


def test_a_version_1_file_loads_and_fits_a_learner():
    """tests/data/v1_ndcartpole_k2.pt was written by the format-1 code (tests/data/make_v1.py)."""
    ds = load_distilled(Path(__file__).parent / "data" / "v1_ndcartpole_k2.pt")
    assert ds.k == 2 and ds.obs_shape == (4,) and ds.meta["env_id"] == "NDCartPole-v0"
    learner = ds.fit(ds.make_learner(seed=0))
    assert learner(torch.zeros(1, 4)).shape == (1, 2)
    assert ds.learners().spec()["kwargs"]["obs_shape"] == [4]  # its in_features, read as obs_shape


def test_fit_is_one_sgd_step_toward_the_labels():
    ds = _ds()
    learner = ds.make_learner(seed=3)
    before = {n: p.detach().clone() for n, p in learner.named_parameters()}
    loss_before = ((learner(ds.observation.detach()) - ds.label.detach()) ** 2).mean()
    ds.fit(learner)
    ref = ds.make_learner(seed=3)
    loss = ((ref(ds.observation.detach()) - ds.label.detach()) ** 2).mean()
    grads = torch.autograd.grad(loss, list(ref.parameters()))
    for (name, p), g in zip(learner.named_parameters(), grads, strict=True):
        torch.testing.assert_close(p.detach(), before[name] - ds.inner_lr.detach() * g, rtol=0, atol=1e-7)
    assert ((learner(ds.observation.detach()) - ds.label.detach()) ** 2).mean() < loss_before


def test_make_policy_predicts_actions():
    policy = _ds().make_policy(seed=0)
    actions = policy.predict(torch.zeros(5, 4))
    assert actions.shape == (5,) and actions.dtype == torch.int64
    assert policy.predict(torch.zeros(5, 4), deterministic=True).shape == (5,)


def test_fit_rejects_a_mismatched_module():
    with pytest.raises(ValueError, match="outputs 3 values"):
        _ds().fit(torch.nn.Linear(4, 3))
    with pytest.raises(ValueError, match="cannot take"):
        _ds().fit(torch.nn.Linear(5, 2))


@pytest.mark.parametrize("k", [0, -1, 1.5])
def test_k_below_one_is_refused(k):
    with pytest.raises(ValueError, match="k"):
        DistilledDataset(k=k, obs_shape=(4,), out_features=2)


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {Path.cwd() / 'PWNED'}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    payload = _ds().to_payload()
    path = tmp_path / "evil.pt"
    torch.save({**payload, "payload": _Evil()}, path)
    with pytest.raises(DistilledFileError, match=r"evil\.pt"):
        load_distilled(path)
    assert not (Path.cwd() / "PWNED").exists()


def test_truncated_and_corrupt_files(tmp_path):
    good = _ds().save(tmp_path / "good.pt")
    data = good.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.pt").write_bytes(b"not a zip file at all")
    for name in ("trunc.pt", "junk.pt"):
        with pytest.raises(DistilledFileError, match=name):
            load_distilled(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_distilled(tmp_path / "missing.pt")
    assert zipfile.is_zipfile(good)


def _meta(**changes):
    return lambda p: p["meta"].update(changes)


def _learner(kwargs, name="lambda"):
    return _meta(learner={"name": name, "kwargs": kwargs})


@pytest.mark.parametrize(
    "mutate,match",
    [
        (_meta(format_version=99), "newer"),
        (lambda p: p.pop("label"), "label"),
        (lambda p: p.update(inner_lr=torch.tensor(-1.0)), "positive"),
        (lambda p: p.update(label=torch.zeros(3, 2)), "label"),
        (lambda p: p.update(observation=torch.full((2, 4), float("nan"))), "non-finite"),
        (_learner({}, name="os.system"), "not a valid learner distribution"),
        (_learner({"obs_shape": [4], "out_features": 2, "evil": 1}), "not a valid learner distribution"),
        (_learner({"obs_shape": [9], "out_features": 2}), r"takes observations \(9,\)"),
        (_meta(encoder_layers=1), "no encoder"),
    ],
    ids=[
        "newer-version",
        "missing-key",
        "negative-lr",
        "shape",
        "nan",
        "unknown-learner",
        "bad-kwargs",
        "sizes",
        "encoder-missing",
    ],
)
def test_wrong_schema_is_one_clear_error(tmp_path, mutate, match):
    payload = _ds().to_payload()
    payload["meta"].update(format_version=2, k=2)
    mutate(payload)
    path = tmp_path / "bad.pt"
    torch.save(payload, path)
    with pytest.raises(DistilledFileError, match=match):
        load_distilled(path)


# -- Policy.predict as gymnasium and SB3 users call it (issue 13) --------------------------------
def _episode_return(env, policy, seed):
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(policy.predict(obs))  # no conversion
        total += reward
        done = terminated or truncated
    return total


def test_predict_plays_gymnasium_episodes_from_numpy_observations():
    """The shipped 2D file scores ~500 with sampled actions; a uniform-random agent ~20."""
    import gymnasium

    torch.manual_seed(0)  # predict samples with torch's global generator
    env = gymnasium.make("NDCartPole-v0", n_dims=2)
    policy = load_distilled("zoo:ndcartpole-2d").make_policy(seed=0)
    obs, _ = env.reset(seed=0)
    action = policy.predict(obs)
    assert type(action) is int and env.action_space.contains(action)
    returns = [_episode_return(env, policy, seed) for seed in range(3)]
    assert np.mean(returns) >= 200, returns


def test_predict_on_a_numpy_batch_gives_an_int64_array():
    policy = _ds().make_policy(seed=0)
    for deterministic in (False, True):
        actions = policy.predict(np.zeros((5, 4)), deterministic=deterministic)
        assert isinstance(actions, np.ndarray) and actions.dtype == np.int64 and actions.shape == (5,)
    assert type(policy.predict([0.0, 0.0, 0.0, 0.0], deterministic=True)) is int  # a list is NumPy input


def test_continuous_predict_gives_float32_arrays_clipped_only_when_asked():
    import gymnasium

    ds = DistilledDataset(k=2, obs_shape=(3,), out_features=1, continuous=True)
    policy = ds.make_policy(seed=0)
    one, batch = policy.predict(np.zeros(3)), policy.predict(np.zeros((5, 3)), deterministic=True)
    assert one.dtype == np.float32 and one.shape == (1,)
    assert batch.dtype == np.float32 and batch.shape == (5, 1)
    assert isinstance(policy.predict(torch.zeros(5, 3)), torch.Tensor)  # tensors stay tensors
    torch.manual_seed(0)
    box = gymnasium.spaces.Box(-0.01, 0.01, shape=(1,), dtype=np.float32)
    unclipped = policy.predict(np.zeros((200, 3)))  # std exp(0) = 1: most fall outside the box
    clipped = ds.make_policy(seed=0, action_space=box).predict(np.zeros((200, 3)))
    assert np.abs(unclipped).max() > 0.01
    assert clipped.dtype == np.float32 and np.abs(clipped).max() <= 0.01
    assert "unclipped" in repr(policy) and "clipped to action_space" in repr(ds.make_policy(action_space=box))


@pytest.mark.parametrize(
    "obs",
    [np.zeros(3), np.zeros((5, 3)), torch.zeros(5, 8), np.zeros(())],
    ids=["one", "numpy-batch", "tensor-batch", "scalar"],
)
def test_an_observation_of_the_wrong_size_names_both_shapes(obs):
    policy = _ds().make_policy(seed=0)
    shape = re.escape(str(tuple(obs.shape)))
    with pytest.raises(
        InvalidInputError, match=rf"expected an observation of shape \(4,\) .*got shape {shape}"
    ):
        policy.predict(obs)


def test_reprs_say_what_the_dataset_and_policy_are():
    ds = _ds(k=2)
    assert re.fullmatch(
        r"DistilledDataset\(env='NDCartPole-v0', k=2, obs_shape=\(4,\), learner='lambda', inner_lr=0\.02\)",
        repr(ds),
    )
    assert str(ds) == repr(ds)  # print(ds) shows the same
    assert repr(ds.make_policy(seed=0)) == (
        "Policy(env=\"NDCartPole-v0 {'n_dims': 1}\", learner='lambda', obs_shape=(4,), "
        "actions='sample Categorical(logits), argmax if deterministic')"
    )


def test_the_policy_docstring_example_runs():
    from taskdistill_rl.dataset import Policy

    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    for test in finder.find(Policy, "Policy"):
        runner.run(test)
    assert runner.summarize(verbose=False) == (0, 6)


def test_the_wrong_kind_of_file_is_named(tmp_path):
    """Issue 13: a run directory, a checkpoint or a CSV each get a message about what they are."""
    from taskdistill_rl.distill import Distiller

    run = tmp_path / "run"
    Distiller("NDCartPole-v0", k=2, num_envs=4, steps_per_env=8, quiet=True, out_dir=run,
              final_learners=1, final_episodes=1).train(epochs=1)  # fmt: skip
    with pytest.raises(
        DistilledFileError, match=r"a directory, not a distilled .pt file; did you mean .*distilled\.pt"
    ):
        load_distilled(run)
    with pytest.raises(DistilledFileError, match="training checkpoint, not a distilled dataset"):
        load_distilled(run / "checkpoint.pt")
    with pytest.raises(DistilledFileError, match="it is a CSV table"):
        load_distilled(run / "metrics.csv")
