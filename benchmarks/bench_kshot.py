"""k-shot learning at scale: learners fitted per second (vmap vs a Python loop) and evaluation wall time.

Run: ``python benchmarks/bench_kshot.py [--file zoo:ndcartpole-1d]``.

1. Fit 10,000 α_c learners (Λ) on a k=2 1D file with one vmapped SGD step vs fitting them one by
   one with ``DistilledDataset.fit``; prints learners/s and the ratio (goal: >= 20,000 learners/s;
   the paper quotes 20,000 agents per hour on an A100).
2. Wall time of the 100 learners x 100 sampled episodes 1D evaluation (Λ), and of the full
   Table-1 row: 6 distributions x 100 x 100 (goal: under 60 s on 2 cores).
"""

from __future__ import annotations

import argparse
import time

import torch

from taskdistill_rl import load_distilled
from taskdistill_rl.evaluate import evaluate_distributions, fit_population
from taskdistill_rl.learners import LEARNERS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", default="zoo:ndcartpole-1d")
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--loop-learners", type=int, default=500)
    args = parser.parse_args()
    ds = load_distilled(args.file)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.file}: k={ds.k}")

    distribution = ds.learners()
    generator = torch.Generator().manual_seed(0)
    population = [distribution.sample(generator) for _ in range(args.learners)]
    fit_population(ds, population[:100])  # warm-up
    start = time.perf_counter()
    fit_population(ds, population)
    vmap_rate = args.learners / (time.perf_counter() - start)
    start = time.perf_counter()
    for learner in population[: args.loop_learners]:
        ds.fit(learner)
    loop_rate = args.loop_learners / (time.perf_counter() - start)
    print("\n## Fitting fresh learners in one SGD step (sampling the inits excluded)")
    print("| method | learners/s |")
    print("|---|---|")
    print(f"| Python loop of DistilledDataset.fit ({args.loop_learners}) | {loop_rate:,.0f} |")
    print(f"| vmap population ({args.learners}) | {vmap_rate:,.0f} |")
    print(f"ratio vmap / loop: {vmap_rate / loop_rate:.1f}  (goal: >= 20,000 learners/s)")

    print("\n## Batched evaluation (sampled actions)")
    print("| evaluation | wall s |")
    print("|---|---|")
    for names in (["lambda"], list(LEARNERS)):
        start = time.perf_counter()
        results = evaluate_distributions(ds, names, n_learners=100, episodes=100, seed=0)
        wall = time.perf_counter() - start
        means = ", ".join(f"{n} {r.mean():.1f}" for n, r in results.items())
        print(f"| {len(names)} distribution(s) x 100 x 100 ({means}) | {wall:.1f} |")
    print("goal: 6 distributions x 100 x 100 on 1D in under 60 s")


if __name__ == "__main__":
    main()
