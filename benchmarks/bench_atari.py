"""Cost of PPMO on ``ALE/Pong-v5`` against plain PPO and SB3 PPO, timed in one run.

Run: ``python benchmarks/bench_atari.py [--device cpu|cuda] [--out results/atari/bench_atari.txt]``.

1. PPMO meta-epochs at encoder rollback l = 0 and l = 4 (Atari preset: 8 envs x 200 steps,
   4 policy epochs of 512-minibatches): after one warm-up meta-epoch, ``--repeats`` times
   ``algo.update(algo.collect())``. "collect" is the rollout plus GAE, "update" the policy epochs.
2. Plain PPO of the same size: TorchRL ``ClipPPOLoss`` on a Nature-CNN actor and the same critic,
   two Adam optimisers, per-module grad clip 0.5, trained on the *same* rollout as PPMO's (same
   epochs, minibatch size and shuffling); its collect is a TorchRL ``Collector`` plus GAE on the
   same frames with its own actor. Interleaved with PPMO's repeats, so both see the same load.
3. SB3 PPO (rl-zoo Atari hyper-parameters, constant lr) on SB3's ``make_atari_env``: timesteps per
   second of ``learn()``, training included (SB3's own measure of speed).

Frames are agent steps (4 emulator frames each). Read "vs plain PPO" as the price of one PPMO
meta-epoch in plain-PPO epochs of the same frames (paper: 1.15x per epoch on an A100); "e2e
frames/s" (frames / s per meta-epoch) compares with SB3's. Medians (min-max) of repeats; torch
uses ``--threads`` (default: every core). Last line: the paper's Pong l = 4 epoch count (Table 2,
a 6-GPU run) times this device's seconds per l = 4 meta-epoch.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import subprocess
import time
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torchrl.collectors import Collector
from torchrl.objectives import ClipPPOLoss, ValueEstimators

from taskdistill_rl.actors import make_actor, make_critic
from taskdistill_rl.algorithms.ppmo import PPMO
from taskdistill_rl.baselines.sb3_ppo import hyperparams_for, make_vec_envs
from taskdistill_rl.devices import pinned_outputs
from taskdistill_rl.envs import make_env
from taskdistill_rl.envs.atari import as_float_frames
from taskdistill_rl.learners.cnn import NatureCNNLearners

ENV = "ALE/Pong-v5"
PAPER_EPOCHS = 17_000  # Table 2: Pong l = 4 reaches 21.0 at about 17,000 outer epochs (6 GPUs)


def timed(fn, device: str):
    """``(fn(), seconds)``, with queued GPU work finished before the clock stops."""
    started = time.perf_counter()
    result = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return result, time.perf_counter() - started


class FloatFrames(nn.Module):
    """``make_env``'s uint8 frames as the float [0, 1] values learners read (PPMO's actor does this)."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return as_float_frames(obs)


