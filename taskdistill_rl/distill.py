"""The outer loop: PPMO distillation (paper Algorithm 1), checkpoints, metrics, summary."""

from __future__ import annotations

import copy
import logging
import math
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule
from torch import nn
from torchrl.collectors import Collector
from torchrl.envs import EnvBase
from torchrl.modules import ProbabilisticActor, ValueOperator
from torchrl.objectives.value import GAE

from taskdistill_rl.config import DistillConfig
from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.envs import BatchedNDCartPole, make_env
from taskdistill_rl.envs.factory import env_family
from taskdistill_rl.errors import DivergenceError, Interrupted
from taskdistill_rl.evaluate import evaluate_dataset
from taskdistill_rl.io import atomic_write, write_toml
from taskdistill_rl.metrics_log import MetricsLog
from taskdistill_rl.objectives.ppmo import PPMOLoss, action_distribution, diagonal_normal
from taskdistill_rl.obs_norm import NormalizedInput, update_running

log = logging.getLogger(__name__)
METRIC_FIELDS = [
    "meta_epoch",
    "time/wall_seconds",
    "time/frames",
    "time/rollout_seconds",
    "time/update_seconds",
    "train/episode_return_mean",
    "train/episodes",
    "train/inner_lr",
    "train/loss_objective",
    "train/loss_critic",
    "train/clip_fraction",
    "train/kl_approx",
    "train/ESS",
    "train/diverged",
    "eval/return_mean",
]


class Callback:
    """Hooks into :meth:`Distiller.train` (in the spirit of SB3's ``BaseCallback``).

    Return ``False`` from :meth:`on_meta_epoch_end` to stop training early.
    """

    def on_training_start(self, distiller: Distiller) -> None:
        pass

    def on_meta_epoch_end(self, distiller: Distiller, metrics: dict) -> bool:
        return True

    def on_training_end(self, distiller: Distiller) -> None:
        pass


class _FunctionCallback(Callback):
    def __init__(self, fn: Callable[[dict], bool | None]):
        self.fn = fn

    def on_meta_epoch_end(self, distiller: Distiller, metrics: dict) -> bool:
        return self.fn(metrics) is not False


