"""Copy the best finished must-show run per N into the package zoo and write its index.json.

Run from the repository root after ``results/ppmo/run_must_show.sh``:
``python results/ppmo/build_zoo.py [--runs runs/must-show]``. "Best" = highest final mean
(100 learners x 100 sampled episodes) among the seeds of the k_min runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tomllib
from pathlib import Path

ZOO = Path("taskdistill_rl/zoo")
K_MIN = {1: 2, 2: 3, 3: 4, 4: 5, 5: 6}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=Path, default=Path("runs/must-show"))
    args = parser.parse_args()
    index = {}
    for n, k in K_MIN.items():
        candidates = sorted(args.runs.glob(f"{n}d-k{k}-s*"))
        finished = [c for c in candidates if (c / "distilled.pt").is_file() and (c / "eval.json").is_file()]
        if not finished:
            print(f"{n}D: no finished run, skipped")
            continue
        best = max(
            finished, key=lambda c: json.loads((c / "eval.json").read_text())["results"]["lambda"]["mean"]
        )
        evaluation = json.loads((best / "eval.json").read_text())
        config = tomllib.loads((best / "config.toml").read_text())
        summary = json.loads((best / "summary.json").read_text())
        name = f"ndcartpole-{n}d"
        shutil.copyfile(best / "distilled.pt", ZOO / f"{name}.pt")
        command = (
            f"taskdistill distill --env NDCartPole-v0 --env-kwargs n_dims={n} --k {k} --seed {config['seed']} "
            f"--time-budget {config['time_budget']:g} --out runs/{name}"
        )
        index[name] = {
            "file": f"{name}.pt",
            "env_id": "NDCartPole-v0",
            "env_kwargs": {"n_dims": n},
            "k": k,
            "evaluation": evaluation["results"]["lambda"],
            "action_rule": evaluation["action_rule"],
            "command": command,
            "meta_epochs": summary["meta_epochs"],
            "note": "time-budgeted on 2 CPU cores, one thread: meta-epochs reached vary with machine speed",
        }
        print(f"{name}: {best.name} mean {index[name]['evaluation']['mean']:.1f}")
    (ZOO / "index.json").write_text(json.dumps(index, indent=2) + "\n")


if __name__ == "__main__":
    main()
