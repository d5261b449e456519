"""``Algorithm``: what an outer algorithm offers the run loop, callbacks, checkpoints, evaluation and
data parallelism, and the parts every algorithm builds alike (its env, its starting dataset).

The run loop (:mod:`taskdistill_rl.run`) calls :meth:`Algorithm.step` until a callback stops it and
checkpoints :meth:`Algorithm.state_dict`; callbacks read ``dataset``, ``meta_epoch``,
``total_frames`` and :meth:`Algorithm.evaluate`; the data-parallel wrapper
(:mod:`taskdistill_rl.distributed`) averages what :meth:`Algorithm.learned_modules` learn and keeps
``stream_keys`` per rank. An algorithm talks to the other ranks only through ``group`` (one process:
:class:`SingleProcess`, where every collective is the identity), so it is written once for both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

from taskdistill_rl.run import SignalFlag

if TYPE_CHECKING:
    from torchrl.envs import EnvBase

    from taskdistill_rl.config import DistillConfig
    from taskdistill_rl.dataset import DistilledDataset


class SingleProcess:
    """The group of a one-process run: every collective is the identity, nothing is aborted
    mid-meta-epoch (a signal lets it finish). :class:`taskdistill_rl.distributed.ProcessGroup` is
    the data-parallel one."""

    rank, size, is_main = 0, 1, True

    def __init__(self):
        self.signals = SignalFlag()

    def mean_gradients(self, finite: torch.Tensor) -> torch.Tensor:
        """Average the learned gradients over the ranks; ``finite``: ``[1]`` bool on the device,
        this rank's loss is finite. Returns ``[finite everywhere, ...]`` flags, still on the device
        (the caller reads them back once, with its own, and hands them to :meth:`check`)."""
        return finite

    def check(self, flags: list[bool]) -> None:
        """Act on the host copy of :meth:`mean_gradients`' flags (a stop requested elsewhere)."""

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's ``tensor`` (the same shape on every rank), in rank order."""
        return [tensor]

    def broadcast_object(self, obj):
        """Rank 0's ``obj`` on every rank."""
        return obj

    def abortable(self):
        """A stretch without collectives that a signal may cut short on a multi-process run."""
        return nullcontext()


