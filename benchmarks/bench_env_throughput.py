"""Batched NDCartPole steps/s through the TorchRL API vs gymnasium's vectorised CartPole-v1.

Run: ``python benchmarks/bench_env_throughput.py`` (``--envs 4096 --steps 500 --rounds 5``). Both sides
step random actions with auto-reset; ours is the loop a TorchRL collector runs (write the action into
the carried TensorDict, ``env.step_and_maybe_reset``). The ratio is ours / gymnasium's steps/s,
measured in this same run: the variants take turns, ``--rounds`` times, and each keeps its best
round, so that a busy machine slows them alike. Torch runs on ``--threads 1`` (default), like
gymnasium's numpy; with more threads, torch splits ``sin``/``cos`` over 2,048 elements across threads,
which costs more than it saves at this size.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import gymnasium as gym
import torch
from torchrl.collectors import Collector
from torchrl.envs.utils import RandomPolicy

from taskdistill_rl import BatchedNDCartPole
from taskdistill_rl.envs.batched import _advance_kernel

Runner = Callable[[int], float]  # steps -> seconds


def gym_vector(num_envs: int) -> Runner:
    env = gym.make_vec("CartPole-v1", num_envs=num_envs, vectorization_mode="vector_entry_point")
    env.reset(seed=0)
    env.action_space.seed(0)

    def run(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            env.step(env.action_space.sample())
        return time.perf_counter() - start

    return run


def torchrl_step_and_maybe_reset(num_envs: int, n_dims: int, *, compile_physics: bool = False) -> Runner:
    """``step_and_maybe_reset`` with random actions: the loop the Collector runs."""
    env = BatchedNDCartPole(num_envs=num_envs, n_dims=n_dims, seed=0, compile_physics=compile_physics)
    carrier = [env.reset()]
    n_actions = 2 * n_dims

    def run(steps: int) -> float:
        td = carrier[0]
        start = time.perf_counter()
        for _ in range(steps):
            td["action"] = torch.randint(0, n_actions, (num_envs,))
            _, td = env.step_and_maybe_reset(td)
        carrier[0] = td
        return time.perf_counter() - start

    return run


def torchrl_collector(num_envs: int, n_dims: int) -> Runner:
    """``torchrl.collectors.Collector`` with a random policy (adds the policy call and the stacking)."""
    env = BatchedNDCartPole(num_envs=num_envs, n_dims=n_dims, seed=0)
    frames = num_envs * 50
    collector = Collector(env, RandomPolicy(env.action_spec), frames_per_batch=frames, total_frames=-1)
    batches = iter(collector)

    def run(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(max(1, steps // 50)):
            next(batches)
        return (time.perf_counter() - start) * steps / (50 * max(1, steps // 50))

    return run


def physics_only(num_envs: int, n_dims: int) -> Runner:
    """The in-place step alone: no TensorDict, no reset."""
    env = BatchedNDCartPole(num_envs=num_envs, n_dims=n_dims, seed=0)
    action = torch.randint(0, 2 * n_dims, (num_envs,))

    def run(steps: int) -> float:
        env.state.zero_()
        env.step_count.zero_()
        start = time.perf_counter()
        for _ in range(steps):
            _advance_kernel(env.state, env.step_count, action, env._stepper)
        return time.perf_counter() - start

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=500, help="steps per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; each variant keeps its best")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--compile", action="store_true", help="add compile_physics=True rows")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n, steps = args.envs, args.steps
    print(f"torch {torch.__version__}, gymnasium {gym.__version__}, {torch.get_num_threads()} torch threads")
    print(f"{n} envs, best of {args.rounds} rounds of {steps} steps, random actions, auto-reset")
    runners: dict[str, Runner] = {
        "gymnasium CartPole-v1 vector_entry_point (baseline)": gym_vector(n),
        "TorchRL step_and_maybe_reset, N=1": torchrl_step_and_maybe_reset(n, 1),
        "TorchRL step_and_maybe_reset, N=5": torchrl_step_and_maybe_reset(n, 5),
    }
    if args.compile:
        for n_dims in (1, 5):
            name = f"TorchRL step_and_maybe_reset, N={n_dims}, compile_physics"
            runners[name] = torchrl_step_and_maybe_reset(n, n_dims, compile_physics=True)
    runners["torchrl Collector, random policy, N=1"] = torchrl_collector(n, 1)
    runners["physics only (no TensorDict, no reset), N=1"] = physics_only(n, 1)
    runners["physics only (no TensorDict, no reset), N=5"] = physics_only(n, 5)
    for run in runners.values():  # warm-up (and compilation)
        run(20)
    best = dict.fromkeys(runners, float("inf"))
    for _ in range(args.rounds):
        for name, run in runners.items():
            best[name] = min(best[name], run(steps))
    base = n * steps / best[next(iter(runners))]
    for name, seconds in best.items():
        sps = n * steps / seconds
        print(f"{name:56s} {sps / 1e6:7.2f} M steps/s   ratio vs gymnasium {sps / base:5.2f}")


if __name__ == "__main__":
    main()
