"""Batched NDCartPole steps/s through the TorchRL API vs gymnasium's vectorised CartPole-v1.

Run: ``python benchmarks/bench_env_throughput.py`` (``--envs 4096 --steps 500``). Both sides use
random actions and auto-reset; the ratio is ours / gymnasium's, measured in this same run.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch

from taskdistill_rl import BatchedNDCartPole
from taskdistill_rl.envs.batched import _advance_kernel


def gym_vector_sps(num_envs: int, steps: int) -> float:
    env = gym.make_vec("CartPole-v1", num_envs=num_envs, vectorization_mode="vector_entry_point")
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(20):
        env.step(env.action_space.sample())
    start = time.perf_counter()
    for _ in range(steps):
        env.step(env.action_space.sample())
    return num_envs * steps / (time.perf_counter() - start)


def torchrl_sps(num_envs: int, n_dims: int, steps: int, compile_physics: bool) -> float:
    """``step_and_maybe_reset`` with random actions: the loop the Collector runs."""
    env = BatchedNDCartPole(num_envs=num_envs, n_dims=n_dims, seed=0, compile_physics=compile_physics)
    td = env.reset()
    n_actions = 2 * n_dims
    for _ in range(20):  # warm-up (and compilation)
        td["action"] = torch.randint(0, n_actions, (num_envs,))
        _, td = env.step_and_maybe_reset(td)
    start = time.perf_counter()
    for _ in range(steps):
        td["action"] = torch.randint(0, n_actions, (num_envs,))
        _, td = env.step_and_maybe_reset(td)
    return num_envs * steps / (time.perf_counter() - start)


def kernel_sps(num_envs: int, n_dims: int, steps: int, compile_physics: bool) -> float:
    """The physics alone: no TensorDict, no reset."""
    kernel = torch.compile(_advance_kernel, dynamic=False) if compile_physics else _advance_kernel
    env = BatchedNDCartPole(num_envs=num_envs, n_dims=n_dims, seed=0)
    state, count = env.state * 0, env.step_count
    action = torch.randint(0, 2 * n_dims, (num_envs,))
    for _ in range(20):
        kernel(state, count, action, env._force_table)
    start = time.perf_counter()
    for _ in range(steps):
        state, count, _, _ = kernel(state, count, action, env._force_table)
    return num_envs * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args()
    n, steps = args.envs, args.steps
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {n} envs, {steps} steps")
    base = gym_vector_sps(n, steps)
    print(f"{'gymnasium CartPole-v1 vector_entry_point (baseline)':58s} {base / 1e6:7.2f} M steps/s")
    rows = [
        ("TorchRL step_and_maybe_reset, N=1, eager", torchrl_sps(n, 1, steps, False)),
        ("TorchRL step_and_maybe_reset, N=1, compile_physics", torchrl_sps(n, 1, steps, True)),
        ("TorchRL step_and_maybe_reset, N=5, eager", torchrl_sps(n, 5, steps, False)),
        ("TorchRL step_and_maybe_reset, N=5, compile_physics", torchrl_sps(n, 5, steps, True)),
        ("raw physics kernel, N=1, eager", kernel_sps(n, 1, steps, False)),
        ("raw physics kernel, N=1, compiled", kernel_sps(n, 1, steps, True)),
        ("raw physics kernel, N=5, eager", kernel_sps(n, 5, steps, False)),
    ]
    for name, sps in rows:
        print(f"{name:58s} {sps / 1e6:7.2f} M steps/s   ratio vs gymnasium {sps / base:5.2f}")


if __name__ == "__main__":
    main()
