"""Copy the best finished must-show run per N into the package zoo and write its index.json.

Run from the repository root after ``results/ppmo/run_must_show.sh``:
``python results/ppmo/build_zoo.py [--runs runs/must-show]``. Candidates are all runs of that N
(any k). "Best" = the most robust over fresh learners: the highest 1st percentile of per-learner
mean return over 3,000 fresh learners x 3 sampled episodes (the product promises that *any* fresh
learner acts well; a file with a 1-2% tail of failing inits is worse than one without), ties
broken by the run's 100 x 100 mean.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import tomllib

ZOO = Path("taskdistill_rl/zoo")
DIMS = (1, 2, 3, 4, 5)


def robustness(run: Path) -> tuple[float, float]:
    """(1st percentile of per-learner mean return over 3,000 fresh learners, the run's mean)."""
    import torch

    from taskdistill_rl import load_distilled
    from taskdistill_rl.evaluate import evaluate_dataset

    returns = evaluate_dataset(load_distilled(run / "distilled.pt"), n_learners=3000, episodes=3, seed=21)
    p01 = float(torch.quantile(returns.mean(1), 0.01))
    mean = json.loads((run / "eval.json").read_text())["results"]["lambda"]["mean"]
    print(f"  {run.name}: 1st percentile {p01:.1f}, mean {mean:.1f}")
    return p01, mean


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=Path, default=Path("runs/must-show"))
    args = parser.parse_args()
    index = {}
    for n in DIMS:
        candidates = sorted(args.runs.glob(f"{n}d-k*-s*"))
        finished = [c for c in candidates if (c / "distilled.pt").is_file() and (c / "eval.json").is_file()]
        if not finished:
            print(f"{n}D: no finished run, skipped")
            continue
        scores = {c: robustness(c) for c in finished}
        best = max(finished, key=lambda c: scores[c])
        evaluation = json.loads((best / "eval.json").read_text())
        config = tomllib.loads((best / "config.toml").read_text())
        summary = json.loads((best / "summary.json").read_text())
        name = f"ndcartpole-{n}d"
        k = config["k"]
        shutil.copyfile(best / "distilled.pt", ZOO / f"{name}.pt")
        command = (
            f"taskdistill distill --env NDCartPole-v0 --env-kwargs n_dims={n} --k {k} "
            f"--seed {config['seed']} --time-budget {config['time_budget']:g} --out runs/{name}"
        )
        index[name] = {
            "file": f"{name}.pt",
            "env_id": "NDCartPole-v0",
            "env_kwargs": {"n_dims": n},
            "k": k,
            "evaluation": evaluation["results"]["lambda"],
            "learner_p01": scores[best][0],
            "action_rule": evaluation["action_rule"],
            "command": command,
            "meta_epochs": summary["meta_epochs"],
            "note": "time-budgeted on 2 CPU cores, one thread: meta-epochs reached vary with machine speed",
        }
        print(f"{name}: {best.name} mean {index[name]['evaluation']['mean']:.1f}")
    (ZOO / "index.json").write_text(json.dumps(index, indent=2) + "\n")


if __name__ == "__main__":
    main()
