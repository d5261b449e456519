"""Copy the best finished must-show run per N into the package zoo and write its index.json.

Run from the repository root after ``results/ppmo/run_must_show.sh``:
``python results/ppmo/build_zoo.py [--runs runs/must-show]``. Candidates are all runs of that N
(any k). "Best" = the most robust over fresh learners: the highest 1st percentile of per-learner
mean return over 3,000 fresh learners x 3 sampled episodes (the product promises that *any* fresh
learner acts well; a file with a 1-2% tail of failing inits is worse than one without), ties
broken by the run's 100 x 100 mean.

Each entry's ``evaluation`` is made here, on the copied file, with the run's own final-evaluation
protocol (``eval.json``: its seed, learners x episodes, action rule) in one torch thread, and is
stored with what a test needs to reproduce it (``tests/test_zoo.py``): ``eval_seed``, the
``machine`` fingerprint (:func:`machine_fingerprint`) and the ``eval_commit``. It equals the run's
``eval.json`` when the run was made by the same code on the same kind of machine; a difference is
printed.

``python results/ppmo/build_zoo.py --reevaluate`` re-evaluates the shipped files of the current
index in place (same seeds and protocol) with the current code, for when the evaluation code
changes the numbers (e.g. a different learner-sampling stream).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
from pathlib import Path

import tomllib

ZOO = Path("taskdistill_rl/zoo")
DIMS = (1, 2, 3, 4, 5)
EVAL_THREADS = 1  # as run_must_show.sh's runs; see machine_fingerprint
# The block of eval.json's results kept in the index (not the 100 per-learner means).
EVALUATION_KEYS = ("mean", "std", "learner_std", "n_learners", "episodes", "p01", "p05", "median")


def _cpu_vendor() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine_fingerprint() -> dict:
    """What a float32 CPU evaluation's bits depend on besides the code and the seed.

    ATen picks its vectorised kernels by CPU capability (the 5D zoo mean moves from 396.715 to
    396.7245 with ``ATEN_CPU_CAPABILITY=default`` instead of AVX2), MKL picks its kernels by CPU
    vendor, results can change with the torch version, and a reduction split over threads can
    round differently. Two evaluations with equal fingerprints gave equal bits in our runs; the
    test compares exactly only then (within 1.0 otherwise).
    """
    import torch

    return {
        "machine": platform.machine(),
        "cpu": _cpu_vendor(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def evaluate_file(
    path: Path, *, n_learners: int, episodes: int, seed: int, deterministic: bool, threads: int = EVAL_THREADS
) -> tuple[dict, dict]:
    """``(evaluation block, machine fingerprint)`` of ``path`` evaluated in ``threads`` torch threads."""
    import torch

    from taskdistill_rl import load_distilled
    from taskdistill_rl.evaluate import evaluate_dataset
    from taskdistill_rl.results import results_entry

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        returns = evaluate_dataset(
            load_distilled(path),
            n_learners=n_learners,
            episodes=episodes,
            seed=seed,
            deterministic=deterministic,
        )
        machine = machine_fingerprint()
    finally:
        torch.set_num_threads(before)
    entry = results_entry(returns, n_learners=n_learners)
    return {key: entry[key] for key in EVALUATION_KEYS if key in entry}, machine


def _commit() -> str | None:
    from taskdistill_rl.results import run_metadata

    return run_metadata().get("git_commit")


def robustness(run: Path) -> tuple[float, float]:
    """(1st percentile of per-learner mean return over 3,000 fresh learners, the run's mean)."""
    import torch

    from taskdistill_rl import load_distilled
    from taskdistill_rl.evaluate import evaluate_dataset

    stored = Path("results/ppmo") / run.name / "robustness.json"  # written by robustness.py, same protocol
    if stored.is_file():
        p01 = json.loads(stored.read_text())["p01"]
    else:
        returns = evaluate_dataset(load_distilled(run / "distilled.pt"), n_learners=3000, episodes=3, seed=21)
        p01 = float(torch.quantile(returns.mean(1), 0.01))
    mean = json.loads((run / "eval.json").read_text())["results"]["lambda"]["mean"]
    print(f"  {run.name}: 1st percentile {p01:.1f}, mean {mean:.1f}")
    return p01, mean


def build(runs: Path, zoo: Path) -> dict:
    """The index of the best run per N in ``runs``, the files copied into ``zoo``."""
    index = {}
    for n in DIMS:
        candidates = sorted(runs.glob(f"{n}d-k*-s*"))
        finished = [c for c in candidates if (c / "distilled.pt").is_file() and (c / "eval.json").is_file()]
        if not finished:
            print(f"{n}D: no finished run, skipped")
            continue
        scores = {c: robustness(c) for c in finished}
        best = max(finished, key=lambda c: scores[c])
        run_eval = json.loads((best / "eval.json").read_text())
        config = tomllib.loads((best / "config.toml").read_text())
        summary = json.loads((best / "summary.json").read_text())
        name = f"ndcartpole-{n}d"
        k = config["k"]
        shutil.copyfile(best / "distilled.pt", zoo / f"{name}.pt")
        stored = run_eval["results"]["lambda"]
        evaluation, machine = evaluate_file(
            zoo / f"{name}.pt",
            n_learners=stored["n_learners"],
            episodes=stored["episodes"],
            seed=run_eval["seed"],
            deterministic=run_eval["action_rule"] == "deterministic",
        )
        if evaluation["mean"] != stored["mean"]:
            print(
                f"  {name}: re-evaluated mean {evaluation['mean']} differs from the run's eval.json "
                f"{stored['mean']} (other code or machine than the run's); the index keeps the "
                "re-evaluation, which tests/test_zoo.py can reproduce"
            )
        command = summary.get("reproduce") or (
            f"taskdistill distill --env NDCartPole-v0 --env-kwargs n_dims={n} --k {k} "
            f"--seed {config['seed']} --time-budget {config['time_budget']:g} --out runs/{name}"
        )
        index[name] = {
            "file": f"{name}.pt",
            "env_id": "NDCartPole-v0",
            "env_kwargs": {"n_dims": n},
            "k": k,
            "evaluation": evaluation,
            "learner_p01": scores[best][0],
            "action_rule": run_eval["action_rule"],
            "eval_seed": run_eval["seed"],
            "machine": machine,
            "eval_commit": _commit(),
            "command": command,
            "meta_epochs": summary["meta_epochs"],
            "note": "time-budgeted on 2 CPU cores, one thread: meta-epochs reached vary with machine speed",
        }
        print(f"{name}: {best.name} mean {evaluation['mean']:.1f}")
    return index


def reevaluate(zoo: Path) -> dict:
    """The current index with every entry's evaluation re-made by the current code (same seed,
    learners x episodes and action rule), its machine fingerprint and commit."""
    index = json.loads((zoo / "index.json").read_text())
    for name, entry in index.items():
        old = entry["evaluation"]
        evaluation, machine = evaluate_file(
            zoo / entry["file"],
            n_learners=old["n_learners"],
            episodes=old["episodes"],
            seed=entry["eval_seed"],
            deterministic=entry["action_rule"] == "deterministic",
        )
        entry.update(evaluation=evaluation, machine=machine, eval_commit=_commit())
        print(f"{name}: mean {old['mean']} -> {evaluation['mean']}")
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/must-show"))
    parser.add_argument("--zoo", type=Path, default=ZOO, help="the zoo directory (index.json and files)")
    parser.add_argument(
        "--reevaluate", action="store_true", help="re-evaluate the zoo's files in place; no runs needed"
    )
    args = parser.parse_args()
    index = reevaluate(args.zoo) if args.reevaluate else build(args.runs, args.zoo)
    (args.zoo / "index.json").write_text(json.dumps(index, indent=2) + "\n")


if __name__ == "__main__":
    main()
