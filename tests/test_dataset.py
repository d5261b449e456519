"""DistilledDataset: one-step fit, exact save/load round trip, and refusal of bad or hostile files."""

import os
import zipfile
from pathlib import Path

import pytest
import torch
from tensordict import NonTensorData

from taskdistill_rl.dataset import DistilledDataset, DistilledFileError, load_distilled


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
    a, b = ds.to_tensordict(), back.to_tensordict()
    for key in ("observation", "label", "inner_lr"):
        assert torch.equal(a[key], b[key])
    assert a["meta"] == b["meta"] and back.meta["env_kwargs"] == {"n_dims": 1}
    back.save(tmp_path / "e.pt")
    assert torch.equal(load_distilled(tmp_path / "e.pt").to_tensordict()["inner_lr"], a["inner_lr"])


def test_plain_torch_load_gives_a_tensordict(tmp_path):
    path = _ds().save(tmp_path / "d.pt")
    td = torch.load(path, weights_only=False)
    assert set(td.keys()) >= {"observation", "label", "inner_lr", "meta"} and td["inner_lr"].shape == ()


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
    td = _ds().to_tensordict()
    path = tmp_path / "evil.pt"
    torch.save({"td": td, "payload": _Evil()}, path)
    with pytest.raises(DistilledFileError, match=r"evil\.pt: refused"):
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


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda td: td.set("meta", NonTensorData({**td["meta"], "format_version": 99})), "newer"),
        (lambda td: td.del_("label"), "missing key 'label'"),
        (lambda td: td.set("inner_lr", torch.tensor(-1.0)), "positive"),
        (lambda td: td.set("label", torch.zeros(3, 2)), "must be"),
        (lambda td: td.set("observation", torch.full((2, 4), float("nan"))), "non-finite"),
        (
            lambda td: td.set(
                "meta", NonTensorData({**td["meta"], "learner": {"name": "os.system", "kwargs": {}}})
            ),
            "not a valid learner distribution",
        ),
        (
            lambda td: td.set(
                "meta",
                NonTensorData(
                    {**td["meta"], "learner": {"name": "lambda", "kwargs": {"in_features": 4, "evil": 1}}}
                ),
            ),
            "not a valid learner distribution",
        ),
        (
            lambda td: td.set(
                "meta",
                NonTensorData(
                    {
                        **td["meta"],
                        "learner": {"name": "lambda", "kwargs": {"in_features": 9, "out_features": 2}},
                    }
                ),
            ),
            "takes 9 inputs",
        ),
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
    ],
)
def test_wrong_schema_is_one_clear_error(tmp_path, mutate, match):
    td = _ds().to_tensordict()
    mutate(td)
    path = tmp_path / "bad.pt"
    torch.save(td, path)
    with pytest.raises(DistilledFileError, match=match):
        load_distilled(path)
