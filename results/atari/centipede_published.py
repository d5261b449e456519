"""The paper authors' published Centipede files, imported and played (issue 14's must-show).

Each file is imported with ``taskdistill import``'s function, fitted in one step into 20 fresh
Nature-CNN learners, and each learner plays 5 full games of ``CentipedeNoFrameskip-v4`` with
sampled actions (raw game score, capped at 27,000 agent steps). A uniform-random agent plays
100 games in the same run. Paper Table 2 (k = 10): l = 0 8,042 ± 492, l = 1 8,144 ± 614.

    python results/atari/centipede_published.py [AUTHORS_DIR] [--out results/atari/centipede_published.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from taskdistill_rl.baselines import random_agent_returns
from taskdistill_rl.evaluate import evaluate_distributions
from taskdistill_rl.importers import import_authors_file
from taskdistill_rl.results import results_entry, run_metadata

ENV = "CentipedeNoFrameskip-v4"
PAPER = {"l0": "8,042 ± 492", "l1": "8,144 ± 614"}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "authors", nargs="?", default=str(Path(__file__).resolve().parents[3] / "shared/data/authors")
    )
    parser.add_argument("--out", default="results/atari/centipede_published.json")
    parser.add_argument("--learners", type=int, default=20)
    parser.add_argument("--games", type=int, default=5)
    parser.add_argument("--random-games", type=int, default=100)
    args = parser.parse_args()
    authors = Path(args.authors)
    files = {
        "l0": (authors / "centipede_fulldistill.pt", None),
        "l1": (authors / "centipede_l1.pt", authors / "centipede_l1_encoder.pt"),
    }
    report: dict = {"env_id": ENV, "protocol": f"{args.learners} learners x {args.games} full games, sampled"}
    for name, (path, encoder) in files.items():
        ds = import_authors_file(path, env_id=ENV, encoder=encoder)
        start = time.perf_counter()
        returns = evaluate_distributions(
            ds, ["nature-cnn"], n_learners=args.learners, episodes=args.games, seed=0
        )
        entry = results_entry(
            returns["nature-cnn"], n_learners=args.learners, capped=returns.capped["nature-cnn"]
        )
        entry["seconds"] = time.perf_counter() - start
        entry["paper_table_2"] = PAPER[name]
        report[name] = entry
        print(
            f"{name}: mean {entry['mean']:.0f} ± {entry['learner_std']:.0f} (median {entry['median']:.0f}), "
            f"capped {entry['capped']}, {entry['seconds']:.0f} s; paper {PAPER[name]}",
            flush=True,
        )
    start = time.perf_counter()
    random = random_agent_returns(ENV, episodes=args.random_games, seed=0)
    report["random"] = {**results_entry(random.reshape(-1, 1)), "seconds": time.perf_counter() - start}
    print(f"random: mean {random.mean():.0f} ± {random.std():.0f} over {args.random_games} games", flush=True)
    report["versions"] = {**run_metadata(), "torch_threads": torch.get_num_threads()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
