"""Make the format-v1 files that ``tests/test_fileformat.py`` reads (issue 12: v1 files keep loading).

Format v1 was ``torch.save`` of one ``TensorDict`` whose ``meta`` is a ``NonTensorData``, written by
``DistilledDataset.save`` up to commit d200e72. This script rebuilds that layout by hand (the
dataset class now writes v2), from the same random draws as
``DistilledDataset(k=2, obs_shape=..., out_features=2, generator=torch.Generator().manual_seed(s))``.
When the files were committed, their bytes were checked equal to what that commit's
``DistilledDataset.save`` wrote for the same arguments, with the package imported from a checkout of
that commit (``git archive d200e72 | tar -x -C /tmp/v1``)::

    PYTHONPATH=/tmp/v1 python tests/data/make_v1.py --check-against-dataset

Files (run once; the committed files are the reference, the test pins their sha256):
    v1_ndcartpole_k2.pt     k=2, obs_shape (4,), 2 logits, meta env_id NDCartPole-v0, env_kwargs {"n_dims": 1}
    v1_continuous_norm.pt   k=2, obs_shape (3,), 2 action means, log_std, obs_norm

Usage:
    python tests/data/make_v1.py [--check-against-dataset]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
from tensordict import NonTensorData, TensorDict

from taskdistill_rl.io import atomic_write

HERE = Path(__file__).resolve().parent
INITIAL_INNER_LR = 2e-2  # the v1 DistilledDataset's initial inner lr


def v1_tensordict(
    *, seed: int, obs_shape: tuple[int, ...], meta: dict, log_std=None, obs_mean=None, obs_var=None
) -> TensorDict:
    """``DistilledDataset.to_tensordict()`` as it was in format v1, for a freshly built dataset."""
    generator = torch.Generator().manual_seed(seed)
    k, out_features = 2, 2
    observation = torch.randn(k, *obs_shape, generator=generator)
    label = torch.randn(k, out_features, generator=generator) * 0.1
    inner_lr = torch.tensor(math.log(INITIAL_INNER_LR)).exp()
    td = TensorDict({"observation": observation, "label": label, "inner_lr": inner_lr}, batch_size=[])
    if log_std is not None:
        td["log_std"] = torch.tensor(log_std)
    if obs_mean is not None:
        td["obs_norm"] = TensorDict(
            {"mean": torch.tensor(obs_mean), "var": torch.tensor(obs_var)}, batch_size=[]
        )
    learner = {
        "name": "lambda",
        "kwargs": {"in_features": math.prod(obs_shape), "out_features": out_features},
    }
    td["meta"] = NonTensorData({**meta, "format_version": 1, "k": k, "learner": learner})
    return td


FILES = {
    "v1_ndcartpole_k2.pt": dict(
        seed=0, obs_shape=(4,), meta={"env_id": "NDCartPole-v0", "env_kwargs": {"n_dims": 1}}
    ),
    "v1_continuous_norm.pt": dict(
        seed=1,
        obs_shape=(3,),
        meta={"env_id": "InvertedPendulum-v5", "env_kwargs": {}, "preset": "fast"},
        log_std=[-0.5, 0.25],
        obs_mean=[0.5, -1.0, 2.0],
        obs_var=[1.5, 0.25, 4.0],
    ),
}


def check_against_dataset(name: str, spec: dict) -> None:
    """The bytes equal what the v1 ``DistilledDataset.save`` wrote for the same dataset."""
    from taskdistill_rl import dataset

    if getattr(dataset, "FORMAT_VERSION", None) != 1:
        raise SystemExit(f"{dataset.__file__} does not write format v1: import a checkout of d200e72")
    DistilledDataset = dataset.DistilledDataset
    ds = DistilledDataset(
        k=2,
        obs_shape=spec["obs_shape"],
        out_features=2,
        continuous="log_std" in spec,
        normalize_obs="obs_mean" in spec,
        meta=spec["meta"],
        generator=torch.Generator().manual_seed(spec["seed"]),
    )
    with torch.no_grad():
        if "log_std" in spec:
            ds.log_std.copy_(torch.tensor(spec["log_std"]))
        if "obs_mean" in spec:
            ds.obs_mean.copy_(torch.tensor(spec["obs_mean"]))
            ds.obs_var.copy_(torch.tensor(spec["obs_var"]))
    reference = ds.save(HERE / f".{name}.reference")
    try:
        same = reference.read_bytes() == (HERE / name).read_bytes()
    finally:
        reference.unlink()
    print(f"{name}: {'identical to' if same else 'DIFFERENT from'} DistilledDataset.save")
    if not same:
        raise SystemExit(1)


def main() -> None:
    for name, spec in FILES.items():
        td = v1_tensordict(**spec)
        atomic_write(HERE / name, lambda f, td=td: torch.save(td, f))
        print(f"wrote {HERE / name}")
        if "--check-against-dataset" in sys.argv:
            check_against_dataset(name, spec)


if __name__ == "__main__":
    main()
