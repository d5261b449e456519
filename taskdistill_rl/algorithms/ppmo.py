"""``PPMO``: the algorithm (paper Algorithm 1; Algorithm 2 with an encoder), one meta-epoch at a time.

It owns the dataset, the critic, the loss and both optimisers, and implements
:class:`~taskdistill_rl.algorithms.base.Algorithm`: :meth:`PPMO.collect` a rollout with a fresh
initialisation's one-step learner, :meth:`PPMO.update` the dataset and critic on it, save and load
its state. When to stop, evaluate, checkpoint or log is the run loop's business
(:mod:`taskdistill_rl.run`), in the spirit of SB3's ``OnPolicyAlgorithm`` / callbacks split; the
other ranks of a data-parallel run are reached through ``self.group`` only.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, replace
from typing import ClassVar

import torch
from tensordict import TensorDict
from torch import nn
from torchrl.collectors import Collector
from torchrl.envs import EnvBase
from torchrl.objectives import ValueEstimators

from taskdistill_rl.actors import make_actor, make_critic
from taskdistill_rl.algorithms.base import Algorithm, starting_dataset, training_env
from taskdistill_rl.config import DistillConfig
from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.devices import (
    configure_determinism,
    cpu_copy,
    fused_adam_supported,
    rng_states,
    set_rng_states,
)
from taskdistill_rl.envs import BatchedNDCartPole
from taskdistill_rl.envs.atari import as_float_frames
from taskdistill_rl.envs.families import family_of
from taskdistill_rl.errors import DivergenceError, InvalidInputError
from taskdistill_rl.inner import Params
from taskdistill_rl.objectives.ppmo import PPMOLoss
from taskdistill_rl.obs_norm import NormalizedInput, merge_moments
from taskdistill_rl.population import GroupedLearners
from taskdistill_rl.reward_scaling import RewardScaler
from taskdistill_rl.seeds import EPOCH_SEED_STRIDE, STREAM_SEED_STRIDE

log = logging.getLogger(__name__)
RECENT_EPISODES = 10  # "train/recent_return": the mean over the last finished episodes
DIAGNOSTICS = ("loss_objective", "loss_critic", "clip_fraction", "kl_approx", "ESS")


@dataclass
class Rollout:
    """One meta-epoch's experience: what :meth:`PPMO.update` learns from.

    Attributes:
        data: ``[num_envs, steps_per_env]`` TensorDict with GAE's ``advantage``/``value_target``.
        theta0: the M initialisations whose one-step learners collected ``data`` (the loss's θ⁰),
            stacked ``[M, *shape]``; env ``e`` acted with initialisation ``e // (num_envs / M)``.
        episode_returns: returns of the episodes that ended inside this rollout.
        seconds: wall time of collection and advantage estimation.
    """

    data: TensorDict
    theta0: Params
    episode_returns: list[float]
    seconds: float


class PPMO(Algorithm):
    """Proximal Policy Meta-Optimization on one environment.

    Args:
        env: an env id (``"NDCartPole-v0"``, any gymnasium id) or a batched TorchRL env instance
            (then evaluation needs ``config.env`` to name its id).

    Keyword Args:
        config: a :class:`DistillConfig` (its stop criteria are the run loop's, unused here);
            ``**overrides`` replace its fields.
        stream: which random stream the rollouts draw from (initialisations, env states, actions,
            minibatch order): a distributed rank's number. The dataset and the critic start from
            ``config.seed`` whatever the stream, and stream 0 is the single-process run.

    Examples:
        >>> algo = PPMO("NDCartPole-v0", k=2, num_envs=4, steps_per_env=16)
        >>> metrics = algo.update(algo.collect())
        >>> algo.meta_epoch, tuple(algo.dataset.observation.shape)
        (1, (2, 4))
        >>> algo.close()
    """

    metric_fields = (
        "time/frames",
        "time/rollout_seconds",
        "time/update_seconds",
        "train/episode_return_mean",
        "train/recent_return",
        "train/episodes",
        "train/inner_lr",
        *(f"train/{name}" for name in DIAGNOSTICS),
        "train/diverged",
    )
    flags: ClassVar[dict[str, str]] = {"preset": "--preset", "inits_per_epoch": "--inits-per-epoch"}
    stream_keys = ("generators", "torch_rng", "cuda_rng", "rollout")  # cuda_rng: CUDA runs only

    def __init__(
        self,
        env: str | EnvBase = "NDCartPole-v0",
        *,
        config: DistillConfig | None = None,
        stream: int = 0,
        **overrides,
    ):
        config = config or DistillConfig()
        if isinstance(env, str):
            overrides["env"] = env
        config = (replace(config, **overrides) if overrides else config).resolved()
        torch.manual_seed(config.seed)  # the critic's (and, for stream 0, the collection's) draws
        self.device = torch.device(config.device)
        configure_determinism(self.device, cudnn_benchmark=config.cudnn_benchmark)
        self.stream_seed = config.seed + STREAM_SEED_STRIDE * stream
        self.env = training_env(env, config, device=self.device, seed=self.stream_seed)
        named = isinstance(env, str)
        self.config, dataset = starting_dataset(self.env, config, named=named)
        config = self.config
        obs_shape = dataset.obs_shape
        # Learning signal: ALE v5 learns from sign-clipped rewards (Huang et al.); scores stay raw.
        self.reward_clipping = named and family_of(config.env).clips_training_rewards(config.env)
        # Learning signal on MuJoCo-like tasks: rewards over the running std of the discounted return.
        scale = config.scale_rewards
        if scale is None:  # the family's default
            scale = named and family_of(config.env).scales_rewards
        self.reward_scaler = RewardScaler(self.env.batch_size[0], config.gamma) if scale else None
        self.dataset: DistilledDataset = dataset.to(self.device)
        self.learners = self.dataset.learners()
        self.init_generator = torch.Generator().manual_seed(self.stream_seed + 1)
        self.shuffle_generator = torch.Generator().manual_seed(self.stream_seed + 2)

        # π^0 for collection: the learner architecture holding θ^1 (detached) each meta-epoch.
        self.policy_net = self.learners.build().to(self.device)
        self.head = self.dataset.trainable(self.policy_net)  # what the inner step trains
        wrap = (lambda net: NormalizedInput(net, self.dataset)) if config.normalize_obs else None
        self.acting = _ActingLearners(self.head, self.dataset)
        self.actor = make_actor(
            self.acting if wrap is None else wrap(self.acting), log_std=self.dataset.log_std
        )
        self.critic = make_critic(obs_shape, wrap=wrap, learners=self.learners).to(self.device)
        self.loss = PPMOLoss(
            self.head,
            self.dataset,
            self.critic,
            clip_epsilon=config.clip_epsilon,
            entropy_coeff=config.entropy_coeff,
            inner_steps=config.inner_steps,
        )
        self.loss.make_value_estimator(ValueEstimators.GAE, gamma=config.gamma, lmbda=config.gae_lambda)
        # its buffers too (clip ε, entropy weight, GAE's γ and λ): CUDA's clamp takes no CPU bounds
        self.loss.to(self.device)
        # fused: one kernel for the whole Adam update; for the 1D dataset + critic it took 89 us
        # per step against foreach's 294 us and the default loop's 351 us (2 busy CPU cores),
        # and a meta-epoch takes ~50 steps of each optimiser
        fused = fused_adam_supported(self.device)
        inner_lr = [self.dataset.log_inner_lr]
        others = [p for p in self.dataset.parameters() if p is not self.dataset.log_inner_lr]
        self.dataset_optim = torch.optim.Adam(
            [{"params": others}, {"params": inner_lr, "lr": config.inner_lr_lr}],
            lr=config.distiller_lr,
            eps=1e-5,
            fused=fused,
        )
        self.critic_optim = torch.optim.Adam(
            self.critic.parameters(), lr=config.critic_lr, eps=1e-5, fused=fused
        )
        self.meta_epoch = 0
        self.frames = 0
        self.consecutive_divergences = 0
        self._running_return = torch.zeros(self.env.batch_size[0], dtype=torch.float64)
        self.recent_returns: list[float] = []  # the last RECENT_EPISODES finished episodes' returns
        self._collector: Collector | None = None
        self._paused_rollout: dict | None = None  # where the next collector continues from
        if stream:
            torch.manual_seed(self.stream_seed)  # this stream's action sampling

    def learned_modules(self) -> list[nn.Module]:
        """What :meth:`update` steps (:meth:`_stepped`): the dataset and the critic."""
        return [module for module, _ in self._stepped()]

    # -- one meta-epoch ---------------------------------------------------------------------------
    def sample_initialisation(self) -> Params:
        """θ⁰ for the next meta-epoch: ``inits_per_epoch`` fresh learners from Λ (their trainable
        parts), stacked ``[M, *shape]``."""
        stacked = self.learners.sample_stacked(self.config.inits_per_epoch, self.init_generator)
        return {name: stacked[name].to(self.device) for name, _ in self.head.named_parameters()}

    def collect(self, theta0: Params | None = None) -> Rollout:
        """Sample θ⁰ (unless given), act in each env group with its one-step learner θ¹,
        estimate advantages."""
        theta0 = self.sample_initialisation() if theta0 is None else theta0
        m = self.config.inits_per_epoch
        if any(p.shape[0] != m for p in theta0.values()):
            raise InvalidInputError(f"theta0 must stack inits_per_epoch = {m} initialisations")
        with torch.no_grad():
            self.acting.params = self._acting_params(theta0)
        started = time.perf_counter()
        td = next(self._rollouts())
        returns = self._episode_returns(td)  # raw scores, before any clipping
        self.recent_returns = (self.recent_returns + returns)[-RECENT_EPISODES:]
        if self.reward_clipping:
            td.set(("next", "reward"), td.get(("next", "reward")).sign())
        if self.reward_scaler is not None:
            reward = td.get(("next", "reward"))
            done = td.get(("next", "done")).reshape(td.shape[0], td.shape[1])
            scaled = self.reward_scaler(reward.reshape(td.shape[0], td.shape[1]), done)
            td.set(("next", "reward"), scaled.reshape(reward.shape))
        with torch.no_grad():
            self.loss.value_estimator(td)
        # the policy epochs never read the next observations: drop them (half an Atari rollout)
        td = td.exclude(("next", "observation"))
        self.frames += td.numel()
        return Rollout(td, theta0, returns, time.perf_counter() - started)

    def _acting_params(self, theta0: Params) -> Params:
        """What acts in the envs: each initialisation's one-step learner θ¹ (none with l = 5)."""
        return torch.vmap(self.loss.adapted_params)(theta0) if theta0 else {}

    def _objective(self, minibatch: TensorDict, theta0: Params) -> TensorDict:
        """The minibatch's losses and diagnostics (``DIAGNOSTICS``), through the inner step."""
        return self.loss(minibatch, theta0)

    def _stepped(self) -> list[tuple[nn.Module, torch.optim.Optimizer]]:
        """What an update learns: each module with its optimiser, its gradient clipped on its own."""
        return [(self.dataset, self.dataset_optim), (self.critic, self.critic_optim)]

    def update(self, rollout: Rollout) -> dict:
        """PPO epochs on the rollout through the inner step; a non-finite loss or gradient rolls
        the dataset, critic and optimisers back and halves both Adam lrs. Returns the metrics.

        Reads one boolean back to the host per minibatch (the divergence guard's, which decides
        whether the step is taken) and the metrics once at the end: the diagnostics are summed on
        the device (a CUDA update does not wait on the GPU after every minibatch)."""
        cfg = self.config
        started = time.perf_counter()
        sums = dict.fromkeys(DIAGNOSTICS, 0.0)
        updates = 0
        stepped = self._stepped()
        good = self._learning_state()
        diverged = False
        for _ in range(cfg.policy_epochs):
            for minibatch, theta0 in self._minibatches(rollout):
                out = self._objective(minibatch, theta0)
                total = out["loss_objective"] + out["loss_entropy"] + out["loss_critic"]
                for _, optim in stepped:
                    optim.zero_grad(set_to_none=True)
                total.backward()  # a non-finite loss leaves non-finite gradients: rolled back below
                flags = self.group.mean_gradients(torch.isfinite(total).reshape(1))
                norms = [
                    nn.utils.clip_grad_norm_(module.parameters(), cfg.max_grad_norm) for module, _ in stepped
                ]
                finite = flags[:1] & torch.isfinite(torch.stack(norms)).all()
                flags = torch.cat([finite, flags[1:]]).tolist()  # the minibatch's one read-back
                self.group.check(flags)
                diverged = not flags[0]
                if diverged:
                    self._roll_back(good)
                    break
                for _, optim in stepped:
                    optim.step()
                updates += 1
                for key in sums:
                    sums[key] = sums[key] + out[key].detach()
            if diverged:
                break
        if self.dataset.normalize_obs and not diverged:  # next meta-epoch's statistics
            self._update_obs_statistics(rollout.data.get("observation"))
        self.consecutive_divergences = self.consecutive_divergences + 1 if diverged else 0
        if self.consecutive_divergences >= cfg.max_divergences:
            lrs = [optim.param_groups[0]["lr"] for _, optim in stepped]
            raise DivergenceError(
                f"non-finite loss or gradient in {self.consecutive_divergences} consecutive meta-epochs "
                f"even after halving the Adam lrs to {lrs[0]:.3g} (distiller) and {lrs[1]:.3g} (critic); "
                f"stopped at the last good state (meta-epoch {self.meta_epoch})"
            )
        self.meta_epoch += 1
        returns = rollout.episode_returns  # every rank's: [sum of returns, count], all-reduced
        episodes = self.group.sum(
            torch.tensor([sum(returns), len(returns)], dtype=torch.float64, device=self.device)
        )
        diagnostics = torch.stack([torch.as_tensor(v, device=self.device) for v in sums.values()]).double()
        *totals, return_sum, episode_count = torch.cat([diagnostics, episodes]).tolist()  # one read
        metrics = {f"train/{k}": v / max(updates, 1) for k, v in zip(sums, totals, strict=True)}
        metrics.update(
            {
                "meta_epoch": self.meta_epoch,
                "time/frames": self.total_frames,
                "time/rollout_seconds": rollout.seconds,  # collect + GAE
                "time/update_seconds": time.perf_counter() - started,  # the policy epochs
                "train/episode_return_mean": return_sum / episode_count if episode_count else math.nan,
                "train/recent_return": (
                    sum(self.recent_returns) / len(self.recent_returns)
                    if self.recent_returns
                    else float("nan")
                ),
                "train/episodes": int(episode_count),
                "train/inner_lr": float(self.dataset.inner_lr.detach()),
                "train/diverged": int(diverged),
            }
        )
        return metrics

    def _update_obs_statistics(self, observations: torch.Tensor) -> None:
        """Every rank's rollout statistics merged in rank order (the parallel mean/variance merge)."""
        ds = self.dataset
        batch = observations.reshape(-1, *ds.obs_mean.shape).to(torch.float64)
        local = torch.stack([batch.mean(0), batch.var(0, unbiased=False)])
        for moments in self.group.gather(local):  # every rank's batch has the same size
            merge_moments(ds.obs_mean, ds.obs_var, ds.obs_count, moments[0], moments[1], len(batch))

    def _minibatches(self, rollout: Rollout):
        """One epoch of shuffled minibatches with their θ⁰: with M initialisations, ``[M, B / M]``
        tensordicts whose row m holds frames of group m's envs only; with one, flat ``[B]``.
        Each is :meth:`_read` (float frames)."""
        cfg, m = self.config, self.config.inits_per_epoch
        data = rollout.data.select(*self.loss.minibatch_keys())  # index 6 entries, not ~20
        if m == 1:
            flat = data.reshape(-1)
            theta0 = {name: p[0] for name, p in rollout.theta0.items()}
            perm = torch.randperm(flat.shape[0], generator=self.shuffle_generator).to(cfg.device)
            for start in range(0, flat.shape[0], cfg.minibatch_size):
                yield self._read(flat[perm[start : start + cfg.minibatch_size]]), theta0
            return
        grouped = data.reshape(m, -1)  # [M, frames of each initialisation's envs]
        per_group, rows = cfg.minibatch_size // m, torch.arange(m, device=cfg.device)[:, None]
        perm = torch.rand(grouped.shape, generator=self.shuffle_generator).argsort(1).to(cfg.device)
        for start in range(0, grouped.shape[1], per_group):
            yield self._read(grouped[rows, perm[:, start : start + per_group]]), rollout.theta0

    def _read(self, minibatch: TensorDict) -> TensorDict:
        """A minibatch as the loss reads it: uint8 Atari frames become float [0, 1] here, once for
        the learners and the critic (the rollout keeps a quarter of float32's bytes)."""
        key = self.loss.tensor_keys.observation
        observation = minibatch.get(key)
        return (
            minibatch.set(key, as_float_frames(observation))
            if observation.dtype == torch.uint8
            else minibatch
        )

    def step(self) -> dict:
        """One meta-epoch: ``update(collect())``. A signal may cut the collection short on a
        multi-process run (no collective runs in it)."""
        with self.group.abortable():
            rollout = self.collect()
        return self.update(rollout)

    # -- rollouts ---------------------------------------------------------------------------------
    def _rollouts(self):
        if self._collector is None:
            self._collector = Collector(
                self.env,
                self.actor,
                frames_per_batch=self.config.num_envs * self.config.steps_per_env,
                total_frames=-1,
                env_device=self.env.device,
                policy_device=self.device,
                storing_device=self.device,
                auto_register_policy_transforms=False,
                trust_policy=True,  # l = 5: the acting net is the dataset's encoder, not the actor's own
            )
            if self._paused_rollout is not None:
                self._restore_rollout(self._paused_rollout)
                self._paused_rollout = None
            self._iterator = iter(self._collector)
        return self._iterator

    def close(self) -> None:
        """Stop the collector, remembering where the rollout stands (a later collect continues)."""
        if self._collector is not None:
            self._paused_rollout = self._rollout_state()
            self._collector.shutdown()
            self._collector = None

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
            fresh = {"running_return": self._running_return.clone(), **self._scaler_state()}
            return self._paused_rollout or fresh
        state = {
            "running_return": self._running_return.clone(),
            "recent_returns": list(self.recent_returns),
            **self._scaler_state(),
        }
        if isinstance(self.env, BatchedNDCartPole):
            state.update(
                carrier=self._collector._carrier.to_dict(),
                physics=self.env.state.clone(),
                step_count=self.env.step_count.clone(),
                env_rng=self.env._generator.get_state(),
            )
        return state

    def _scaler_state(self) -> dict:
        return {} if self.reward_scaler is None else {"reward_scaler": self.reward_scaler.state_dict()}

    def _restore_rollout(self, state: dict) -> None:
        self._running_return = state["running_return"].clone()
        self.recent_returns = list(state.get("recent_returns", []))
        if self.reward_scaler is not None:
            self.reward_scaler.load_state_dict(state["reward_scaler"])
        if "carrier" in state and isinstance(self.env, BatchedNDCartPole):
            carrier = TensorDict(state["carrier"], batch_size=self.env.batch_size, device=self.env.device)
            self._collector._carrier = carrier
            self.env.state.copy_(state["physics"])
            self.env.step_count.copy_(state["step_count"])
            self.env._generator.set_state(state["env_rng"])

    # -- divergence -------------------------------------------------------------------------------
    def _learning_state(self) -> list[tuple[dict, dict]]:
        """What a diverged step rolls back: every stepped module (the dataset: X, Y, inner lr; the
        critic) and its optimiser."""
        return [(copy.deepcopy(m.state_dict()), copy.deepcopy(o.state_dict())) for m, o in self._stepped()]

    def _roll_back(self, good: list[tuple[dict, dict]]) -> None:
        """Restore the last good state and halve every Adam step size (a non-finite step was seen)."""
        stepped = self._stepped()
        for (module, optim), (module_state, optim_state) in zip(stepped, good, strict=True):
            module.load_state_dict(module_state)
            optim.load_state_dict(optim_state)
            for group in optim.param_groups:
                group["lr"] /= 2
        log.warning(
            "meta-epoch %d: non-finite loss or gradient; rolled back to the last good state and halved the "
            "Adam lrs (distiller %.3g, critic %.3g)",
            self.meta_epoch + 1,
            *(optim.param_groups[0]["lr"] for _, optim in stepped),
        )

    # -- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything that decides what is learned next: tensors, optimisers, every RNG, the
        rollout's position. Plain tensors and primitives (``torch.load(weights_only=True)``)."""
        return cpu_copy(
            {
                "meta_epoch": self.meta_epoch,
                "frames": self.frames,
                "consecutive_divergences": self.consecutive_divergences,
                "dataset": self.dataset.state_dict(),
                "critic": self.critic.state_dict(),
                "dataset_optim": self.dataset_optim.state_dict(),
                "critic_optim": self.critic_optim.state_dict(),
                **self.stream_state(),
            }
        )

    def stream_state(self) -> dict:
        """The part of the state that is this random stream's own (a distributed rank's): RNGs and
        where the rollout stands. The rest is the same in every stream. A CUDA run adds the GPU's
        generator state, ``cuda_rng`` (:meth:`state_dict` copies it all to the CPU)."""
        return {
            "generators": [g.get_state() for g in (self.init_generator, self.shuffle_generator)],
            **rng_states(self.device),
            "rollout": self._rollout_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        saved_scaling = "reward_scaler" in state["rollout"]
        if saved_scaling != (self.reward_scaler is not None):
            # MuJoCo's default changed (issue 28): a run left to the default must not switch mid-way
            flag = "--scale-rewards" if saved_scaling else "--no-scale-rewards"
            raise InvalidInputError(
                f"the checkpoint was learned {'with' if saved_scaling else 'without'} reward scaling and "
                f"this run {'does not scale' if saved_scaling else 'scales'} rewards: resume with {flag}"
            )
        self.dataset.load_state_dict(state["dataset"])
        self.critic.load_state_dict(state["critic"])
        self.dataset_optim.load_state_dict(state["dataset_optim"])
        self.critic_optim.load_state_dict(state["critic_optim"])
        self.init_generator.set_state(state["generators"][0])
        self.shuffle_generator.set_state(state["generators"][1])
        set_rng_states(state, self.device)
        if self._collector is not None:
            self._collector.shutdown()
            self._collector = None
        self._paused_rollout = state["rollout"]
        self._running_return = state["rollout"]["running_return"].clone()
        self.meta_epoch, self.frames = state["meta_epoch"], state["frames"]
        self.consecutive_divergences = state["consecutive_divergences"]
        if not isinstance(self.env, BatchedNDCartPole):
            # Emulator and wrapper state (frame stacks, no-op and sticky-action RNGs) live in the
            # worker processes and are not saved: a resumed run starts new episodes, seeded from
            # the meta-epoch so that resuming the same checkpoint twice gives the same run.
            self._running_return.zero_()
            self._paused_rollout = {**state["rollout"], "running_return": self._running_return.clone()}
            if "reward_scaler" in state["rollout"]:  # the statistics go on; the discounted returns restart
                scaler = dict(state["rollout"]["reward_scaler"])
                scaler["returns"] = torch.zeros_like(scaler["returns"])
                self._paused_rollout["reward_scaler"] = scaler
            self.env.set_seed(self.stream_seed + EPOCH_SEED_STRIDE * self.meta_epoch)


class _ActingLearners(nn.Module):
    """The acting policy of a meta-epoch: M one-step learners θ¹ (``params``, stacked), learner
    ``m`` acting on the m-th equal share of the batch's envs (:meth:`GroupedLearners.shares`), on
    the dataset's encoder features."""

    def __init__(self, head: nn.Module, dataset: DistilledDataset):
        super().__init__()
        self.learners = GroupedLearners(head)  # not a module: the head's own parameters are never used
        self.__dict__["dataset"] = dataset
        self.params: Params = {}

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        features = self.dataset.encode(as_float_frames(obs))
        if not self.params:  # direct RL: the encoder is the whole learner
            return features
        return self.learners.shares(self.params, features)


__all__ = ["PPMO", "Rollout"]
