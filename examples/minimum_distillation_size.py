"""Minimum distillation size: distil 1D cart-pole at several k and see where learning starts.

Run: ``python examples/minimum_distillation_size.py [OUT]`` (default ``runs/kmin-1d``).

The paper's Eq. 3 says c actions need k_min = ceil(c/2) + 1 soft-labelled states: 2 for 1D
cart-pole's two actions. This runs ``taskdistill kmin`` (through ``taskdistill_rl.cli.main``,
the command's own entry point), then reads what it wrote with the library. Budget: k = 1..4,
40 meta-epochs each (what the zoo's 1D file needed to score 500), then 100 fresh learners x 100
sampled episodes per k: a few minutes on 2 cores; expect every k to learn, k = 1 included (see
docs/distillation.md: one step on fewer states than Eq. 3 asks for still separates the actions
here). With ``TASKDISTILL_EXAMPLE_TINY=1``: k = 1, 2 with 2 small meta-epochs each and 5 learners
x 2 episodes (seconds; nothing is learned yet, so no k "learns").
"""

import json
import os
import sys
from pathlib import Path

from taskdistill_rl import evaluate_dataset, load_distilled
from taskdistill_rl.cli import main
from taskdistill_rl.config import k_min

TINY = os.environ.get("TASKDISTILL_EXAMPLE_TINY") == "1"

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/kmin-1d")
    ks = [1, 2] if TINY else [1, 2, 3, 4]
    args = ["kmin", "--env", "NDCartPole-v0", "--env-kwargs", "n_dims=1", "--k", ",".join(map(str, ks))]
    if TINY:
        # DistillConfig fields without a flag of their own come from a --config TOML file
        config = out.with_name(out.name + "-tiny.toml")
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text("num_envs = 16\nsteps_per_env = 16\ninits_per_epoch = 4\n")
        args += ["--epochs", "2", "--n-learners", "5", "--episodes", "2", "--config", str(config)]
    else:
        args += ["--epochs", "40"]  # epochs, not --time-budget: the same tensors on any machine
    # --overwrite: start afresh in OUT (--resume instead skips the k values already finished)
    assert main([*args, "--seed", "0", "--out", str(out), "--overwrite"]) == 0

    # OUT/kmin.json: one row per k, the random agent's mean and Eq. 3's prediction
    summary = json.loads((out / "kmin.json").read_text())
    assert summary["predicted_k_min"] == k_min(2) == 2  # ceil(2 / 2) + 1
    rows = {int(k): row for k, row in summary["results"].items()}
    assert sorted(rows) == ks
    best = max(row["mean"] for row in rows.values())
    for k, row in rows.items():
        # "learns": at least half the best k's mean and three times the uniform-random agent's
        learns = row["mean"] >= 0.5 * best and row["mean"] >= 3 * summary["random_mean"]
        assert row["learns"] == learns
        # OUT/k<k>/ is an ordinary distill run directory: its file holds exactly k states
        ds = load_distilled(out / f"k{k}" / "distilled.pt")
        assert ds.k == k and tuple(ds.observation.shape) == (k, 4)
        print(f"k={k}: {row['mean']:.1f} ± {row['learner_std']:.1f}, learns: {learns}; {row['reproduce']}")
    starts = next((k for k in ks if rows[k]["learns"]), None)
    assert summary["learning_starts_at"] == starts

    # Every row is reproducible from its evaluation seed (OUT/k<k>/eval.json) alone.
    k = ks[-1]
    record = json.loads((out / f"k{k}" / "eval.json").read_text())
    row = rows[k]
    returns = evaluate_dataset(
        load_distilled(out / f"k{k}" / "distilled.pt"),
        n_learners=row["n_learners"],
        episodes=row["episodes"],
        seed=record["seed"],
    )
    assert abs(float(returns.mean()) - row["mean"]) < 1e-6
    print(f"random agent {summary['random_mean']:.1f}; learning starts at k = {starts}; Eq. 3: k_min = 2")
