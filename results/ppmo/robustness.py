"""The tail of fresh learners: each must-show run's file over 3,000 fresh learners x 3 sampled episodes.

Run from the repository root after ``results/ppmo/run_must_show.sh``:
``python results/ppmo/robustness.py [--runs runs/must-show]``. Writes
``results/ppmo/<run>/robustness.json`` (1st and 5th percentile of per-learner mean return, their
mean, the share of learners below 475) and prints, per N and k, each seed's values and the median
over seeds beside the run's 100 x 100 mean (its ``eval.json``). One torch thread, seed 21 (as
``build_zoo.py``'s ranking).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

import torch

from taskdistill_rl import load_distilled
from taskdistill_rl.evaluate import evaluate_dataset

LEARNERS, EPISODES, SEED, THRESHOLD = 3000, 3, 21, 475.0


def tail(run: Path) -> dict:
    per_learner = evaluate_dataset(
        load_distilled(run / "distilled.pt"), n_learners=LEARNERS, episodes=EPISODES, seed=SEED
    ).mean(1)
    return {
        "n_learners": LEARNERS,
        "episodes": EPISODES,
        "seed": SEED,
        "p01": float(per_learner.quantile(0.01)),
        "p05": float(per_learner.quantile(0.05)),
        "mean": float(per_learner.mean()),
        "share_below_475": float((per_learner < THRESHOLD).float().mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/must-show"))
    parser.add_argument("--results", type=Path, default=Path("results/ppmo"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    groups = defaultdict(list)
    for run in sorted(args.runs.glob("*d-k*-s*")):
        if not (run / "distilled.pt").is_file():
            continue
        record = tail(run)
        record["mean_100x100"] = json.loads((run / "eval.json").read_text())["results"]["lambda"]["mean"]
        (args.results / run.name).mkdir(parents=True, exist_ok=True)
        (args.results / run.name / "robustness.json").write_text(json.dumps(record, indent=2) + "\n")
        groups[run.name.rsplit("-s", 1)[0]].append((run.name, record))
    print(f"| run | p01 ({LEARNERS} x {EPISODES}) | p05 | mean | share < 475 | mean (100 x 100) |")
    print("|---|---|---|---|---|---|")
    for group, rows in groups.items():
        for name, r in rows:
            print(
                f"| {name} | {r['p01']:.1f} | {r['p05']:.1f} | {r['mean']:.1f} | "
                f"{100 * r['share_below_475']:.2f} % | {r['mean_100x100']:.1f} |"
            )
        med = {key: statistics.median(r[key] for _, r in rows) for key in rows[0][1] if key != "seed"}
        print(
            f"| **{group} median of {len(rows)}** | {med['p01']:.1f} | {med['p05']:.1f} "
            f"| {med['mean']:.1f} | {100 * med['share_below_475']:.2f} % | {med['mean_100x100']:.1f} |"
        )


if __name__ == "__main__":
    main()
