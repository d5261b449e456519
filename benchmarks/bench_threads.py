"""Seconds per PPMO meta-epoch by torch thread count, per env family, on a quiet machine and beside
one competing CPU-bound process: the measurement behind each ``EnvFamily.threads`` (envs/families.py).

Run: ``python benchmarks/bench_threads.py [--families ndcartpole classic mujoco atari]``.
Each cell is one ``taskdistill distill --threads T`` subprocess; its time per meta-epoch is the
median of the meta-epochs after the first (``metrics.csv``; periodic evaluation off), so start-up,
imports and the final evaluation are left out. "quiet" runs only once the 1-minute load average
is under 0.2 (it waits up to --wait seconds for that), and prints the load average before, at the
end, and once it is back under 0.2 (nothing else was running); "loaded" runs beside
``python -c 'while True: pass'``. Ratios are against 1 thread in the same condition. Writes only
temporary directories.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# (env id, env kwargs, meta-epochs): each family's default schedule, enough epochs for a median
FAMILIES = {
    "ndcartpole": ("NDCartPole-v0", ["n_dims=2"], 12),
    "classic": ("Pendulum-v1", [], 12),
    "mujoco": ("Hopper-v5", [], 8),
    "atari": ("ALE/Pong-v5", [], 3),
}


def seconds_per_epoch(env: str, kwargs: list[str], epochs: int, threads: int, out: Path) -> float:
    cfg = out / "bench.toml"
    cfg.write_text("eval_interval = 100000\ncheckpoint_interval = 100000\n")
    cmd = [sys.executable, "-m", "taskdistill_rl.cli", "distill", "--env", env, "--epochs", str(epochs)]
    for item in kwargs:
        cmd += ["--env-kwargs", item]
    cmd += ["--threads", str(threads), "--final-learners", "1", "--final-episodes", "1"]
    cmd += ["--config", str(cfg), "--out", str(out / "run"), "--overwrite", "-q"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(out / "run" / "metrics.csv") as f:
        wall = [float(row["time/wall_seconds"]) for row in csv.DictReader(f)]
    return statistics.median(b - a for a, b in itertools.pairwise(wall))


def wait_for_quiet(limit: float, wait: float) -> float:
    """The 1-minute load average once it is under ``limit`` (or after ``wait`` seconds)."""
    deadline = time.monotonic() + wait
    while os.getloadavg()[0] >= limit and time.monotonic() < deadline:
        time.sleep(5)
    return os.getloadavg()[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--conditions", nargs="+", default=["quiet", "loaded"], choices=["quiet", "loaded"])
    parser.add_argument("--wait", type=float, default=600, help="seconds to wait for a quiet machine")
    args = parser.parse_args()
    from taskdistill_rl.envs.families import defaults_for

    cores = os.cpu_count() or 1
    counts = sorted({1, cores})
    rows = []
    for condition in args.conditions:
        busy = None
        if condition == "quiet":
            before = wait_for_quiet(0.2, args.wait)
            note = f"load average before {before:.2f}"
        else:
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            note = "beside one busy Python loop"
        try:
            for family in args.families:
                env, kwargs, epochs = FAMILIES[family]
                default = defaults_for(env).threads
                times = {}
                for threads in counts:
                    with tempfile.TemporaryDirectory() as tmp:
                        times[threads] = seconds_per_epoch(env, kwargs, epochs, threads, Path(tmp))
                for threads in counts:
                    label = f"{threads}" + (" (default)" if threads == default else "")
                    ratio = times[threads] / times[1]
                    rows.append(
                        f"| {condition} | {family} ({env}) | {label} | {times[threads]:.3f} | {ratio:.2f} |"
                    )
                    print(rows[-1], flush=True)
        finally:
            if busy is not None:
                busy.kill()
        if condition == "quiet":  # nothing else ran: the load falls back once our runs stop
            note += f", {os.getloadavg()[0]:.2f} at the end, {wait_for_quiet(0.2, args.wait):.2f} after"
        rows.append(f"| {condition} | ({note}) | | | |")
    print(f"\n## s per meta-epoch by torch threads ({cores} cores; ratio: against 1 thread, same condition)")
    print("| condition | family (env) | threads | s / meta-epoch | ratio |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
