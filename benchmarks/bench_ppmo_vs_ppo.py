"""PPMO distillation of 1D cart-pole vs direct RL with stable-baselines3 PPO, timed in one run.

Run: ``python benchmarks/bench_ppmo_vs_ppo.py`` (``--seeds 5``, ``--cost-epochs 20``).

1. Wall time to a return of 475, median over seeds; both clocks exclude evaluation time and
   include set-up. PPMO (k=2, default preset) stops once its file scores >= 475 over 100 fresh
   learners x 100 sampled episodes (checked every ``--eval-every`` meta-epochs); SB3
   ``PPO("MlpPolicy", "CartPole-v1")`` with rl-zoo's hyper-parameters stops once 100 sampled
   episodes average >= 475 (checked every ``--sb3-chunk`` timesteps). Ratio = PPMO / PPO
   (must: <= 1.0, an unlimited supply of agents for the price of one; goal: <= 0.5). Frames
   used by each side are printed.
2. Cost of one PPMO meta-epoch vs one plain-PPO epoch on the same frames and machinery
   (TorchRL collector, GAE, the preset's epochs and minibatches; plain PPO = ``PlainPPO``, a
   subclass of PPMO whose loss is TorchRL's ``ClipPPOLoss`` on one Λ learner and the same
   critic), by part.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torchrl.objectives import ClipPPOLoss

from taskdistill_rl.actors import make_actor
from taskdistill_rl.algorithms.ppmo import PPMO
from taskdistill_rl.baselines.sb3_ppo import hyperparams_for

TARGET = 475.0


def ppmo_time_to_target(seed: int, cap: float, eval_every: int, **overrides) -> dict:
    """Train PPMO until its file scores >= TARGET over 100 x 100 (evaluations off the clock);
    ``overrides`` replace config fields (the benchmark itself uses the default preset)."""
    clock = time.perf_counter()
    algo = PPMO("NDCartPole-v0", k=2, seed=seed, **overrides)
    train_seconds = time.perf_counter() - clock
    score = float("nan")
    while train_seconds < cap:
        clock = time.perf_counter()
        algo.update(algo.collect())
        train_seconds += time.perf_counter() - clock
        if algo.meta_epoch % eval_every == 0:
            score = algo.evaluate(n_learners=100, episodes=100, seed=10_000 + seed).mean().item()
            if score >= TARGET:
                break
    algo.close()
    reached = score >= TARGET
    return {
        "seconds": train_seconds if reached else float("inf"),
        "frames": algo.frames,
        "meta_epochs": algo.meta_epoch,
        "score": score,
    }


def sb3_time_to_target(seed: int, cap_steps: int, chunk: int) -> dict:
    """Train SB3 PPO (rl-zoo) until 100 sampled episodes average >= TARGET (evaluations off the clock)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    clock = time.perf_counter()
    hp = hyperparams_for("CartPole-v1")
    env = make_vec_env("CartPole-v1", n_envs=hp.pop("n_envs"), seed=seed)
    model = PPO("MlpPolicy", env, seed=seed, verbose=0, device="cpu", **hp)
    train_seconds = time.perf_counter() - clock
    eval_env = make_vec_env("CartPole-v1", n_envs=100, seed=seed + 10_000)  # one episode per env
    score = float("nan")
    while model.num_timesteps < cap_steps:
        clock = time.perf_counter()
        model.learn(chunk, reset_num_timesteps=False)
        train_seconds += time.perf_counter() - clock
        returns, _ = evaluate_policy(
            model, eval_env, n_eval_episodes=100, deterministic=False, return_episode_rewards=True
        )
        score = float(statistics.mean(returns))
        if score >= TARGET:
            break
    reached = score >= TARGET
    return {
        "seconds": train_seconds if reached else float("inf"),
        "frames": int(model.num_timesteps),
        "score": score,
    }