class PlainPPO:
    """One Nature-CNN trained directly by ``ClipPPOLoss``, sized like ``algo``'s meta-epoch."""

    def __init__(self, algo: PPMO):
        cfg = self.cfg = algo.config
        obs_shape = tuple(algo.dataset.obs_shape)
        net = NatureCNNLearners(obs_shape=obs_shape, out_features=int(algo.env.action_spec.space.n))
        cnn = net.sample(torch.Generator().manual_seed(cfg.seed))
        self.actor = make_actor(nn.Sequential(FloatFrames(), cnn)).to(cfg.device)
        self.critic = make_critic(obs_shape).to(cfg.device)
        self.loss = ClipPPOLoss(
            self.actor,
            self.critic,
            clip_epsilon=cfg.clip_epsilon,
            entropy_bonus=False,
            loss_critic_type="l2",
            normalize_advantage=True,
            clip_value=None,
        )
        self.loss.set_keys(sample_log_prob="action_log_prob")
        self.loss.make_value_estimator(ValueEstimators.GAE, gamma=cfg.gamma, lmbda=cfg.gae_lambda)
        self.optims = [
            torch.optim.Adam(m.parameters(), lr=2.5e-4, eps=1e-5) for m in (self.actor, self.critic)
        ]
        self.shuffle = torch.Generator().manual_seed(cfg.seed + 2)  # PPMO's scheme: CPU randperm
        # as PPMO's: games on the CPU, pinned outputs copied to the device
        env = pinned_outputs(make_env(ENV, num_envs=cfg.num_envs, seed=cfg.seed), cfg.device)
        frames = cfg.num_envs * cfg.steps_per_env
        self.collector = Collector(
            env,
            self.actor,
            frames_per_batch=frames,
            total_frames=-1,
            env_device=env.device,
            policy_device=cfg.device,
            storing_device=cfg.device,
            auto_register_policy_transforms=False,
        )
        self.rollouts = iter(self.collector)

    def collect(self):
        td = next(self.rollouts)
        with torch.no_grad():
            self.loss.value_estimator(td)
        return td

    def update(self, data) -> None:
        cfg, flat = self.cfg, data.reshape(-1)
        n = flat.shape[0]
        for _ in range(cfg.policy_epochs):
            perm = torch.randperm(n, generator=self.shuffle).to(cfg.device)
            for start in range(0, n, cfg.minibatch_size):
                out = self.loss(flat[perm[start : start + cfg.minibatch_size]])
                for optim in self.optims:
                    optim.zero_grad(set_to_none=True)
                (out["loss_objective"] + out["loss_critic"]).backward()
                for module in (self.actor, self.critic):
                    nn.utils.clip_grad_norm_(module.parameters(), cfg.max_grad_norm)
                for optim in self.optims:
                    optim.step()

    def close(self) -> None:
        self.collector.shutdown()


def sb3_frames_per_second(device: str, rollouts: int, n_steps: int | None) -> float:
    from stable_baselines3 import PPO

    hp = hyperparams_for(ENV)
    n_envs, frame_stack, policy = hp.pop("n_envs"), hp.pop("frame_stack"), hp.pop("policy")
    hp.pop("anneal")  # constant lr and clip range: the speed does not depend on them
    hp["n_steps"] = n_steps or hp["n_steps"]
    hp["batch_size"] = min(hp["batch_size"], n_envs * hp["n_steps"])
    env = make_vec_envs(ENV, n_envs, 0, {}, frame_stack)
    model = PPO(policy, env, seed=0, verbose=0, device=device, **hp)
    per_rollout = n_envs * hp["n_steps"]
    model.learn(per_rollout)  # warm-up
    _, seconds = timed(lambda: model.learn(rollouts * per_rollout, reset_num_timesteps=False), device)
    env.close()
    return rollouts * per_rollout / seconds


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def measure(algo: PPMO, plain: PlainPPO, repeats: int, device: str, base: dict) -> dict:
    """Seconds of PPMO's collect and update, each repeat followed by plain PPO's update on the same
    rollout and its own collect (appended to ``base``). Returns PPMO's; both also get ``frames``."""
    warm = algo.collect()  # the warm-up meta-epoch (algo.step()), shared with plain PPO
    algo.update(warm)
    plain.update(warm.data)
    plain.collect()
    ppmo = {"collect": [], "update": []}
    for _ in range(repeats):
        rollout, seconds = timed(algo.collect, device)
        ppmo["collect"].append(seconds)
        ppmo["update"].append(timed(partial(algo.update, rollout), device)[1])
        base["update"].append(timed(partial(plain.update, rollout.data), device)[1])
        base["collect"].append(timed(plain.collect, device)[1])
        ppmo["frames"] = base["frames"] = rollout.data.numel()
        observations = rollout.data.get("observation")
        ppmo["rollout_bytes"] = rollout.data.bytes()
        # the same rollout with float32 frames (the pipeline before issue 23's uint8 frames)
        ppmo["float32_rollout_bytes"] = ppmo["rollout_bytes"] + observations.numel() * (
            4 - observations.element_size()
        )
    return ppmo


