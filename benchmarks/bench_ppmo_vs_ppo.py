"""PPMO distillation of 1D cart-pole vs direct RL with stable-baselines3 PPO, timed in one run.

Run: ``python benchmarks/bench_ppmo_vs_ppo.py`` (``--seeds 3``, ``--cost-epochs 20``).

1. Wall time to a return of 475, median over seeds. PPMO (k=2, default preset) stops once its
   periodic evaluation (20 fresh learners x 5 sampled episodes) averages >= 475; SB3
   ``PPO("MlpPolicy", "CartPole-v1")`` with rl-zoo's hyper-parameters trains in 10k-step chunks
   until 20 sampled evaluation episodes average >= 475. Both clocks include set-up and every
   evaluation. Ratio = PPMO / PPO (goal <= 1.0: an unlimited supply of agents for the price of one).
2. Cost of one PPMO meta-epoch vs one plain-PPO epoch on the same frames and machinery
   (TorchRL collector, GAE, 4 epochs of 512-minibatches; plain PPO = TorchRL ``ClipPPOLoss`` on
   the same actor and critic), and of the policy epochs alone (paper: 1.15x per epoch on an A100;
   goal <= 1.10x per meta-epoch).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torchrl.collectors import Collector
from torchrl.objectives import ClipPPOLoss, ValueEstimators

from taskdistill_rl.actors import make_actor, make_critic
from taskdistill_rl.baselines.sb3_ppo import train_ppo
from taskdistill_rl.distill import Distiller
from taskdistill_rl.envs import make_env
from taskdistill_rl.ppmo import PPMO

TARGET = 475.0


def ppmo_seconds_to_target(seed: int, cap: float) -> tuple[float, int, float]:
    start = time.perf_counter()
    d = Distiller("NDCartPole-v0", k=2, seed=seed, quiet=True)
    d.train(target_return=TARGET, time_budget=cap)
    seconds = time.perf_counter() - start
    last = d.periodic_evaluation.last
    reached = last is not None and last >= TARGET
    return (seconds if reached else float("inf")), d.algo.frames, last


def ppo_seconds_to_target(seed: int, cap_steps: int) -> tuple[float, int, float]:
    result = train_ppo("CartPole-v1", seed=seed, target_return=TARGET, chunk=10_000, max_timesteps=cap_steps)
    seconds = result.wall_seconds if result.reached_target else float("inf")
    return seconds, result.final["timesteps"], result.final["eval_mean"]


class PlainPPO:
    """Plain PPO on the same env, learner, actor and critic factories and frames as PPMO:
    TorchRL's ``ClipPPOLoss`` training one Λ learner directly."""

    def __init__(self, algo: PPMO):
        cfg = self.config = algo.config
        env = make_env(cfg.env, num_envs=cfg.num_envs, seed=cfg.seed, **cfg.env_kwargs)
        net = algo.learners.sample(torch.Generator().manual_seed(cfg.seed))
        actor = make_actor(net)
        critic = make_critic(algo.dataset.obs_shape)
        self.loss = ClipPPOLoss(
            actor,
            critic,
            clip_epsilon=cfg.clip_epsilon,
            entropy_bonus=False,
            normalize_advantage=True,
            loss_critic_type="l2",
        )
        self.loss.make_value_estimator(ValueEstimators.GAE, gamma=cfg.gamma, lmbda=cfg.gae_lambda)
        self.optim = torch.optim.Adam(self.loss.parameters(), lr=cfg.distiller_lr, eps=1e-5)
        frames = cfg.num_envs * cfg.steps_per_env
        self.rollouts = iter(Collector(env, actor, frames_per_batch=frames, total_frames=-1))

    def step(self) -> dict:
        """One rollout + policy epochs, with the same parts timed as PPMO's metrics."""
        cfg = self.config
        started = time.perf_counter()
        td = next(self.rollouts)
        with torch.no_grad():
            self.loss.value_estimator(td)
        collected = time.perf_counter()
        flat = td.reshape(-1)
        n = flat.shape[0]
        params = list(self.loss.parameters())
        for _ in range(cfg.policy_epochs):
            perm = torch.randperm(n)
            for start in range(0, n, cfg.minibatch_size):
                out = self.loss(flat[perm[start : start + cfg.minibatch_size]])
                total = out["loss_objective"] + out["loss_critic"]
                self.optim.zero_grad(set_to_none=True)
                total.backward()
                nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                self.optim.step()
        return {
            "time/rollout_seconds": collected - started,
            "time/update_seconds": time.perf_counter() - collected,
        }


def cost_ratios(epochs: int, warmup: int = 3) -> dict:
    """Median seconds per (meta-)epoch, whole call and by part; the two sides alternate so that
    both see the same machine load."""
    ppmo = PPMO("NDCartPole-v0", k=2, seed=0)
    base = PlainPPO(ppmo)
    steps = {"ppmo": ppmo.step, "ppo": base.step}
    times: dict[str, list[float]] = {
        f"{side}_{part}": [] for side in steps for part in ("all", "rollout", "update")
    }
    for i in range(warmup + epochs):
        for side, step in steps.items():
            started = time.perf_counter()
            parts = step()
            if i >= warmup:
                times[f"{side}_all"].append(time.perf_counter() - started)
                times[f"{side}_rollout"].append(parts["time/rollout_seconds"])
                times[f"{side}_update"].append(parts["time/update_seconds"])
    ppmo.close()
    result = {key: statistics.median(values) for key, values in times.items()}
    result["frames"] = ppmo.config.num_envs * ppmo.config.steps_per_env
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cost-epochs", type=int, default=20)
    parser.add_argument("--cap-seconds", type=float, default=300.0, help="PPMO give-up time per seed")
    parser.add_argument("--cap-steps", type=int, default=500_000, help="PPO give-up timesteps per seed")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    print(f"\n## Wall time to {TARGET:.0f} on 1D cart-pole (seconds; set-up and evaluations included)")
    print("| seed | PPMO k=2 | frames | PPO (SB3, CartPole-v1) | timesteps |")
    print("|---|---|---|---|---|")
    ppmo_s, ppo_s = [], []
    for seed in range(args.seeds):
        a, a_frames, _ = ppmo_seconds_to_target(seed, args.cap_seconds)
        b, b_steps, _ = ppo_seconds_to_target(seed, args.cap_steps)
        ppmo_s.append(a)
        ppo_s.append(b)
        print(f"| {seed} | {a:.1f} | {a_frames} | {b:.1f} | {b_steps} |", flush=True)
    m_a, m_b = statistics.median(ppmo_s), statistics.median(ppo_s)
    print(f"| median | {m_a:.1f} | | {m_b:.1f} | |")
    print(f"ratio PPMO / PPO (median wall time to {TARGET:.0f}): {m_a / m_b:.2f}  (goal <= 1.0)")

    c = cost_ratios(args.cost_epochs)
    print(f"\n## Cost per epoch, {c['frames']} frames, median of {args.cost_epochs} (ms)")
    print("| part | PPMO | plain PPO | ratio |")
    print("|---|---|---|---|")
    for label, part in (
        ("rollout + GAE", "rollout"),
        ("policy epochs", "update"),
        ("whole (meta-)epoch", "all"),
    ):
        a, b = c[f"ppmo_{part}"], c[f"ppo_{part}"]
        print(f"| {label} | {1e3 * a:.1f} | {1e3 * b:.1f} | {a / b:.2f} |")
    print("goal: meta-epoch ratio <= 1.10 (paper: 1.15 per epoch on an A100)")


if __name__ == "__main__":
    main()
