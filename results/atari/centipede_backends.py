"""The authors' Centipede file scored on both Atari backends, gymnasium and EnvPool (issue 23).

``centipede_fulldistill.pt`` (l = 0) is imported with ``taskdistill import``'s function, fitted in
one step into 20 fresh Nature-CNN learners, and each learner plays 5 full games of
``CentipedeNoFrameskip-v4`` with sampled actions (raw score, cut at 27,000 agent steps) on each
backend. Same seed on both: the same 20 learners and the same action noise, so only the
emulators' own random draws (the reset no-ops) differ. The standard error of a mean is the
std of the 20 per-learner means / sqrt(20) (a learner's 5 games are not independent draws of the
protocol); the means agree when their difference is within 2 standard errors of the difference,
sqrt(se_a² + se_b²). The JSON is rewritten after each backend (partial progress).

    python results/atari/centipede_backends.py [AUTHORS_DIR] [--out results/atari/centipede_backends.json]
    python results/atari/centipede_backends.py --seed 1 --out results/atari/centipede_backends_seed1.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from taskdistill_rl.evaluate import evaluate_distributions
from taskdistill_rl.importers import import_authors_file
from taskdistill_rl.results import results_entry, run_metadata

ENV = "CentipedeNoFrameskip-v4"
BACKENDS = ("gymnasium", "envpool")


def standard_error(entry: dict) -> float:
    """The per-learner means' sample std / sqrt(learners) (``learner_std`` divides by n)."""
    n = entry["n_learners"]
    return entry["learner_std"] / math.sqrt(n - 1) if n > 1 else math.nan


def compare(report: dict) -> dict:
    a, b = (report[name] for name in BACKENDS)
    diff = b["mean"] - a["mean"]
    se = math.hypot(a["se"], b["se"])
    paired = torch.tensor(b["learner_means"]) - torch.tensor(a["learner_means"])
    paired_se = float(paired.std(unbiased=True)) / math.sqrt(len(paired))
    return {
        "difference": diff,
        "se_of_difference": se,
        "within_2_se": abs(diff) <= 2 * se,
        "paired_se_of_difference": paired_se,  # the same learners on both: a tighter test
        "within_2_paired_se": abs(diff) <= 2 * paired_se,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "authors", nargs="?", default=str(Path(__file__).resolve().parents[3] / "shared/data/authors")
    )
    parser.add_argument("--out", default="results/atari/centipede_backends.json")
    parser.add_argument("--learners", type=int, default=20)
    parser.add_argument("--games", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="learners, action noise and games")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    args = parser.parse_args()
    ds = import_authors_file(Path(args.authors) / "centipede_fulldistill.pt", env_id=ENV)
    report: dict = {
        "env_id": ENV,
        "file": "centipede_fulldistill.pt (l = 0)",
        "protocol": f"{args.learners} learners x {args.games} full games, sampled, seed {args.seed}",
        "versions": {**run_metadata(), "torch_threads": torch.get_num_threads()},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for backend in args.backends:
        start = time.perf_counter()
        returns = evaluate_distributions(
            ds, ["nature-cnn"], n_learners=args.learners, episodes=args.games, seed=args.seed, backend=backend
        )
        entry = results_entry(
            returns["nature-cnn"], n_learners=args.learners, capped=returns.capped["nature-cnn"]
        )
        entry["se"] = standard_error(entry)
        entry["seconds"] = time.perf_counter() - start
        report[backend] = entry
        print(
            f"{backend}: mean {entry['mean']:.0f} ± {entry['se']:.0f} (s.e.; learner std "
            f"{entry['learner_std']:.0f}), capped {entry['capped']}, {entry['seconds']:.0f} s",
            flush=True,
        )
        if all(name in report for name in BACKENDS):
            report["comparison"] = compare(report)
            c = report["comparison"]
            print(
                f"envpool - gymnasium: {c['difference']:.0f} ± {c['se_of_difference']:.0f} (s.e.); "
                f"within 2 s.e.: {c['within_2_se']} (paired s.e. {c['paired_se_of_difference']:.0f}: "
                f"{c['within_2_paired_se']})",
                flush=True,
            )
        out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