def report(rows: dict, sb3: float | None, args: argparse.Namespace) -> str:
    git = ["git", "describe", "--always", "--dirty"]
    try:
        commit = subprocess.run(git, capture_output=True, text=True).stdout.strip() or "?"
    except OSError:  # no git on the machine (a lent GPU machine gets a copy of the tree)
        commit = "?"
    frames = rows["plain PPO"]["frames"]
    cpu = platform.processor() or platform.machine()
    lines = [
        f"# {ENV}: {frames} frames per (meta-)epoch; repeats: {args.repeats}, after 1 warm-up each",
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; {cpu}, {os.cpu_count()} CPUs; "
        f"commit {commit}",
        "",
        "| variant | device | collect frames/s | s/update | s/meta-epoch | e2e frames/s | vs plain PPO |",
        "|---|---|---|---|---|---|---|",
    ]
    total = {
        name: [a + b for a, b in zip(r["collect"], r["update"], strict=True)] for name, r in rows.items()
    }
    epoch = {name: statistics.median(t) for name, t in total.items()}
    for name, r in rows.items():
        fps = frames / statistics.median(r["collect"])
        lines.append(
            f"| {name} | {args.device} | {fps:.0f} | {spread(r['update'])} | {spread(total[name])} "
            f"| {frames / epoch[name]:.0f} | {epoch[name] / epoch['plain PPO']:.2f}x |"
        )
    if sb3 is not None:
        lines.append(
            f"| SB3 PPO (rl-zoo; learn, training incl.) | {args.device} | - | - | - | {sb3:.0f} | - |"
        )
    lines.append("paper: one PPMO meta-epoch costs 1.15x a PPO epoch on an A100")
    for name, r in rows.items():
        if "rollout_bytes" in r:
            lines.append(
                f"{name} rollout: {r['rollout_bytes'] / 2**20:.1f} MiB per meta-epoch with uint8 frames "
                f"({r['float32_rollout_bytes'] / 2**20:.1f} MiB with float32 frames)"
            )
    if "PPMO l=4" in epoch:
        hours = PAPER_EPOCHS * epoch["PPMO l=4"] / 3600
        lines += [
            f"projection: Pong l=4 reached 21.0 at ~{PAPER_EPOCHS:,} outer epochs (paper Table 2): "
            f"{PAPER_EPOCHS:,} x {epoch['PPMO l=4']:.2f} s = {hours:.1f} h on this device, one process",
            "note: the paper's epoch count came from a run with 6-GPU parallelisation",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, help="also write the report here")
    parser.add_argument("--repeats", type=int, default=3, help="timed meta-epochs per variant")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads")
    parser.add_argument("--layers", type=int, nargs="+", default=[0, 4], help="encoder rollback l")
    for name in ("num-envs", "steps-per-env", "minibatch-size", "policy-epochs"):
        parser.add_argument(f"--{name}", type=int, help="override the Atari preset")
    parser.add_argument("--sb3-rollouts", type=int, default=2, help="timed SB3 rollouts (0 skips SB3)")
    parser.add_argument("--sb3-steps", type=int, help="SB3 n_steps per env (rl-zoo: 128)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.getLogger("torchrl").setLevel(logging.WARNING)  # its INFO lines are for its developers
    names = ("num_envs", "steps_per_env", "minibatch_size", "policy_epochs")
    overrides = {k: getattr(args, k) for k in names if getattr(args, k) is not None}

    rows, plain = {}, None
    base = {"collect": [], "update": []}  # plain PPO, pooled over the PPMO blocks it is interleaved with
    for layers in args.layers:
        algo = PPMO(ENV, encoder_layers=layers, device=args.device, seed=0, **overrides)
        plain = plain or PlainPPO(algo)
        rows[f"PPMO l={layers}"] = measure(algo, plain, args.repeats, args.device, base)
        algo.close()
    plain.close()
    rows["plain PPO"] = base
    sb3 = sb3_frames_per_second(args.device, args.sb3_rollouts, args.sb3_steps) if args.sb3_rollouts else None
    text = report(rows, sb3, args)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