class PlainPPO(PPMO):
    """Plain PPO on PPMO's own machinery (collector, GAE, policy epochs, minibatches, gradient
    clipping, divergence guard): one Λ learner trained directly by TorchRL's ``ClipPPOLoss`` with
    the same critic. What differs is only what is learned (the learner, not the dataset: no inner
    step) and its loss, so the cost ratio is the price of learning through the inner step."""

    def __init__(self, env: str = "NDCartPole-v0", **overrides):
        super().__init__(env, inits_per_epoch=1, **overrides)  # one learner: flat minibatches
        cfg = self.config
        self.policy = self.learners.sample(torch.Generator().manual_seed(cfg.seed)).to(self.device)
        self.ppo_loss = ClipPPOLoss(
            make_actor(self.policy),
            self.critic,
            clip_epsilon=cfg.clip_epsilon,
            entropy_bonus=False,
            normalize_advantage=True,
            loss_critic_type="l2",
        )
        self.policy_optim = torch.optim.Adam(self.policy.parameters(), lr=cfg.distiller_lr, eps=1e-5)

    def sample_initialisation(self) -> dict:
        """The learner itself acts (stacked as one initialisation)."""
        return {name: p.detach()[None] for name, p in self.policy.named_parameters()}

    def _acting_params(self, theta0: dict) -> dict:
        return theta0  # θ, not a one-step learner fitted on the dataset

    def _objective(self, minibatch, theta0):
        out = self.ppo_loss(minibatch)
        return out.set("loss_entropy", torch.zeros((), device=self.device))

    def _stepped(self) -> list:
        return [(self.policy, self.policy_optim), (self.critic, self.critic_optim)]


def cost_ratios(epochs: int, warmup: int = 3) -> dict:
    """Median seconds per (meta-)epoch, whole call and by part; the two sides alternate so that
    both see the same machine load."""
    ppmo = PPMO("NDCartPole-v0", k=2, seed=0)
    base = PlainPPO("NDCartPole-v0", k=2, seed=0)
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
    base.close()
    result = {key: statistics.median(values) for key, values in times.items()}
    result["frames"] = ppmo.config.num_envs * ppmo.config.steps_per_env
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5, help="0: skip the time to 475")
    parser.add_argument("--cost-epochs", type=int, default=20)
    parser.add_argument("--eval-every", type=int, default=1, help="PPMO meta-epochs between 100 x 100 checks")
    parser.add_argument("--sb3-chunk", type=int, default=1024, help="SB3 timesteps between checks")
    parser.add_argument("--cap-seconds", type=float, default=300.0, help="PPMO give-up train time per seed")
    parser.add_argument("--cap-steps", type=int, default=500_000, help="PPO give-up timesteps per seed")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    if args.seeds > 0:  # --seeds 0: the cost per epoch alone
        print(f"\n## Wall time to {TARGET:.0f} on 1D cart-pole (seconds of training; evaluations excluded)")
        header = "| seed | PPMO k=2 | meta-epochs | frames | file score (100 x 100) | SB3 PPO | timesteps |"
        print(header + " score |")
        print("|---|---|---|---|---|---|---|---|")
        ppmo_s, ppo_s = [], []
        for seed in range(args.seeds):
            a = ppmo_time_to_target(seed, args.cap_seconds, args.eval_every)
            b = sb3_time_to_target(seed, args.cap_steps, args.sb3_chunk)
            ppmo_s.append(a["seconds"])
            ppo_s.append(b["seconds"])
            print(
                f"| {seed} | {a['seconds']:.1f} | {a['meta_epochs']} | {a['frames']:,} | {a['score']:.1f} "
                f"| {b['seconds']:.1f} | {b['frames']:,} | {b['score']:.1f} |",
                flush=True,
            )
        m_a, m_b = statistics.median(ppmo_s), statistics.median(ppo_s)
        print(
            f"| median | {m_a:.1f} (range {min(ppmo_s):.1f}-{max(ppmo_s):.1f}) | | | "
            f"| {m_b:.1f} (range {min(ppo_s):.1f}-{max(ppo_s):.1f}) | | |"
        )
        print(
            f"ratio PPMO / PPO (median training wall time to {TARGET:.0f}): {m_a / m_b:.2f}"
            "  (must <= 1.0, goal <= 0.5)"
        )

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
