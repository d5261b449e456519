"""Data-parallel distillation throughput: meta-epochs per minute and env frames per second with 1
and 2 processes, for ND cart-pole and one MuJoCo env.

Run: ``python benchmarks/bench_distributed.py`` (``--epochs 12 --nprocs 1,2``). Each row is a
real ``taskdistill distill`` run (``--nproc P`` launches torchrun; P = 1 is the plain
single-process run) with periodic evaluation off; the rates come from its ``metrics.csv``,
between the end of the first meta-epoch (warm-up: imports, env start, rendezvous) and the last.
Each process steps ``--num-envs`` envs, so P processes collect P times the frames per
meta-epoch. Ratios are against P = 1 measured in the same run. Torch gets cores / P threads.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ENVS = {
    "ndcartpole-1d": ["--env", "NDCartPole-v0"],
    "InvertedPendulum-v5": ["--env", "InvertedPendulum-v5"],
}


def run(env_args: list[str], nproc: int, epochs: int, workdir: Path) -> dict:
    out = workdir / f"run-{nproc}"
    config = workdir / "config.toml"
    config.write_text("eval_interval = 1000000\n")  # time the learning only
    command = [sys.executable, "-m", "taskdistill_rl", "distill", *env_args, "--epochs", str(epochs)]
    command += ["--config", str(config), "--out", str(out), "--overwrite", "-q"]
    command += ["--final-learners", "1", "--final-episodes", "1", "--nproc", str(nproc)]
    threads = max(1, (os.cpu_count() or 1) // nproc)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    first, last = rows[0], rows[-1]
    seconds = float(last["time/wall_seconds"]) - float(first["time/wall_seconds"])
    epochs_timed = int(last["meta_epoch"]) - int(first["meta_epoch"])
    frames = int(last["time/frames"]) - int(first["time/frames"])
    return {"epochs_per_min": 60 * epochs_timed / seconds, "frames_per_s": frames / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--nprocs", default="1,2", help="process counts, comma-separated")
    parser.add_argument("--envs", default=",".join(ENVS), help=f"of {', '.join(ENVS)}")
    args = parser.parse_args()
    nprocs = [int(n) for n in args.nprocs.split(",")]
    print(f"{os.cpu_count()} cores; {args.epochs} meta-epochs per run, rates after the first")
    print(f"| env | processes | meta-epochs/min | env frames/s | frames/s ÷ {nprocs[0]} process |")
    print("|---|---|---|---|---|")
    for name in args.envs.split(","):
        base = None
        with tempfile.TemporaryDirectory() as tmp:
            for nproc in nprocs:
                r = run(ENVS[name], nproc, args.epochs, Path(tmp))
                base = base or r["frames_per_s"]
                print(
                    f"| {name} | {nproc} | {r['epochs_per_min']:.1f} | {r['frames_per_s']:,.0f} | "
                    f"{r['frames_per_s'] / base:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
