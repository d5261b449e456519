"""Return vs wall time of PPMO distillation on MuJoCo (paper Table 3), against a random agent.

Run: ``python benchmarks/bench_mujoco.py [--envs Hopper-v5 HalfCheetah-v5] [--minutes 30]``.
Distils every env at once, one CPU thread each (``taskdistill distill --time-budget``), then
prints the periodic evaluation (20 fresh learners x 5 sampled episodes) against wall time, the
final evaluation (20 x 10) and the uniform-random agent's return measured in the same run.
Paper Table 3 (MuJoCo-v4, 24 h on 4 GPUs): Hopper 2168, HalfCheetah 2226; random 21 and -282.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from taskdistill_rl.baselines import random_agent_returns


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--envs", nargs="+", default=["Hopper-v5", "HalfCheetah-v5"])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-mujoco"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
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
