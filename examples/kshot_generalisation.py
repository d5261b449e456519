"""k-shot generalisation: do learners the files were NOT distilled for learn from them in one step?

Run: ``python examples/kshot_generalisation.py [OUT]`` (default ``runs/kshot-generalisation``).

Uses the distilled 1D and 2D cart-pole files shipped in the package (``zoo:ndcartpole-1d``,
``zoo:ndcartpole-2d``), so nothing is distilled here. It computes what
``taskdistill evaluate FILE --learners all`` prints (paper Table 1: six learner distributions
of other initialisations and architectures, both with sampled and with argmax actions) and
``taskdistill evaluate zoo:ndcartpole-2d --grid`` (paper Table 6: 0-5 hidden layers x 32-256
units). Budget: the paper's 100 fresh learners x 100 episodes per cell, 3-6 minutes on 2 cores.
Expect ~500 for Λ and for the random widths and depths, far less for the other initialisations
(paper §4.1: one step is more sensitive to the initialisation than to the architecture). With
``TASKDISTILL_EXAMPLE_TINY=1``: 8 learners x 2 episodes per cell (seconds; the same tables, noisier).
"""

import json
import os
import sys
from pathlib import Path

import torch

from taskdistill_rl import evaluate_distributions, load_distilled
from taskdistill_rl.envs.families import family_of
from taskdistill_rl.learners import GRID_DEPTHS, GRID_WIDTHS, grid_names

TINY = os.environ.get("TASKDISTILL_EXAMPLE_TINY") == "1"
N_LEARNERS, EPISODES = (8, 2) if TINY else (100, 100)
SEED = 0


def cell(returns: torch.Tensor) -> str:
    """Table 1's cell: mean over all episodes ± std over the per-learner means (the paper's ±)."""
    return f"{returns.mean():.1f} ± {returns.mean(1).std(unbiased=False):.1f}"


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/kshot-generalisation")
    out.mkdir(parents=True, exist_ok=True)
    # `--learners all`: every MLP distribution (the image learners are evaluated by name)
    names = list(family_of("NDCartPole-v0").learners_all)
    print(f"{N_LEARNERS} fresh learners x {EPISODES} episodes per cell; distributions: {', '.join(names)}")

    table = {}
    for ref in ("zoo:ndcartpole-1d", "zoo:ndcartpole-2d"):
        ds = load_distilled(ref)
        for deterministic in (False, True):
            # One call evaluates every distribution: each draws N_LEARNERS fresh networks, fits
            # them in ONE SGD step on the file, and plays all learner x episode pairs together.
            returns = evaluate_distributions(
                ds, names, n_learners=N_LEARNERS, episodes=EPISODES, seed=SEED, deterministic=deterministic
            )
            rule = "argmax" if deterministic else "sampled"
            table[f"{ref} {rule}"] = {name: cell(r) for name, r in returns.items()}
            for r in returns.values():
                assert r.shape == (N_LEARNERS, EPISODES)
                assert ((r >= 1) & (r <= 500)).all()  # every episode scores 1..500 steps
            if not deterministic:
                # the file's own Λ: the zoo's 1D file scores 500 on every learner it was measured on
                assert ref != "zoo:ndcartpole-1d" or returns["lambda"].mean() > 450
        # An evaluation is a function of its seed: the same call gives the same returns.
        first, second = (
            evaluate_distributions(ds, ["xavier"], n_learners=N_LEARNERS, episodes=EPISODES, seed=SEED)
            for _ in range(2)
        )
        assert torch.equal(first["xavier"], second["xavier"])

    header = "| file, action rule | " + " | ".join(names) + " |"
    print("\nTable 1 (mean ± std over per-learner means)\n\n" + header + "\n|" + "---|" * (len(names) + 1))
    for row, cells in table.items():
        print(f"| {row} | " + " | ".join(cells[name] for name in names) + " |")

    # Table 6: Λ's initialisation on every architecture of the grid, "LxH" names.
    ds = load_distilled("zoo:ndcartpole-2d")
    grid = evaluate_distributions(ds, grid_names(), n_learners=N_LEARNERS, episodes=EPISODES, seed=SEED)
    assert len(grid) == len(GRID_DEPTHS) * len(GRID_WIDTHS)
    print("\nTable 6, zoo:ndcartpole-2d, sampled actions (mean return)\n")
    print("| | " + " | ".join(f"h={w}" for w in GRID_WIDTHS) + " |\n|" + "---|" * (len(GRID_WIDTHS) + 1))
    for depth in GRID_DEPTHS:
        print(
            f"| L={depth} | " + " | ".join(f"{grid[f'{depth}x{w}'].mean():.1f}" for w in GRID_WIDTHS) + " |"
        )

    results = {"n_learners": N_LEARNERS, "episodes": EPISODES, "seed": SEED, "table1": table}
    results["table6"] = {name: float(r.mean()) for name, r in grid.items()}
    (out / "kshot.json").write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out / 'kshot.json'}")
