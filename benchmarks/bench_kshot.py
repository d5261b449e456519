"""k-shot learning at scale: learners fitted per second (vmap vs a Python loop) and evaluation wall time.

Run: ``python benchmarks/bench_kshot.py [--file zoo:ndcartpole-1d]``.

1. Fit 10,000 α_c learners (Λ) on a k=2 1D dataset: one by one with ``DistilledDataset.fit``, with
   ``torch.func.vmap`` over their stacked parameters, and with the in-place population step on
   parameters sampled straight into stacks (what ``evaluate`` uses); learners/s and ratios (goal:
   >= 20,000 learners/s; the paper quotes 20,000 agents per hour on an A100).
2. Wall time of the 100 learners x 100 sampled episodes 1D evaluation (Λ), against the same
   evaluation stepped through the TorchRL env with a ``vmap`` forward per architecture (the
   engine before issue 15), and of the full Table-1 row: the 6 MLP distributions x 100 x 100
   (goal: under 10 s on 2 cores, with the population step still >= 100,000 learners/s).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch.func import stack_module_state, vmap

from taskdistill_rl import DistilledDataset, load_distilled
from taskdistill_rl.actors import action_distribution
from taskdistill_rl.envs import make_env
from taskdistill_rl.evaluate import evaluate_distributions
from taskdistill_rl.inner import inner_step, mlp_layers, mlp_population_step_
from taskdistill_rl.learners import LEARNERS
from taskdistill_rl.population import sample_population
from taskdistill_rl.rollouts import episode_returns

TABLE_1 = [name for name in LEARNERS if name != "nature-cnn"]  # the MLP distributions of Table 1


@torch.no_grad()
def env_vmap_evaluation(ds: DistilledDataset, n: int, episodes: int, seed: int) -> torch.Tensor:
    """Λ's evaluation through the TorchRL env (a TensorDict per step, every episode stepped to the
    end of the longest) and ``vmap`` over the population: the baseline."""
    population = sample_population(ds, ds.learners(), n, torch.Generator().manual_seed(seed))
    env = make_env(ds.meta["env_id"], num_envs=n * episodes, seed=seed, **ds.meta.get("env_kwargs", {}))

    def act(obs):
        raw = population(ds.encode(ds.normalize(obs)).reshape(n, episodes, -1)).reshape(n * episodes, -1)
        return action_distribution(raw, None).sample()

    torch.manual_seed(seed)
    return episode_returns(env, act).reshape(n, episodes)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--file", default="zoo:ndcartpole-1d")
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--loop-learners", type=int, default=500)
    args = parser.parse_args()
    ds = load_distilled(args.file)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.file}: k={ds.k}")
    # Fitting speed does not depend on the values: time it on a k=2 1D dataset (the case).
    fit_ds = DistilledDataset(k=2, obs_shape=(4,), out_features=2, generator=torch.Generator().manual_seed(0))
    distribution = fit_ds.learners()
    generator = torch.Generator().manual_seed(0)
    modules = [distribution.sample(generator) for _ in range(args.learners)]
    X, Y, lr = fit_ds.observation.detach(), fit_ds.label.detach(), fit_ds.inner_lr.detach()

    start = time.perf_counter()
    for learner in modules[: args.loop_learners]:
        fit_ds.fit(learner)
    loop_rate = args.loop_learners / (time.perf_counter() - start)

    def vmap_fit():  # stack the modules' parameters, then torch.func.vmap over the generic inner step
        params = {n: p.detach() for n, p in stack_module_state(modules)[0].items()}
        with torch.no_grad():
            return vmap(lambda p: inner_step(skeleton, p, X, Y, lr))(params)

    skeleton = copy.deepcopy(modules[0]).to("meta")
    start = time.perf_counter()
    vmap_fit()
    vmap_rate = args.learners / (time.perf_counter() - start)

    rates = []  # in place, so a fresh draw each round; the median of 5 rounds (the first warms up)
    for _ in range(5):
        stacked = distribution.sample_stacked(args.learners, generator)  # sampled straight into stacks
        start = time.perf_counter()
        mlp_population_step_(mlp_layers(skeleton), stacked, X, Y, float(lr))
        rates.append(args.learners / (time.perf_counter() - start))
    batched_rate = statistics.median(rates)

    print("\n## Fitting fresh learners in one SGD step (drawing the initialisations excluded)")
    print("| method | learners/s | vs loop |")
    print("|---|---|---|")
    print(f"| Python loop of DistilledDataset.fit ({args.loop_learners}) | {loop_rate:,.0f} | 1.0 |")
    print(
        f"| torch.func.vmap over stacked modules ({args.learners}) "
        f"| {vmap_rate:,.0f} | {vmap_rate / loop_rate:.1f} |"
    )
    print(
        f"| population step, stacked params, in place ({args.learners}, median of 5; what evaluate uses) "
        f"| {batched_rate:,.0f} | {batched_rate / loop_rate:.1f} |"
    )
    print("goal: >= 100,000 learners/s (population step)")

    print("\n## Batched evaluation (sampled actions)")
    print("| evaluation | wall s | vs TorchRL env + vmap |")
    print("|---|---|---|")
    start = time.perf_counter()
    baseline = env_vmap_evaluation(ds, 100, 100, seed=0)
    base_wall = time.perf_counter() - start
    label = f"Λ x 100 x 100 through the TorchRL env, vmap forward (mean {baseline.mean():.1f})"
    print(f"| {label} | {base_wall:.1f} | 1.0 |")
    for names in (["lambda"], TABLE_1):
        start = time.perf_counter()
        results = evaluate_distributions(ds, names, n_learners=100, episodes=100, seed=0)
        wall = time.perf_counter() - start
        means = ", ".join(f"{n} {r.mean():.1f}" for n, r in results.items())
        ratio = f"{base_wall / wall:.1f}" if len(names) == 1 else "-"
        print(f"| {len(names)} distribution(s) x 100 x 100 ({means}) | {wall:.1f} | {ratio} |")
    print("goal: the 6 distributions x 100 x 100 on 1D in under 10 s on 2 cores")


if __name__ == "__main__":
    main()
