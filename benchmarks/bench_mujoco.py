"""PPMO on MuJoCo: frames per second with the env in one process against every core, and (with
``--returns``) return against wall time.

Run: ``python benchmarks/bench_mujoco.py [--envs Hopper-v4 HalfCheetah-v4] [--epochs 6]``.
Frames/s of PPMO's meta-epochs (rollout and update, the default MuJoCo settings, seed 0) with the
training envs stepped in this process (``--env-workers 1``, what every run did before) and in one
forked worker per usable core (the default now), one after the other in this run: the median
seconds over ``--epochs`` meta-epochs after a first one, the ratio, and whether both sides learned
the same tensors (they must: the workers return what one process does).

``--returns [--minutes 30]``: distils every env at once, one CPU thread and one env process each
(``taskdistill distill --time-budget --env-workers 1``), then prints the periodic evaluation
(20 fresh learners x 5 sampled episodes) against wall time, the final evaluation (20 x 10) and
the uniform-random agent's return measured in the same run. Paper Table 3 (MuJoCo-v4, 24 h on 4
GPUs): Hopper 2168, HalfCheetah 2226; random 21 and -282.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import warnings
from pathlib import Path

import torch

from taskdistill_rl.algorithms.ppmo import PPMO
from taskdistill_rl.baselines import random_agent_returns
from taskdistill_rl.devices import torch_threads
from taskdistill_rl.env_workers import usable_cores


def time_epochs(env: str, epochs: int, workers: int) -> tuple[dict[str, float], dict]:
    """Median rollout / update seconds over ``epochs`` meta-epochs after a first one, frames per
    meta-epoch, and the learned tensors."""
    algo = PPMO(env, seed=0, env_workers=workers)
    with torch_threads(algo.config.threads):  # the family's count, as a run sets it
        rows = [algo.step() for _ in range(epochs + 1)][1:]
    tensors = {**algo.dataset.state_dict(), **algo.critic.state_dict()}
    frames = algo.config.num_envs * algo.config.steps_per_env
    algo.close()
    parts = ("rollout", "update")
    times = {part: statistics.median(row[f"time/{part}_seconds"] for row in rows) for part in parts}
    return {**times, "frames": frames}, tensors


def throughput(envs: list[str], epochs: int) -> None:
    cores = usable_cores()
    print(f"PPMO meta-epochs, default MuJoCo settings, seed 0, median of {epochs} after the first")
    print("| env | env processes | rollout s | update s | frames/s | ratio | same tensors |")
    print("|---|---|---|---|---|---|---|")
    for env in envs:
        one, one_tensors = time_epochs(env, epochs, 1)
        every, every_tensors = time_epochs(env, epochs, cores)
        same = all(torch.equal(one_tensors[key], every_tensors[key]) for key in one_tensors)
        rates = [side["frames"] / (side["rollout"] + side["update"]) for side in (one, every)]
        for label, side, rate in (("1 (before)", one, rates[0]), (f"{cores} (default)", every, rates[1])):
            ratio = rate / rates[0]
            print(
                f"| {env} | {label} | {side['rollout']:.2f} | {side['update']:.2f} | {rate:,.0f} "
                f"| {ratio:.2f} | {'yes' if same else 'NO'} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--envs", nargs="+", default=None)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--returns", action="store_true", help="return against wall time instead")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-mujoco"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", ".*is out of date", DeprecationWarning)
    if not args.returns:
        throughput(args.envs or ["Hopper-v4", "HalfCheetah-v4"], args.epochs)
        return
    args.envs = args.envs or ["Hopper-v5", "HalfCheetah-v5"]
    env_vars = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = {}
    for env in args.envs:
        out = args.out / env
        cmd = [
            sys.executable,
            "-m",
            "taskdistill_rl.cli",
            "distill",
            "--env",
            env,
            "--seed",
            str(args.seed),
            "--time-budget",
            str(60 * args.minutes),
            "--final-learners",
            "20",
            "--final-episodes",
            "10",
            "--out",
            str(out),
            "--env-workers",
            "1",  # the envs run at once, one core each
            "--overwrite",  # a benchmark re-run replaces its own earlier run
            "-q",
        ]
        procs[env] = (subprocess.Popen(cmd, env=env_vars), out)
    for env, (proc, _) in procs.items():
        if proc.wait() != 0:
            sys.exit(f"{env}: distillation failed with exit code {proc.returncode}")

    print(f"\n## PPMO on MuJoCo, {args.minutes:g} min per env, one thread each, seed {args.seed}")
    marks = [args.minutes * f for f in (1 / 6, 1 / 3, 2 / 3, 1)]
    header = " | ".join(f"eval @ {m:.1f} min" for m in marks)
    print(f"| env | random (100 ep.) | {header} | final 20 x 10 | margin over random |")
    print("|---|---|" + "---|" * len(marks) + "---|---|")
    for env, (_, out) in procs.items():
        rows = [
            r
            for r in csv.DictReader((out / "metrics.csv").open())
            if r["eval/return_mean"] not in ("", "nan")
        ]
        points = [(float(r["time/wall_seconds"]) / 60, float(r["eval/return_mean"])) for r in rows]
        at = [max((ret for t, ret in points if t <= m), default=float("nan")) for m in marks]
        final = json.loads((out / "eval.json").read_text())["results"]["lambda"]
        random_mean = float(random_agent_returns(env, episodes=100, seed=args.seed).mean())
        cells = " | ".join(f"{v:.0f}" for v in at)
        print(
            f"| {env} | {random_mean:.0f} | {cells} | {final['mean']:.0f} ± {final['learner_std']:.0f} "
            f"| {final['mean'] - random_mean:+.0f} |"
        )
    print("eval @ t: best periodic evaluation up to t (the file keeps the best-evaluated dataset)")


if __name__ == "__main__":
    main()