class Distiller:
    """Distil an environment into a :class:`DistilledDataset` with PPMO.

    Args:
        env: an env id (``"NDCartPole-v0"``, any gymnasium id) or a batched TorchRL env
            instance (then periodic evaluation needs ``config.env`` to name its id).

    Keyword Args:
        config: a :class:`DistillConfig`; ``**overrides`` replace its fields.
        out_dir: where ``metrics.csv``, ``checkpoint.pt``, ``distilled.pt``, ``summary.json``
            and ``config.toml`` go (nothing is written when None).
        quiet: hide the progress bar.

    Examples:
        >>> d = Distiller("NDCartPole-v0", k=2, num_envs=4, steps_per_env=16, quiet=True)
        >>> ds = d.train(epochs=1)
        >>> tuple(ds.observation.shape)
        (2, 4)
    """

    def __init__(
        self,
        env: str | EnvBase = "NDCartPole-v0",
        *,
        config: DistillConfig | None = None,
        out_dir: str | Path | None = None,
        quiet: bool = False,
        **overrides,
    ):
        from dataclasses import replace

        config = config or DistillConfig()
        if isinstance(env, str):
            overrides["env"] = env
        config = replace(config, **overrides) if overrides else config
        self.quiet = quiet
        self.out_dir = Path(out_dir) if out_dir is not None else None
        torch.manual_seed(config.seed)
        if isinstance(env, EnvBase):
            self.env = env
        else:
            self.env = make_env(
                config.env,
                num_envs=config.num_envs,
                device=config.device,
                seed=config.seed,
                **config.env_kwargs,
            )
        if len(self.env.batch_size) != 1:
            raise ValueError(
                f"the env must be batched with batch_size [num_envs], got {tuple(self.env.batch_size)}"
            )
        spec = self.env.action_spec
        self.continuous = not hasattr(spec.space, "n")
        n_out = int(spec.shape[-1]) if self.continuous else int(spec.space.n)
        config = config.with_k(n_out, self.continuous)
        if config.normalize_obs is None:  # PPO's MuJoCo practice; frozen into the file
            mujoco = isinstance(env, str) and env_family(config.env) == "mujoco"
            config = replace(config, normalize_obs=mujoco)
        self.config = config
        obs_shape = tuple(self.env.observation_spec["observation"].shape[1:])
        generator = torch.Generator().manual_seed(config.seed)
        self.dataset = DistilledDataset(
            k=config.k,
            obs_shape=obs_shape,
            out_features=n_out,
            continuous=self.continuous,
            normalize_obs=config.normalize_obs,
            meta={
                "env_id": config.env,
                "env_kwargs": dict(config.env_kwargs),
                "preset": config.preset,
                "encoder_layers": config.encoder_layers,
                "inner_steps": config.inner_steps,
            },
            generator=generator,
        ).to(config.device)
        self.learners = self.dataset.learners()
        self.init_generator = torch.Generator().manual_seed(config.seed + 1)
        self.shuffle_generator = torch.Generator().manual_seed(config.seed + 2)

        # π^0 for collection: the learner architecture holding θ^1 (detached) each meta-epoch.
        self.policy_net = self.learners.build().to(config.device)
        out_key = "loc" if self.continuous else "logits"
        module = TensorDictModule(
            NormalizedInput(self.policy_net, self.dataset), in_keys=["observation"], out_keys=[out_key]
        )
        if self.continuous:
            from tensordict.nn import TensorDictSequential

            scale = TensorDictModule(
                lambda loc: self.dataset.log_std.detach().exp().expand_as(loc),
                in_keys=["loc"],
                out_keys=["scale"],
            )
            module = TensorDictSequential(module, scale)
            self.actor = ProbabilisticActor(
                module,
                in_keys=["loc", "scale"],
                distribution_class=diagonal_normal,
                return_log_prob=True,
            )
        else:
            self.actor = ProbabilisticActor(
                module,
                in_keys=["logits"],
                distribution_class=torch.distributions.Categorical,
                return_log_prob=True,
            )
        hidden = 64
        flat = math.prod(obs_shape)
        critic_net = nn.Sequential(
            nn.Flatten(-len(obs_shape)) if len(obs_shape) > 1 else nn.Identity(),
            nn.Linear(flat, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, 1),
        )
        if config.normalize_obs:
            critic_net = NormalizedInput(critic_net, self.dataset)
        self.critic = ValueOperator(critic_net, in_keys=["observation"]).to(config.device)
        self.loss = PPMOLoss(
            self.policy_net,
            self.dataset,
            self.critic,
            clip_epsilon=config.clip_epsilon,
            entropy_coeff=config.entropy_coeff,
            inner_steps=config.inner_steps,
        )
        self.gae = GAE(gamma=config.gamma, lmbda=config.gae_lambda, value_network=self.critic)
        self.dataset_optim = torch.optim.Adam(self.dataset.parameters(), lr=config.distiller_lr, eps=1e-5)
        self.critic_optim = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr, eps=1e-5)
        self.meta_epoch = 0
        self.consecutive_divergences = 0
        self.frames = 0
        self.wall_seconds = 0.0
        self.best: tuple[float, int, dict] | None = None  # (eval mean, meta-epoch, dataset state)
        self.last_eval: float | None = None
        self._running_return = torch.zeros(self.env.batch_size[0], dtype=torch.float64)
        self._collector: Collector | None = None
        self._paused_rollout: dict | None = None  # where the next collector continues from

    # -- one meta-epoch ---------------------------------------------------------------------------
    def _collect(self):
        if self._collector is None:
            frames = self.config.num_envs * self.config.steps_per_env
            self._collector = Collector(
                self.env,
                self.actor,
                frames_per_batch=frames,
                total_frames=-1,
                device=self.config.device,
                auto_register_policy_transforms=False,
            )
            if self._paused_rollout is not None:
                self._restore_rollout(self._paused_rollout)
                self._paused_rollout = None
            self._iterator = iter(self._collector)
        return next(self._iterator)

    def _episode_returns(self, td) -> list[float]:
        """Returns of the episodes that ended inside this rollout ([num_envs, T] td), vectorised:
        running sums carried across rollouts, differenced between an env's successive ends."""
        reward = td.get(("next", "reward")).reshape(td.shape[0], td.shape[1]).to("cpu", torch.float64)
        done = td.get(("next", "done")).reshape(td.shape[0], td.shape[1]).cpu()
        cumulative = self._running_return[:, None] + reward.cumsum(1)
        rows, cols = done.nonzero(as_tuple=True)  # row-major: each env's ends in time order
        at_end = cumulative[rows, cols]
        same_env = torch.zeros_like(rows, dtype=torch.bool)
        same_env[1:] = rows[1:] == rows[:-1]
        before = torch.zeros_like(at_end)
        before[1:] = torch.where(same_env[1:], at_end[:-1], 0.0)
        self._running_return = cumulative[:, -1].clone()
        last = torch.ones_like(same_env)
        last[:-1] = rows[1:] != rows[:-1]
        self._running_return[rows[last]] -= at_end[last]
        return (at_end - before).tolist()

    def _rollout_state(self) -> dict:
        """Where the rollout stands: episode bookkeeping and, for the batched ND cart-pole, the
        collector's carried TensorDict and the physics state, so a resumed run steps on exactly."""
        if self._collector is None:
            return self._paused_rollout or {"running_return": self._running_return.clone()}
        state = {"running_return": self._running_return.clone()}
        if isinstance(self.env, BatchedNDCartPole):
            state.update(
                carrier=self._collector._carrier.to_dict(),
                physics=self.env.state.clone(),
                step_count=self.env.step_count.clone(),
                env_rng=self.env._generator.get_state(),
            )
        return state

    def _restore_rollout(self, state: dict) -> None:
        self._running_return = state["running_return"].clone()
        if "carrier" in state and isinstance(self.env, BatchedNDCartPole):
            carrier = TensorDict(state["carrier"], batch_size=self.env.batch_size, device=self.env.device)
            self._collector._carrier = carrier
            self.env.state.copy_(state["physics"])
            self.env.step_count.copy_(state["step_count"])
            self.env._generator.set_state(state["env_rng"])

    def meta_epoch_step(self) -> dict:
        """Sample θ^0, act with θ^1, then PPO epochs on the dataset through the inner step."""
        cfg = self.config
        learner0 = self.learners.sample(self.init_generator).to(cfg.device)
        self.loss.set_initialisation(learner0)
        with torch.no_grad():
            theta1 = self.loss.current_params()
            for name, p in self.policy_net.named_parameters():
                p.copy_(theta1[name])
        started = time.perf_counter()
        td = self._collect()
        with torch.no_grad():
            self.gae(td)
        returns = self._episode_returns(td)
        collected = time.perf_counter()
        flat = td.reshape(-1)
        n = flat.shape[0]
        self.frames += n
        sums = {"loss_objective": 0.0, "loss_critic": 0.0, "clip_fraction": 0.0, "kl_approx": 0.0, "ESS": 0.0}
        updates = 0
        good = self._learning_state()
        diverged = False
        for _ in range(cfg.policy_epochs):
            perm = torch.randperm(n, generator=self.shuffle_generator).to(cfg.device)
            for start in range(0, n, cfg.minibatch_size):
                out = self.loss(flat[perm[start : start + cfg.minibatch_size]])
                total = out["loss_objective"] + out["loss_entropy"] + out["loss_critic"]
                diverged = not torch.isfinite(total)
                if not diverged:
                    self.dataset_optim.zero_grad(set_to_none=True)
                    self.critic_optim.zero_grad(set_to_none=True)
                    total.backward()
                    norms = [
                        nn.utils.clip_grad_norm_(module.parameters(), cfg.max_grad_norm)
                        for module in (self.dataset, self.critic)
                    ]
                    diverged = not all(torch.isfinite(norm) for norm in norms)
                if diverged:
                    self._roll_back(good)
                    break
                self.dataset_optim.step()
                self.critic_optim.step()
                updates += 1
                for key in sums:
                    sums[key] += float(out[key].detach())
            if diverged:
                break
        if self.dataset.normalize_obs and not diverged:  # next meta-epoch's statistics
            update_running(
                self.dataset.obs_mean, self.dataset.obs_var, self.dataset.obs_count, td.get("observation")
            )
        self.consecutive_divergences = self.consecutive_divergences + 1 if diverged else 0
        if self.consecutive_divergences >= cfg.max_divergences:
            lrs = [optim.param_groups[0]["lr"] for optim in (self.dataset_optim, self.critic_optim)]
            raise DivergenceError(
                f"non-finite loss or gradient in {self.consecutive_divergences} consecutive meta-epochs "
                f"even after halving the Adam lrs to {lrs[0]:.3g} (distiller) and {lrs[1]:.3g} (critic); "
                f"stopped at the last good state (meta-epoch {self.meta_epoch})"
            )
        self.meta_epoch += 1
        metrics = {f"train/{k}": v / max(updates, 1) for k, v in sums.items()}
        metrics.update(
            {
                "meta_epoch": self.meta_epoch,
                "time/frames": self.frames,
                "time/rollout_seconds": collected - started,  # collect + GAE
                "time/update_seconds": time.perf_counter() - collected,  # the policy epochs
                "train/episode_return_mean": sum(returns) / len(returns) if returns else float("nan"),
                "train/episodes": len(returns),
                "train/inner_lr": float(self.dataset.inner_lr.detach()),
                "train/diverged": int(diverged),
            }
        )
        return metrics

    # -- divergence -------------------------------------------------------------------------------
    def _learning_state(self) -> dict:
        """What a diverged step rolls back: dataset (X, Y, inner lr), critic, both optimisers."""
        modules = {"dataset": self.dataset, "critic": self.critic}
        modules.update(dataset_optim=self.dataset_optim, critic_optim=self.critic_optim)
        return {name: copy.deepcopy(m.state_dict()) for name, m in modules.items()}

    def _roll_back(self, good: dict) -> None:
        """Restore the last good state and halve both Adam step sizes (a non-finite step was seen)."""
        self.dataset.load_state_dict(good["dataset"])
        self.critic.load_state_dict(good["critic"])
        self.dataset_optim.load_state_dict(good["dataset_optim"])
        self.critic_optim.load_state_dict(good["critic_optim"])
        for optim in (self.dataset_optim, self.critic_optim):
            for group in optim.param_groups:
                group["lr"] /= 2
        log.warning(
            "meta-epoch %d: non-finite loss or gradient; rolled back to the last good state and halved the "
            "Adam lrs (distiller %.3g, critic %.3g)",
            self.meta_epoch + 1,
            self.dataset_optim.param_groups[0]["lr"],
            self.critic_optim.param_groups[0]["lr"],
        )

    # -- evaluation -------------------------------------------------------------------------------
    def evaluate(self, *, n_learners: int, episodes: int, seed: int) -> torch.Tensor:
        return evaluate_dataset(
            self.dataset,
            env_id=self.config.env,
            env_kwargs=self.config.env_kwargs,
            n_learners=n_learners,
            episodes=episodes,
            seed=seed,
            inner_steps=self.config.inner_steps,
            device=self.config.device,
        )

    # -- training ---------------------------------------------------------------------------------
    def train(
        self,
        epochs: int | None = None,
        *,
        time_budget: float | None = None,
        target_return: float | None = None,
        callback: Callback | Callable[[dict], bool | None] | None = None,
    ) -> DistilledDataset:
        """Run meta-epochs until ``epochs`` / ``time_budget`` / ``target_return`` (any that is set).

        Returns the dataset with the best periodic evaluation (the last one if none ran).
        """
        cfg = self.config
        epochs = cfg.epochs if epochs is None else epochs
        time_budget = cfg.time_budget if time_budget is None else time_budget
        target_return = cfg.target_return if target_return is None else target_return
        if epochs is None and time_budget is None and target_return is None:
            raise ValueError("give a stop criterion: epochs, time_budget or target_return")
        if callback is not None and not isinstance(callback, Callback):
            callback = _FunctionCallback(callback)
        callback = callback or Callback()
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            write_toml(
                self.out_dir / "config.toml",
                {
                    **cfg.to_dict(),
                    "epochs": epochs,
                    "time_budget": time_budget,
                    "target_return": target_return,
                },
            )
        callback.on_training_start(self)
        progress = _progress(self.quiet)
        task = progress.add_task(
            "distilling", total=epochs, ret=float("nan"), lr=float(self.dataset.inner_lr.detach())
        )
        start_wall = time.perf_counter() - self.wall_seconds
        metrics_log = self._open_metrics()
        signals = _StopSignals()
        try:
            with progress, signals:
                while True:
                    if epochs is not None and self.meta_epoch >= epochs:
                        break
                    if time_budget is not None and self.wall_seconds >= time_budget:
                        break
                    try:
                        metrics = self.meta_epoch_step()
                    except DivergenceError:
                        self._save_outputs()  # the last good state, rolled back to
                        raise
                    metrics["eval/return_mean"] = float("nan")
                    if self.meta_epoch % cfg.eval_interval == 0:
                        mean = float(
                            self.evaluate(
                                n_learners=cfg.eval_learners,
                                episodes=cfg.eval_episodes,
                                seed=cfg.seed + 7919 * self.meta_epoch,
                            ).mean()
                        )
                        metrics["eval/return_mean"] = self.last_eval = mean
                        if self.best is None or mean >= self.best[0]:
                            state = {k: v.detach().clone() for k, v in self.dataset.state_dict().items()}
                            self.best = (mean, self.meta_epoch, state)
                    self.wall_seconds = time.perf_counter() - start_wall
                    metrics["time/wall_seconds"] = self.wall_seconds
                    if metrics_log is not None:
                        metrics_log.write(metrics)
                    progress.update(
                        task,
                        advance=1,
                        ret=self.last_eval if self.last_eval is not None else float("nan"),
                        lr=metrics["train/inner_lr"],
                    )
                    if self.out_dir is not None and self.meta_epoch % cfg.checkpoint_interval == 0:
                        self.save_checkpoint(self.out_dir / "checkpoint.pt")
                    if signals.received is not None:
                        raise self._interrupted(signals.received)
                    if callback.on_meta_epoch_end(self, metrics) is False:
                        break
                    if (
                        target_return is not None
                        and self.last_eval is not None
                        and self.last_eval >= target_return
                    ):
                        break
        finally:
            if metrics_log is not None:
                metrics_log.close()
            if self._collector is not None:
                self._paused_rollout = self._rollout_state()
                self._collector.shutdown()
                self._collector = None
        self._save_outputs()
        callback.on_training_end(self)
        return self.dataset

    def _save_outputs(self) -> None:
        """Checkpoint the current state, then keep the best-evaluated dataset and write it."""
        if self.out_dir is not None:
            self.save_checkpoint(self.out_dir / "checkpoint.pt")
        if self.best is not None and (self.last_eval is None or self.best[0] > self.last_eval):
            self.dataset.load_state_dict(self.best[2])
        if self.out_dir is not None:
            self.dataset.save(self.out_dir / "distilled.pt")

    def _interrupted(self, signum: int) -> Interrupted:
        name = signal.Signals(signum).name
        if self.out_dir is None:
            return Interrupted(f"stopped by {name} after meta-epoch {self.meta_epoch}")
        path = self.out_dir / "checkpoint.pt"
        self.save_checkpoint(path)
        return Interrupted(
            f"stopped by {name} after meta-epoch {self.meta_epoch}; checkpoint saved to {path}; "
            "continue with the same command and --resume"
        )

    def _open_metrics(self) -> MetricsLog | None:
        if self.out_dir is None:
            return None
        return MetricsLog(self.out_dir, METRIC_FIELDS, resume_from=self.meta_epoch)

    # -- checkpoints ------------------------------------------------------------------------------
    def save_checkpoint(self, path: str | Path) -> None:
        state = {
            "config_hash": self.config.learning_hash(),
            "meta_epoch": self.meta_epoch,
            "frames": self.frames,
            "wall_seconds": self.wall_seconds,
            "dataset": self.dataset.state_dict(),
            "critic": self.critic.state_dict(),
            "dataset_optim": self.dataset_optim.state_dict(),
            "critic_optim": self.critic_optim.state_dict(),
            "generators": [g.get_state() for g in (self.init_generator, self.shuffle_generator)],
            "torch_rng": torch.get_rng_state(),
            "rollout": self._rollout_state(),
            "last_eval": self.last_eval,
            "best": None
            if self.best is None
            else {"mean": self.best[0], "meta_epoch": self.best[1], "state": self.best[2]},
        }
        atomic_write(path, lambda f: torch.save(state, f))

    def load_checkpoint(self, path: str | Path) -> None:
        """Resume from ``path``; refuses a checkpoint written with a different config."""
        from taskdistill_rl.errors import TaskDistillError

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint to resume from at {str(path)!r}")
        try:
            state = torch.load(path, weights_only=True, map_location=self.config.device)
        except Exception as err:
            raise TaskDistillError(f"{path}: unreadable checkpoint ({type(err).__name__}: {err})") from err
        if state.get("config_hash") != self.config.learning_hash():
            raise TaskDistillError(
                f"{path} was written with a different config (hash {state.get('config_hash')} != "
                f"{self.config.learning_hash()}); resume with the same options or start a new --out"
            )
        self.dataset.load_state_dict(state["dataset"])
        self.critic.load_state_dict(state["critic"])
        self.dataset_optim.load_state_dict(state["dataset_optim"])
        self.critic_optim.load_state_dict(state["critic_optim"])
        self.init_generator.set_state(state["generators"][0])
        self.shuffle_generator.set_state(state["generators"][1])
        torch.set_rng_state(state["torch_rng"])
        self._paused_rollout = state.get("rollout")
        self.meta_epoch, self.frames, self.wall_seconds = (
            state["meta_epoch"],
            state["frames"],
            state["wall_seconds"],
        )
        self.last_eval = state["last_eval"]
        best = state["best"]
        self.best = None if best is None else (best["mean"], best["meta_epoch"], best["state"])


class _StopSignals:
    """While training: SIGINT/SIGTERM let the current meta-epoch finish, then the run checkpoints
    and stops. A second SIGINT aborts at once."""

    def __init__(self):
        self.received: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():  # signal.signal works only there
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _progress(quiet: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("eval return {task.fields[ret]:.1f}"),
        TextColumn("inner lr {task.fields[lr]:.3g}"),
        TimeElapsedColumn(),
        disable=quiet,
    )


__all__ = ["Callback", "Distiller", "action_distribution"]
