"""The zoo: every shipped file loads offline and reproduces the evaluation stored in index.json."""

import importlib.util
from pathlib import Path

import pytest
import torch

from taskdistill_rl import load_distilled, zoo
from taskdistill_rl.evaluate import evaluate_dataset

ENTRIES = zoo.entries()
BUILD_ZOO = Path(__file__).resolve().parents[1] / "results" / "ppmo" / "build_zoo.py"


def _build_zoo():
    """results/ppmo/build_zoo.py, which wrote the index: its machine fingerprint is the one compared."""
    spec = importlib.util.spec_from_file_location("build_zoo", BUILD_ZOO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_zoo_lists_every_shipped_file_and_they_load_offline():
    assert {f"ndcartpole-{n}d" for n in (1, 2, 3)} <= set(ENTRIES)
    for name, entry in ENTRIES.items():
        ds = load_distilled(f"zoo:{name}")
        assert ds.meta["env_kwargs"] == entry["env_kwargs"] and ds.k == entry["k"]
        assert entry["command"].startswith("taskdistill distill")
    with pytest.raises(FileNotFoundError, match="no zoo entry 'ndcartpole-9d'"):
        load_distilled("zoo:ndcartpole-9d")


def test_every_entry_records_how_its_evaluation_was_made():
    for name, entry in ENTRIES.items():
        assert isinstance(entry["eval_seed"], int) and entry["action_rule"] in ("sample", "deterministic")
        assert set(entry["machine"]) == {"machine", "cpu", "cpu_capability", "torch", "threads"}, name
        assert entry["evaluation"]["n_learners"] >= 100 and entry["evaluation"]["episodes"] >= 100


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_zoo_entry_reproduces_its_stored_evaluation(name):
    """Re-evaluate the shipped file with the stored seed and protocol, in the stored number of
    torch threads: bit-identical mean, std and learner std on a machine with the stored
    fingerprint (architecture, CPU vendor, ATen CPU capability, torch version), the mean within
    1.0 elsewhere."""
    entry = ENTRIES[name]
    stored = entry["evaluation"]
    threads = torch.get_num_threads()
    torch.set_num_threads(entry["machine"]["threads"])
    try:
        returns = evaluate_dataset(
            load_distilled(f"zoo:{name}"),
            n_learners=stored["n_learners"],
            episodes=stored["episodes"],
            seed=entry["eval_seed"],
            deterministic=entry["action_rule"] == "deterministic",
        )
        here = _build_zoo().machine_fingerprint()
    finally:
        torch.set_num_threads(threads)
    returns = returns.to(torch.float64).reshape(stored["n_learners"], stored["episodes"])
    got = {
        "mean": float(returns.mean()),
        "std": float(returns.reshape(-1).std(unbiased=False)),
        "learner_std": float(returns.mean(1).std(unbiased=False)),
    }
    hint = (
        f"{name}: stored {stored['mean']} (commit {entry.get('eval_commit')}, {entry['machine']}), "
        f"re-evaluated {got} here ({here}); if the evaluation code changed the numbers on purpose, "
        "re-run `python results/ppmo/build_zoo.py --reevaluate`"
    )
    if here == entry["machine"]:
        assert got == {key: stored[key] for key in got}, hint
    else:
        assert abs(got["mean"] - stored["mean"]) <= 1.0, hint