class Algorithm(ABC):
    """An outer algorithm: it owns a :class:`DistilledDataset` and improves it one meta-epoch
    (:meth:`step`) at a time. Subclasses are constructed as ``Cls(env, config=..., stream=...)``
    (``stream``: a data-parallel rank's number, 0 for one process) and set ``config``, ``dataset``
    and ``meta_epoch``.

    Class attributes say what the rest of the tool needs to know about it:

    - ``Options``: a dataclass of its own settings (``DistillConfig.algo_options``, ``--algo-option``);
      None when it reads only the shared config.
    - ``metric_fields``: the keys :meth:`step` returns, the columns of ``metrics.csv``.
    - ``flags``: its ``DistillConfig`` fields that ``taskdistill distill`` has a flag for (the
      reproduce command's).
    - ``stream_keys``: the keys of :meth:`state_dict` that are each rank's own (RNGs, rollouts).
    """

    Options: ClassVar[type | None] = None
    metric_fields: ClassVar[tuple[str, ...]] = ()
    flags: ClassVar[dict[str, str]] = {}
    stream_keys: ClassVar[tuple[str, ...]] = ()

    config: DistillConfig
    dataset: DistilledDataset
    meta_epoch: int
    frames: int = 0

    @property
    def group(self):
        """The processes running this algorithm (:class:`SingleProcess` unless a wrapper set one)."""
        if "_group" not in self.__dict__:
            self._group = SingleProcess()
        return self._group

    @group.setter
    def group(self, group) -> None:
        self._group = group

    @property
    def options(self):
        """``config.algo_options`` as this algorithm's ``Options`` (its defaults for what is unset)."""
        return None if self.Options is None else self.Options(**self.config.algo_options)

    @property
    def total_frames(self) -> int:
        """Env frames collected so far by the whole run (every rank's)."""
        return self.frames * self.group.size

    @abstractmethod
    def step(self) -> dict:
        """One meta-epoch; returns its metrics (``metric_fields``), ``meta_epoch`` included."""

    def learned_modules(self) -> list[nn.Module]:
        """What every rank holds equal: broadcast from rank 0 at the start; the gradients of their
        parameters are what :meth:`SingleProcess.mean_gradients` averages."""
        return [self.dataset]

    def evaluate(self, *, n_learners: int, episodes: int, seed: int) -> torch.Tensor:
        """``[n_learners, episodes]`` returns of fresh learners fitted on the current dataset
        (sampled actions, a forked RNG: evaluating never shifts the training's random stream)."""
        from taskdistill_rl.evaluate import evaluate_dataset

        cfg = self.config
        return evaluate_dataset(
            self.dataset,
            env_id=cfg.env,
            env_kwargs=cfg.env_kwargs,
            n_learners=n_learners,
            episodes=episodes,
            seed=seed,
            inner_steps=cfg.inner_steps,
            device=cfg.device,
            backend=cfg.env_backend,
        )

    @abstractmethod
    def state_dict(self) -> dict:
        """Everything that decides what is learned next, as plain tensors and primitives
        (``torch.load(weights_only=True)`` reads a checkpoint)."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None: ...

    def close(self) -> None:  # noqa: B027 (most algorithms hold no workers)
        """Release workers; a later :meth:`step` may start them again."""


def training_env(env: str | EnvBase, config: DistillConfig, *, device: torch.device, seed: int) -> EnvBase:
    """The batched env an algorithm trains in: ``env`` itself, or ``config.env`` made with
    ``config.num_envs`` copies. ND cart-pole's physics is torch and steps on the run's device;
    gymnasium envs step on the CPU and hand over pinned tensors to copy without blocking, in
    ``config.env_workers`` processes where the family forks its rollouts (default: every core)."""
    from torchrl.envs import EnvBase

    from taskdistill_rl.devices import pinned_outputs
    from taskdistill_rl.env_workers import worker_count
    from taskdistill_rl.envs import make_env
    from taskdistill_rl.envs.families import family_of
    from taskdistill_rl.errors import InvalidInputError

    if not isinstance(env, EnvBase):
        family = family_of(config.env)
        torch_env = family.torch_physics
        workers = config.env_workers
        if workers is None:
            workers = worker_count(config.num_envs) if family.forks_rollouts else 1
        env = make_env(
            config.env,
            num_envs=config.num_envs,
            device=device if torch_env else "cpu",
            seed=seed,
            backend=config.env_backend,
            workers=workers,
            **config.env_kwargs,
        )
        if not torch_env:
            env = pinned_outputs(env, device)
    if len(env.batch_size) != 1:
        raise InvalidInputError(
            f"the env must be batched with batch_size [num_envs], got {tuple(env.batch_size)}"
        )
    return env


def starting_dataset(
    env: EnvBase, config: DistillConfig, *, named: bool
) -> tuple[DistillConfig, DistilledDataset]:
    """The dataset a run starts from (drawn from ``config.seed``), and the config with what the
    env decides filled in: k (k_min or 64), observation normalisation (MuJoCo's default).
    ``named``: the env was made from ``config.env`` (its family's conventions apply)."""
    from taskdistill_rl.compat import env_actions
    from taskdistill_rl.dataset import DistilledDataset
    from taskdistill_rl.envs.builders import describe_preprocessing
    from taskdistill_rl.envs.families import family_of

    kind, n_out = env_actions(env)
    continuous = kind == "continuous"
    config = config.with_k(n_out, continuous)
    family = family_of(config.env) if named else None
    if config.normalize_obs is None:  # the family's default (MuJoCo's: PPO's practice); frozen into the file
        config = replace(config, normalize_obs=family is not None and family.normalize_obs)
    obs_shape = tuple(env.observation_spec["observation"].shape[1:])
    meta = {
        "env_id": config.env,
        "env_kwargs": dict(config.env_kwargs),
        "preprocessing": describe_preprocessing(env),
        "preset": config.preset,
        "inner_steps": config.inner_steps,
    }
    if config.algo != "ppmo":  # a file without "algo" (every file before it) is PPMO's
        del meta["preset"]
        meta["algo"] = config.algo
    if family is not None and family.file_meta is not None:
        backend = getattr(env, "env_backend", config.env_backend)
        meta.update(family.file_meta(config.env, dict(config.env_kwargs), backend))
    dataset = DistilledDataset(
        k=config.k,
        obs_shape=obs_shape,
        out_features=n_out,
        continuous=continuous,
        normalize_obs=config.normalize_obs,
        learner=_learner_spec(config.learner, obs_shape, n_out),
        encoder_layers=config.encoder_layers,
        meta=meta,
        generator=torch.Generator().manual_seed(config.seed),
    )
    return config, dataset


def _learner_spec(name: str | None, obs_shape: tuple[int, ...], n_out: int) -> dict | None:
    """The file's learner ``{"name", "kwargs"}`` for ``DistillConfig.learner`` (None: the paper's).
    One architecture only: a meta-epoch acts with one network shape for all its initialisations."""
    from taskdistill_rl.errors import InvalidInputError
    from taskdistill_rl.learners import RandomMLPLearners, make_learners

    if name is None:
        return None
    learners = make_learners(name, obs_shape=tuple(obs_shape), out_features=n_out)
    if isinstance(learners, RandomMLPLearners):
        raise InvalidInputError(
            f"learner {name!r} draws random architectures; a file is distilled for one architecture: "
            "choose a fixed one (e.g. lambda, xavier, 2x128) and evaluate on random ones with "
            "taskdistill evaluate --learners"
        )
    return learners.spec()


__all__ = ["Algorithm", "SingleProcess", "starting_dataset", "training_env"]
