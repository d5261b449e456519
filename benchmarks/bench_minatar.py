"""Seconds per PPMO meta-epoch on MinAtar with the default learner (2x512 on 10x10xC frames),
with the one step applied without forming θ1 (``inner.mlp_stepped_forward``, the default there)
against forming θ1 per initialisation and minibatch (what every MLP did before), in one run.

Run: ``python benchmarks/bench_minatar.py`` (``--env MinAtar/SpaceInvaders-v1``, ``--epochs 6``,
``--threads 1``). Both sides run the same seed and config on HaDES's protocol (no sticky actions,
1,000-step cap), one after the other; the table gives the median collect and update seconds per
meta-epoch (the first meta-epoch of each side, set-up included, is dropped) and update ratio
formed / stepped.
"""

from __future__ import annotations

import argparse
import statistics

from taskdistill_rl import inner
from taskdistill_rl.algorithms.ppmo import PPMO
from taskdistill_rl.devices import torch_threads

FORM_ALWAYS = float("inf")  # no saving is ever enough: θ1 formed, as before the stepped forward


def time_epochs(env: str, epochs: int, saving: float, threads: int) -> dict[str, float]:
    """Median collect / update seconds over ``epochs`` meta-epochs after a first one."""
    inner.STEPPING_SAVING, default = saving, inner.STEPPING_SAVING
    try:
        with torch_threads(threads):
            kwargs = {"sticky_action_prob": 0, "max_episode_steps": 1000}
            algo = PPMO(env, env_kwargs=kwargs, seed=0, threads=threads)
            rows = [algo.step() for _ in range(epochs + 1)][1:]
            algo.close()
    finally:
        inner.STEPPING_SAVING = default
    return {
        part: statistics.median(row[f"time/{part}_seconds"] for row in rows) for part in ("rollout", "update")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="MinAtar/Breakout-v1")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    sides = {"stepped (default)": inner.STEPPING_SAVING, "formed θ1": FORM_ALWAYS}
    results = {
        name: time_epochs(args.env, args.epochs, saving, args.threads) for name, saving in sides.items()
    }
    print(f"{args.env}, 2x512, fast preset, {args.epochs} meta-epochs each, {args.threads} thread(s)")
    print(f"{'one step':<18} {'collect s':>10} {'update s':>10}")
    for name, row in results.items():
        print(f"{name:<18} {row['rollout']:>10.2f} {row['update']:>10.2f}")
    stepped, formed = results["stepped (default)"], results["formed θ1"]
    print(f"update ratio formed / stepped: {formed['update'] / stepped['update']:.2f}")
    total = (formed["rollout"] + formed["update"]) / (stepped["rollout"] + stepped["update"])
    print(f"meta-epoch ratio formed / stepped: {total:.2f}")


if __name__ == "__main__":
    main()
