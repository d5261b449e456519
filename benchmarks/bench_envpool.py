"""ALE/Pong-v5 frames/s of the two Atari backends through ``make_env``: gymnasium vs EnvPool.

Run: ``python benchmarks/bench_envpool.py`` (``--envs 8 32 --steps 300 --rounds 3``). Each
pipeline is built by ``make_env("ALE/Pong-v5", num_envs=N, seed=0, backend=...)`` (gymnasium: one
worker process per game; EnvPool: one C++ thread pool) and stepped ``--steps`` times with uniform
random actions through ``step_and_maybe_reset``, the loop a TorchRL collector runs. Frames are
emulator frames (4 per agent step). The backends take turns, ``--rounds`` times, and each keeps
its best round, so a busy machine slows them alike; the ratio is EnvPool / gymnasium in this run.
Writes ``results/atari/bench_envpool.txt`` (``--out``).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from pathlib import Path

import torch

from taskdistill_rl.envs import make_env
from taskdistill_rl.envs.atari import FRAME_SKIP

ENV = "ALE/Pong-v5"
BACKENDS = ("gymnasium", "envpool")


def timed_steps(env, steps: int, generator: torch.Generator) -> float:
    """Seconds for ``steps`` random-action ``step_and_maybe_reset`` calls on every sub-env."""
    n, n_actions = env.batch_size[0], int(env.action_spec.space.n)
    td = env.reset()
    for _ in range(10):  # warm-up: first frames, page faults, thread start
        td["action"] = torch.randint(n_actions, (n,), generator=generator)
        _, td = env.step_and_maybe_reset(td)
    start = time.perf_counter()
    for _ in range(steps):
        td["action"] = torch.randint(n_actions, (n,), generator=generator)
        _, td = env.step_and_maybe_reset(td)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--envs", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--steps", type=int, default=300, help="agent steps per round, per sub-env")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("results/atari/bench_envpool.txt"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    best: dict[tuple[str, int], float] = {}
    for num_envs in args.envs:
        envs = {backend: make_env(ENV, num_envs=num_envs, seed=0, backend=backend) for backend in BACKENDS}
        try:
            for _ in range(args.rounds):
                for backend, env in envs.items():
                    seconds = timed_steps(env, args.steps, torch.Generator().manual_seed(0))
                    key = (backend, num_envs)
                    best[key] = min(best.get(key, float("inf")), seconds)
        finally:
            for env in envs.values():
                env.close()
    git = ["git", "rev-parse", "--short", "HEAD"]
    commit = subprocess.run(git, capture_output=True, text=True).stdout.strip() or "?"
    import envpool

    lines = [
        f"# {ENV}: frames/s (emulator frames, {FRAME_SKIP} per agent step) through make_env + "
        f"step_and_maybe_reset, random actions; {args.steps} steps per sub-env, best of {args.rounds} "
        "interleaved rounds",
        f"torch {torch.__version__} (1 thread), envpool {envpool.__version__}; {platform.machine()}, "
        f"{os.cpu_count()} CPUs; commit {commit}",
        "",
        "| envs | gymnasium frames/s | envpool frames/s | envpool / gymnasium |",
        "|---|---|---|---|",
    ]
    for num_envs in args.envs:
        fps = {b: num_envs * args.steps * FRAME_SKIP / best[(b, num_envs)] for b in BACKENDS}
        lines.append(
            f"| {num_envs} | {fps['gymnasium']:,.0f} | {fps['envpool']:,.0f} | "
            f"{fps['envpool'] / fps['gymnasium']:.2f}x |"
        )
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
